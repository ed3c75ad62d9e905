// Package exporter_test runs flux-operator-exporter against the real test
// control plane, as a user bound to exactly the generated RBAC, and checks
// what its /metrics endpoint serves.
package exporter_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/exportertest"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const (
	// runtimeNS is where the FluxInstance and the FluxReport live.
	runtimeNS = "flux-system"
	// goldenNS holds a fixed set of Flux objects of every kind.
	goldenNS = "metrics-golden"
	// exporterUser is who the exporter runs as: bound to config/rbac/exporter.
	exporterUser = "system:serviceaccount:flux-system:flux-operator-exporter"
	allowlist    = "team"
)

var (
	env      *testenv.Env
	exporter *exportertest.Exporter
	update   = flag.Bool("update", false, "rewrite golden files")
)

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, func(e *testenv.Env) error {
		env = e
		ctx := context.Background()
		for _, ns := range []string{runtimeNS, goldenNS} {
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return err
			}
		}
		cr, role, err := testenv.GeneratedRBAC("exporter")
		if err != nil {
			return err
		}
		if err := testenv.Bind(ctx, env.Client, exporterUser, runtimeNS, cr, role); err != nil {
			return err
		}
		if err := createGoldenFixture(ctx); err != nil {
			return err
		}
		cfg, err := env.UserConfig(exporterUser)
		if err != nil {
			return err
		}
		exporter, err = exportertest.Start(cfg, runtimeNS, allowlist)
		if err != nil {
			return err
		}
		env.OnStop(func() {
			if err := exporter.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "exporter stopped with an error:", err)
			}
		})
		return exporter.WaitReady(60 * time.Second)
	})
}

// goldenObjects are created once in goldenNS: every kind with its own labels,
// ready, failing, progressing, suspended and static objects.
func goldenObjects() []struct {
	kind fixtures.Kind
	name string
	opts []fixtures.Option
} {
	ok := fixtures.Ready("True", "Succeeded", "stored artifact")
	team := func(t string) fixtures.Option {
		return fixtures.Labels(map[string]string{"team": t, "cost-center": "42"})
	}
	type obj = struct {
		kind fixtures.Kind
		name string
		opts []fixtures.Option
	}
	return []obj{
		{fixtures.GitRepository, "fleet", []fixtures.Option{ok, fixtures.Artifact(100), team("platform"),
			fixtures.Spec("https://x-access-token:s3cret@github.com/example/fleet.git?token=abc", "url")}},
		{fixtures.OCIRepository, "manifests", []fixtures.Option{team("platform"),
			fixtures.Ready("False", "OCIArtifactPullFailed", "failed to pull"),
			fixtures.Spec(map[string]any{"tag": "latest", "semver": ">=1.0.0"}, "ref")}},
		{fixtures.Bucket, "assets", []fixtures.Option{ok, fixtures.Suspended(), fixtures.Artifact(200)}},
		{fixtures.HelmRepository, "charts", []fixtures.Option{ok, fixtures.Artifact(300)}},
		{fixtures.HelmRepository, "oci-charts", []fixtures.Option{fixtures.Spec("oci", "type"),
			fixtures.Spec("oci://ghcr.io/example/charts", "url")}},
		{fixtures.HelmChart, "podinfo", []fixtures.Option{ok, fixtures.Status("6.5.0", "artifact", "revision"),
			fixtures.Status("podinfo-6.5.0.tgz", "artifact", "path"), fixtures.Status("http://sc/podinfo.tgz", "artifact", "url"),
			fixtures.Status("2026-01-01T00:00:00Z", "artifact", "lastUpdateTime"), fixtures.Status("sha256:0123", "artifact", "digest")}},
		{fixtures.Kustomization, "apps", []fixtures.Option{team("payments"),
			fixtures.Ready("False", "BuildFailed", "kustomize build failed"),
			fixtures.Status("main@sha1:0123456789abcdef", "lastAttemptedRevision")}},
		{fixtures.Kustomization, "infra", []fixtures.Option{team("platform"),
			fixtures.Ready("False", "HealthCheckFailed", "timeout"),
			fixtures.Status("main@sha1:0123456789abcdef", "lastAttemptedRevision"),
			fixtures.Status("main@sha1:fedcba9876543210", "lastAppliedRevision")}},
		{fixtures.Kustomization, "waiting", []fixtures.Option{fixtures.Ready("False", "DependencyNotReady", "waiting on infra")}},
		{fixtures.HelmRelease, "podinfo", []fixtures.Option{ok, team("payments"), fixtures.Status("6.5.0", "lastAttemptedRevision")}},
		{fixtures.Receiver, "github", []fixtures.Option{ok, fixtures.Status("/hook/0123abcd", "webhookPath")}},
		{fixtures.ImageRepository, "app", []fixtures.Option{ok}},
		{fixtures.ImagePolicy, "app", []fixtures.Option{fixtures.Ready("Unknown", "Progressing", "reconciling")}},
		{fixtures.ImageUpdateAutomation, "fleet", []fixtures.Option{ok}},
		{fixtures.Alert, "slack", nil},
		{fixtures.Provider, "slack", nil},
	}
}

func createGoldenFixture(ctx context.Context) error {
	for _, o := range goldenObjects() {
		if _, err := o.kind.Create(ctx, env.Client, goldenNS, o.name, o.opts...); err != nil {
			return err
		}
	}
	return nil
}

// reportKinds are the kinds the test FluxReport counts, as the reporter would
// list them, plus the FluxInstance kind the exporter must skip.
var reportKinds = []fixtures.Kind{
	fixtures.GitRepository, fixtures.OCIRepository, fixtures.Bucket, fixtures.HelmRepository, fixtures.HelmChart,
	fixtures.Kustomization, fixtures.HelmRelease, fixtures.Receiver, fixtures.ImageRepository, fixtures.ImagePolicy,
	fixtures.ImageUpdateAutomation, fixtures.Alert, fixtures.Provider,
}

var (
	touchMu   sync.Mutex
	lastTouch time.Time
)

// touchReport writes the FluxReport as the reporter does after a full report,
// with its Ready condition at a time later than any before, waits until the
// exporter has refreshed from it, and returns that time.
func touchReport(t *testing.T, edit ...func(*apiv1.FluxReport)) time.Time {
	t.Helper()
	return writeReport(t, metav1.ConditionTrue, edit...)
}

// writeReport is touchReport with the Ready status of the report: False for
// a partial report.
func writeReport(t *testing.T, ready metav1.ConditionStatus, edit ...func(*apiv1.FluxReport)) time.Time {
	t.Helper()
	return writeReportWithin(t, 30*time.Second, ready, edit...)
}

// writeReportWithin is writeReport waiting up to timeout for the exporter's
// refresh.
func writeReportWithin(t *testing.T, timeout time.Duration, ready metav1.ConditionStatus, edit ...func(*apiv1.FluxReport)) time.Time {
	t.Helper()
	touchMu.Lock()
	at := time.Now().Truncate(time.Second)
	if !at.After(lastTouch) {
		at = lastTouch.Add(time.Second)
	}
	lastTouch = at
	touchMu.Unlock()

	ctx := context.Background()
	fr := &apiv1.FluxReport{}
	key := client.ObjectKey{Namespace: runtimeNS, Name: apiv1.DefaultName}
	err := env.Client.Get(ctx, key, fr)
	if apierrors.IsNotFound(err) {
		fr = &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Namespace: runtimeNS, Name: apiv1.DefaultName}}
		fr.Spec.Distribution = apiv1.FluxDistributionStatus{Entitlement: "Unknown", Status: apiv1.DistributionInstalled, Version: "v2.9.5"}
		require.NoError(t, env.Client.Create(ctx, fr))
	} else {
		require.NoError(t, err)
	}
	fr.Spec.ReconcilersStatus = nil
	for _, k := range reportKinds {
		fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus, apiv1.FluxReconcilerStatus{
			APIVersion: k.GVK.GroupVersion().String(), Kind: k.GVK.Kind})
	}
	fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus, apiv1.FluxReconcilerStatus{
		APIVersion: apiv1.GroupVersion.String(), Kind: apiv1.FluxInstanceKind})
	for _, e := range edit {
		e(fr)
	}
	require.NoError(t, env.Client.Update(ctx, fr))
	reason := apiv1.ReconciliationSucceededReason
	if ready != metav1.ConditionTrue {
		reason = apiv1.ReportPartialReason
	}
	fr.Status.Conditions = []metav1.Condition{{Type: apiv1.ReadyCondition, Status: ready,
		Reason: reason, Message: "Reporting finished", LastTransitionTime: metav1.NewTime(at)}}
	require.NoError(t, env.Client.Status().Update(ctx, fr))
	want := fmt.Sprint(float64(at.Unix()))
	scrapeWithin(t, timeout, func(text string) error {
		s := series(t, text, "flux_report_timestamp_seconds", nil)
		if len(s) != 1 || s[0]["__value__"] != want {
			return fmt.Errorf("waiting for flux_report_timestamp_seconds %s, have %v", want, s)
		}
		return nil
	})
	return at
}

// scrapeUntil scrapes /metrics until cond passes and returns that scrape.
func scrapeUntil(t *testing.T, cond func(text string) error) string {
	t.Helper()
	return scrapeWithin(t, 30*time.Second, cond)
}

// scrapeWithin is scrapeUntil with a timeout.
func scrapeWithin(t *testing.T, timeout time.Duration, cond func(text string) error) string {
	t.Helper()
	var text string
	err := testenv.Eventually(context.Background(), timeout, func(context.Context) error {
		var err error
		if text, err = exporter.Scrape(); err != nil {
			return err
		}
		return cond(text)
	})
	require.NoError(t, err)
	return text
}

// series parses an exposition and returns the label sets of name's series
// that carry every label in match, each with its value (a gauge's, a
// counter's or an untyped metric's) under "__value__".
func series(t *testing.T, text, name string, match map[string]string) []map[string]string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err)
	var out []map[string]string
	for _, s := range testenv.Samples(families[name], match) {
		s.Labels["__value__"] = fmt.Sprint(s.Value)
		out = append(out, s.Labels)
	}
	return out
}

// createFlux creates a Flux object and deletes it when the test ends.
func createFlux(t *testing.T, k fixtures.Kind, ns, name string, opts ...fixtures.Option) *unstructured.Unstructured {
	t.Helper()
	o, err := k.Create(context.Background(), env.Client, ns, name, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	return o
}

// refreshUntil updates the report, as the reporter does, until the scrape
// after the refresh satisfies cond (an object created just before may reach
// the exporter's cache after the report does), and returns that scrape.
func refreshUntil(t *testing.T, cond func(text string) error) string {
	t.Helper()
	var text string
	refreshes := 0
	err := testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		touchReport(t)
		refreshes++
		var err error
		if text, err = exporter.Scrape(); err != nil {
			return err
		}
		return cond(text)
	})
	require.NoError(t, err, "after %d report updates", refreshes)
	return text
}
