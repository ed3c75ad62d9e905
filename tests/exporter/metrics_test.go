package exporter_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var uidLabel = regexp.MustCompile(`uid="[^"]*"`)

// goldenExposition keeps, from a scrape, the HELP, TYPE and series lines of
// the resource metrics in goldenNS, with the random UIDs masked.
func goldenExposition(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		isFamily := strings.HasPrefix(line, "# HELP flux_resource_") || strings.HasPrefix(line, "# TYPE flux_resource_")
		isSeries := strings.HasPrefix(line, "flux_resource_") && strings.Contains(line, `exported_namespace="`+goldenNS+`"`)
		if isFamily || isSeries {
			out = append(out, uidLabel.ReplaceAllString(line, `uid="<uid>"`))
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func TestGoldenExposition(t *testing.T) {
	want := len(goldenObjects())
	text := refreshUntil(t, func(text string) error {
		if n := len(series(t, text, "flux_resource_info", map[string]string{"exported_namespace": goldenNS})); n != want {
			return fmt.Errorf("%d flux_resource_info series in %s, want %d", n, goldenNS, want)
		}
		return nil
	})
	got := goldenExposition(text)
	path := filepath.Join("testdata", "metrics.golden.prom")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	golden, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(golden), got, "run `go test ./exporter/ -run TestGoldenExposition -update` and review the diff")

	// The UIDs are the objects' own.
	for _, o := range goldenObjects() {
		u, _ := o.kind.Object(goldenNS, o.name)
		require.NoError(t, env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u))
		s := series(t, text, "flux_resource_info", map[string]string{"exported_namespace": goldenNS,
			"kind": o.kind.GVK.Kind, "name": o.name})
		require.Len(t, s, 1, "%s/%s", o.kind.GVK.Kind, o.name)
		assert.Equal(t, string(u.GetUID()), s[0]["uid"], "%s/%s uid", o.kind.GVK.Kind, o.name)
	}
	// Credentials in URLs never reach a label.
	assert.NotContains(t, text, "s3cret")
	assert.NotContains(t, text, "token=abc")
	// Labels outside the allowlist are not copied.
	assert.NotContains(t, text, "cost")
}

func TestSeriesFollowReportUpdates(t *testing.T) {
	ns := env.NewNamespace(t, "refresh")
	inNS := map[string]string{"exported_namespace": ns}
	touchReport(t)

	created := createFlux(t, fixtures.Kustomization, ns, "late", fixtures.Ready("False", "BuildFailed", "boom"))
	// Once the object is in the exporter's cache, only a report update makes
	// its series appear.
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(ctx context.Context) error {
		u := created.DeepCopy()
		return exporter.Cache.Get(ctx, client.ObjectKeyFromObject(u), u)
	}))
	text, err := exporter.Scrape()
	require.NoError(t, err)
	assert.Empty(t, series(t, text, "flux_resource_info", inNS), "series appeared without a report update")

	text = refreshUntil(t, func(text string) error {
		if len(series(t, text, "flux_resource_info", inNS)) != 1 {
			return fmt.Errorf("waiting for the Kustomization's series")
		}
		return nil
	})
	s := series(t, text, "flux_resource_info", inNS)[0]
	assert.Equal(t, "False", s["ready"])
	assert.Equal(t, "BuildFailed", s["reason"])
	nr := series(t, text, "flux_resource_not_ready_timestamp_seconds", inNS)
	require.Len(t, nr, 1)
	failedAt := nr[0]["__value__"]

	// A retry flips Ready to Unknown with a new transition time: the
	// resource has still been not ready since its first failure.
	var k = fixtures.Kustomization
	obj, _ := k.Object(ns, "late")
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj))
	obj.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "Unknown",
		"reason": "Progressing", "message": "retrying", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}
	require.NoError(t, env.Client.Status().Update(context.Background(), obj))
	text = refreshUntil(t, func(text string) error {
		if s := series(t, text, "flux_resource_info", inNS); len(s) != 1 || s[0]["ready"] != "Unknown" {
			return fmt.Errorf("waiting for ready=Unknown, have %v", s)
		}
		return nil
	})
	nr = series(t, text, "flux_resource_not_ready_timestamp_seconds", inNS)
	require.Len(t, nr, 1)
	assert.Equal(t, failedAt, nr[0]["__value__"], "not ready since the first failure, across the retry")

	// Recovery: the not-ready series goes, the info series turns True.
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj))
	obj.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True",
		"reason": "ReconciliationSucceeded", "message": "ok", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}
	require.NoError(t, env.Client.Status().Update(context.Background(), obj))
	text = refreshUntil(t, func(text string) error {
		s := series(t, text, "flux_resource_info", inNS)
		if len(s) != 1 || s[0]["ready"] != "True" {
			return fmt.Errorf("waiting for ready=True, have %v", s)
		}
		return nil
	})
	assert.Empty(t, series(t, text, "flux_resource_not_ready_timestamp_seconds", inNS))

	// Deletion: the series stays until the next report, then disappears.
	require.NoError(t, env.Client.Delete(context.Background(), obj))
	refreshUntil(t, func(text string) error {
		if s := series(t, text, "flux_resource_info", inNS); len(s) != 0 {
			return fmt.Errorf("deleted object still has series %v", s)
		}
		return nil
	})
}

func TestReportGauges(t *testing.T) {
	at := touchReport(t, func(fr *apiv1.FluxReport) {
		for i := range fr.Spec.ReconcilersStatus {
			if fr.Spec.ReconcilersStatus[i].Kind == "Kustomization" {
				fr.Spec.ReconcilersStatus[i].Stats = apiv1.FluxReconcilerStats{Running: 7, Failing: 2, Suspended: 1}
			}
		}
		fr.Spec.ComponentsStatus = []apiv1.FluxComponentStatus{
			{Name: "source-controller", Image: "ghcr.io/fluxcd/source-controller:v1.9.5", Ready: true, Status: "Current"},
			{Name: "kustomize-controller", Image: "ghcr.io/fluxcd/kustomize-controller:v1.9.5", Ready: false, Status: "InProgress"},
		}
		fr.Spec.SyncStatus = &apiv1.FluxSyncStatus{ID: "kustomization/flux-system", Ready: true, Status: "Applied"}
	})
	text, err := exporter.Scrape()
	require.NoError(t, err)
	value := func(name string, match map[string]string) string {
		t.Helper()
		s := series(t, text, name, match)
		require.Len(t, s, 1, "%s%v", name, match)
		return s[0]["__value__"]
	}
	assert.Equal(t, fmt.Sprint(float64(at.Unix())), value("flux_report_timestamp_seconds", nil))
	assert.Equal(t, "1", value("flux_report_ready", nil))
	assert.Equal(t, "7", value("flux_report_reconcilers", map[string]string{"kind": "Kustomization", "state": "running"}))
	assert.Equal(t, "2", value("flux_report_reconcilers", map[string]string{"kind": "Kustomization", "state": "failing"}))
	assert.Equal(t, "1", value("flux_report_reconcilers", map[string]string{"kind": "Kustomization", "state": "suspended"}))
	// Always present: a kind with nothing failing says 0.
	assert.Equal(t, "0", value("flux_report_reconcilers", map[string]string{"kind": "Receiver", "state": "failing"}))
	assert.Equal(t, "1", value("flux_report_component_ready", map[string]string{"component": "source-controller"}))
	assert.Equal(t, "0", value("flux_report_component_ready", map[string]string{"component": "kustomize-controller"}))
	assert.Equal(t, "1", value("flux_report_sync_ready", map[string]string{"id": "kustomization/flux-system"}))
	assert.Equal(t, "1", value("flux_report_distribution_info", map[string]string{"version": "v2.9.5", "status": "Installed"}))
	// The build of the exporter, as the Flux Operator's dashboards read it.
	assert.Equal(t, "1", value("flux_operator_info", map[string]string{
		"api_version": "fluxcd.controlplane.io/v1", "version": bootstrap.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}))
	// The operator's own kind is counted by the report, not listed as Flux resources.
	assert.Len(t, series(t, text, "flux_report_reconcilers", map[string]string{"kind": "FluxInstance"}), 3)
	assert.Empty(t, series(t, text, "flux_resource_info", map[string]string{"kind": "FluxInstance"}))
}

func TestInstanceInfo(t *testing.T) {
	ctx := context.Background()
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: apiv1.DefaultName, Namespace: runtimeNS},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}}}
	require.NoError(t, env.Client.Create(ctx, fi))
	t.Cleanup(func() { _ = env.Client.Delete(ctx, fi) })
	instance := map[string]string{"kind": "FluxInstance", "name": "flux", "exported_namespace": runtimeNS}

	waitInstance := func(want map[string]string) {
		t.Helper()
		scrapeUntil(t, func(text string) error {
			s := series(t, text, "flux_instance_info", instance)
			if len(s) != 1 {
				return fmt.Errorf("%d flux_instance_info series, want 1: %v", len(s), s)
			}
			for k, v := range want {
				if s[0][k] != v {
					return fmt.Errorf("%s=%q, want %q in %v", k, s[0][k], v, s[0])
				}
			}
			return nil
		})
	}
	// Just created: no status yet.
	waitInstance(map[string]string{"uid": string(fi.UID), "ready": "Unknown", "reason": "", "suspended": "False",
		"registry": "ghcr.io/fluxcd", "revision": "", "__value__": "1"})

	// The installer reports a failed upgrade: the applied revision stays.
	fi.Status.Conditions = []metav1.Condition{{Type: apiv1.ReadyCondition, Status: metav1.ConditionFalse,
		Reason: "HealthCheckFailed", Message: "timeout", LastTransitionTime: metav1.Now()}}
	fi.Status.LastAttemptedRevision = "v2.9.5@sha256:new"
	fi.Status.LastAppliedRevision = "v2.9.4@sha256:old"
	require.NoError(t, env.Client.Status().Update(ctx, fi))
	waitInstance(map[string]string{"ready": "False", "reason": "HealthCheckFailed", "revision": "v2.9.4@sha256:old"})

	// Then succeeds.
	fi.Status.Conditions[0].Status, fi.Status.Conditions[0].Reason = metav1.ConditionTrue, "ReconciliationSucceeded"
	fi.Status.LastAppliedRevision = fi.Status.LastAttemptedRevision
	require.NoError(t, env.Client.Status().Update(ctx, fi))
	waitInstance(map[string]string{"ready": "True", "reason": "ReconciliationSucceeded", "revision": "v2.9.5@sha256:new"})

	// Suspended with the reconcile annotation.
	fi.Annotations = map[string]string{apiv1.ReconcileAnnotation: apiv1.DisabledValue}
	require.NoError(t, env.Client.Update(ctx, fi))
	waitInstance(map[string]string{"suspended": "True", "ready": "True"})

	// Deleted: the series disappears.
	require.NoError(t, env.Client.Delete(ctx, fi))
	scrapeUntil(t, func(text string) error {
		if s := series(t, text, "flux_instance_info", nil); len(s) != 0 {
			return fmt.Errorf("series of the deleted instance: %v", s)
		}
		return nil
	})
}

// TestPromtoolCheckMetrics runs Prometheus' own linter on the whole /metrics
// output, runtime metrics included, and checks the runtime metrics the
// documentation promises.
func TestPromtoolCheckMetrics(t *testing.T) {
	touchReport(t)
	text, err := exporter.Scrape()
	require.NoError(t, err)
	promtool := lookPath(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	assert.NoError(t, err, "promtool check metrics:\n%s", out.String())
	assert.Empty(t, strings.TrimSpace(out.String()), "promtool check metrics reported problems")

	for _, name := range []string{
		"controller_runtime_reconcile_errors_total", "rest_client_requests_total", "go_memstats_alloc_bytes",
		"go_goroutines", "workqueue_longest_running_processor_seconds",
	} {
		assert.NotEmpty(t, series(t, text, name, nil), "%s is served", name)
	}
	for _, c := range []string{"flux-metrics-report", "flux-metrics-instance"} {
		assert.Len(t, series(t, text, "controller_runtime_reconcile_errors_total", map[string]string{"controller": c}), 1,
			"reconcile errors of controller %s", c)
	}
	rest := series(t, text, "rest_client_requests_total", map[string]string{"method": "GET", "code": "200"})
	assert.NotEmpty(t, rest, "rest_client_requests_total{code, method}")
}

// TestExporterOnlyReads asks the API server what the exporter's generated
// RBAC allows: reads of what it serves, no writes at all.
func TestExporterOnlyReads(t *testing.T) {
	ctx := context.Background()
	allowed := func(verb, group, resource, ns string) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: exporterUser,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: group, Resource: resource, Namespace: ns},
		}}
		require.NoError(t, env.Client.Create(ctx, sar))
		return sar.Status.Allowed
	}
	for _, r := range []struct{ group, resource, ns string }{
		{"kustomize.toolkit.fluxcd.io", "kustomizations", "apps"},
		{"source.toolkit.fluxcd.io", "gitrepositories", "apps"},
		{"helm.toolkit.fluxcd.io", "helmreleases", ""},
		{"fluxcd.controlplane.io", "fluxreports", runtimeNS},
		{"fluxcd.controlplane.io", "fluxinstances", runtimeNS},
	} {
		for _, verb := range []string{"get", "list", "watch"} {
			assert.True(t, allowed(verb, r.group, r.resource, r.ns), "%s %s may %s", exporterUser, r.resource, verb)
		}
		for _, verb := range []string{"create", "update", "patch", "delete"} {
			assert.False(t, allowed(verb, r.group, r.resource, r.ns), "%s %s must not %s", exporterUser, r.resource, verb)
		}
	}
	for _, verb := range []string{"create", "update", "patch", "delete"} {
		assert.False(t, allowed(verb, "coordination.k8s.io", "leases", runtimeNS), "the exporter takes no Lease: must not %s leases", verb)
		assert.False(t, allowed(verb, "", "events", runtimeNS), "the exporter records no events: must not %s events", verb)
	}
	for _, r := range []struct{ group, resource, ns string }{
		{"", "secrets", runtimeNS},
		{"fluxcd.controlplane.io", "fluxreports", "apps"},
		{"apiextensions.k8s.io", "customresourcedefinitions", ""},
	} {
		assert.False(t, allowed("get", r.group, r.resource, r.ns), "%s must not read %s in %q", exporterUser, r.resource, r.ns)
	}
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	require.NoError(t, err, "%s is needed: install the Debian package prometheus (`make prometheus` does; `make test` runs it)", name)
	return p
}

// TestScrapesNeverSeeAHalfBuiltSet scrapes while the report is updated over
// and over: every scrape has the whole set of the golden namespace. Each
// update carries its own Ready time, one second after the last, so the
// flux_report_timestamp_seconds of a scrape names the report generation it
// was built from: the scrapes must see several generations, in order, to
// prove that they overlapped the refreshes.
func TestScrapesNeverSeeAHalfBuiltSet(t *testing.T) {
	const updates = 30
	want := len(goldenObjects())
	refreshUntil(t, func(text string) error {
		if n := len(series(t, text, "flux_resource_info", map[string]string{"exported_namespace": goldenNS})); n != want {
			return fmt.Errorf("%d series, want %d", n, want)
		}
		return nil
	})
	// The seconds after the last touch are this test's: later touches come
	// after them.
	touchMu.Lock()
	base := lastTouch
	lastTouch = base.Add(updates * time.Second)
	touchMu.Unlock()
	last := fmt.Sprint(float64(base.Add(updates * time.Second).Unix()))

	ctx := context.Background()
	key := client.ObjectKey{Namespace: runtimeNS, Name: apiv1.DefaultName}
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= updates; i++ {
			var fr apiv1.FluxReport
			if err := env.Client.Get(ctx, key, &fr); err != nil {
				done <- err
				return
			}
			fr.Status.Conditions[0].Message = fmt.Sprintf("update %d", i)
			fr.Status.Conditions[0].LastTransitionTime = metav1.NewTime(base.Add(time.Duration(i) * time.Second))
			if err := env.Client.Status().Update(ctx, &fr); err != nil {
				done <- fmt.Errorf("update %d: %w", i, err)
				return
			}
			// Room for scrapes between two updates.
			time.Sleep(20 * time.Millisecond)
		}
		done <- nil
	}()

	// Scrape until the updates are done and the last one is served.
	var generations []float64
	scrapes, updating := 0, true
	deadline := time.Now().Add(30 * time.Second)
	for ; ; scrapes++ {
		require.True(t, time.Now().Before(deadline), "the last update is not served after 30s; generations seen: %v", generations)
		if updating {
			select {
			case err := <-done:
				require.NoError(t, err)
				updating = false
			default:
			}
		}
		text, err := exporter.Scrape()
		require.NoError(t, err)
		n := len(series(t, text, "flux_resource_info", map[string]string{"exported_namespace": goldenNS}))
		require.Equal(t, want, n, "scrape %d saw a partial set", scrapes)
		ts := series(t, text, "flux_report_timestamp_seconds", nil)
		require.Len(t, ts, 1, "scrape %d", scrapes)
		v, err := strconv.ParseFloat(ts[0]["__value__"], 64)
		require.NoError(t, err)
		if k := len(generations); k == 0 || generations[k-1] != v {
			require.True(t, k == 0 || v > generations[k-1],
				"scrape %d went back to an older report: %v after %v", scrapes, v, generations)
			generations = append(generations, v)
		}
		if !updating && ts[0]["__value__"] == last {
			break
		}
	}
	t.Logf("%d scrapes during %d report updates, all complete; %d report generations seen", scrapes+1, updates, len(generations))
	assert.GreaterOrEqual(t, len(generations), 5, "the scrapes did not overlap the updates: generations %v", generations)
	assert.LessOrEqual(t, len(generations), updates+1)
}

// TestPartialReportKeepsSeries: a kind the reporter could not list is missing
// from a partial report; its series stay until a full report leaves it out.
func TestPartialReportKeepsSeries(t *testing.T) {
	ns := env.NewNamespace(t, "partial")
	inNS := map[string]string{"exported_namespace": ns, "kind": "Bucket"}
	createFlux(t, fixtures.Bucket, ns, "assets", fixtures.Ready("True", "Succeeded", "ok"))
	refreshUntil(t, func(text string) error {
		if len(series(t, text, "flux_resource_info", inNS)) != 1 {
			return fmt.Errorf("waiting for the Bucket's series")
		}
		return nil
	})
	withoutBuckets := func(fr *apiv1.FluxReport) {
		fr.Spec.ReconcilersStatus = slices.DeleteFunc(fr.Spec.ReconcilersStatus,
			func(r apiv1.FluxReconcilerStatus) bool { return r.Kind == "Bucket" })
	}
	t.Cleanup(func() { touchReport(t) })

	writeReport(t, metav1.ConditionFalse, withoutBuckets)
	text, err := exporter.Scrape()
	require.NoError(t, err)
	assert.Len(t, series(t, text, "flux_resource_info", inNS), 1, "a partial report keeps the series of kinds it left out")
	assert.Equal(t, "0", series(t, text, "flux_report_ready", nil)[0]["__value__"])

	touchReport(t, withoutBuckets)
	text, err = exporter.Scrape()
	require.NoError(t, err)
	assert.Empty(t, series(t, text, "flux_resource_info", inNS), "a full report without the kind drops its series")
}

// TestKindWhoseListFailsKeepsItsSeries: when the exporter cannot list one
// kind the report names, a refresh keeps that kind's last series, refreshes
// the other kinds and counts the failure in
// controller_runtime_reconcile_errors_total; when the list works again the
// kind refreshes too.
func TestKindWhoseListFailsKeepsItsSeries(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "listfails")
	buckets := map[string]string{"exported_namespace": ns, "kind": "Bucket"}
	kustomizations := map[string]string{"exported_namespace": ns, "kind": "Kustomization"}
	createFlux(t, fixtures.Bucket, ns, "assets", fixtures.Ready("True", "Succeeded", "ok"))
	text := refreshUntil(t, func(text string) error {
		if len(series(t, text, "flux_resource_info", buckets)) != 1 {
			return fmt.Errorf("waiting for the Bucket's series")
		}
		return nil
	})
	before := series(t, text, "flux_resource_info", buckets)[0]
	reconcileErrors := func(text string) float64 {
		t.Helper()
		s := series(t, text, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "flux-metrics-report"})
		require.Len(t, s, 1)
		v, err := strconv.ParseFloat(s[0]["__value__"], 64)
		require.NoError(t, err)
		return v
	}
	errorsBefore := reconcileErrors(text)

	// The exporter's ClusterRole loses Buckets: the source group's other
	// kinds stay readable.
	var cr rbacv1.ClusterRole
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "flux-operator-exporter"}, &cr))
	original := cr.DeepCopy().Rules
	restore := func() {
		t.Helper()
		var cr rbacv1.ClusterRole
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "flux-operator-exporter"}, &cr))
		cr.Rules = original
		require.NoError(t, env.Client.Update(ctx, &cr))
	}
	t.Cleanup(func() { restore(); touchReport(t) })
	for i := range cr.Rules {
		cr.Rules[i].APIGroups = slices.DeleteFunc(cr.Rules[i].APIGroups, func(g string) bool { return g == "source.toolkit.fluxcd.io" })
	}
	cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{"source.toolkit.fluxcd.io"},
		Resources: []string{"gitrepositories", "ocirepositories", "helmrepositories", "helmcharts"},
		Verbs:     []string{"get", "list", "watch"}})
	require.NoError(t, env.Client.Update(ctx, &cr))
	require.NoError(t, testenv.Eventually(ctx, 10*time.Second, func(context.Context) error {
		if canList(t, "source.toolkit.fluxcd.io", "buckets") || !canList(t, "source.toolkit.fluxcd.io", "gitrepositories") {
			return fmt.Errorf("the RBAC change is not effective yet")
		}
		return nil
	}))
	// A running informer keeps serving what it has when the permission goes
	// (its watch stays open). The exporter drops a kind's informer itself
	// after a failed read, and a restarted cache has none: drop it here as
	// that does, so the next refresh must list Buckets from the API server.
	bucket, _ := fixtures.Bucket.Object(ns, "assets")
	require.NoError(t, exporter.Cache.RemoveInformer(ctx, bucket))

	// Another kind changes meanwhile.
	fresh := createFlux(t, fixtures.Kustomization, ns, "fresh", fixtures.Ready("False", "BuildFailed", "boom"))
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		u := fresh.DeepCopy()
		return exporter.Cache.Get(ctx, client.ObjectKeyFromObject(u), u)
	}))

	// The refresh waits for the new Bucket informer, which cannot list, up to
	// fluxobj.ListTimeout (30s), then serves the report.
	start := time.Now()
	writeReportWithin(t, 90*time.Second, metav1.ConditionTrue)
	t.Logf("the refresh with a failing kind took %s", time.Since(start).Round(time.Millisecond))
	text, err := exporter.Scrape()
	require.NoError(t, err)
	kept := series(t, text, "flux_resource_info", buckets)
	require.Len(t, kept, 1, "the Bucket's series is kept when its list fails")
	assert.Equal(t, before, kept[0], "the kept series is the last one built")
	refreshed := series(t, text, "flux_resource_info", kustomizations)
	require.Len(t, refreshed, 1, "the other kinds are refreshed")
	assert.Equal(t, "fresh", refreshed[0]["name"])
	assert.Len(t, series(t, text, "flux_resource_info", map[string]string{"exported_namespace": goldenNS, "kind": "Bucket"}), 1,
		"the golden Bucket's series is kept too")
	assert.Greater(t, reconcileErrors(text), errorsBefore, "the failed list is a reconcile error")

	// A later refresh still cannot list Buckets (now refused at once): the
	// series stays.
	start = time.Now()
	touchReport(t)
	assert.Less(t, time.Since(start), 10*time.Second, "a kind the exporter may not list fails fast once probed")
	text, err = exporter.Scrape()
	require.NoError(t, err)
	assert.Len(t, series(t, text, "flux_resource_info", buckets), 1)

	// The permission is back: a Bucket created now appears with the next
	// refresh.
	restore()
	createFlux(t, fixtures.Bucket, ns, "after", fixtures.Ready("True", "Succeeded", "ok"))
	refreshUntil(t, func(text string) error {
		if n := len(series(t, text, "flux_resource_info", buckets)); n != 2 {
			return fmt.Errorf("%d Bucket series, want 2", n)
		}
		return nil
	})
}

// canList asks the API server whether the exporter may list resource of
// group in every namespace.
func canList(t *testing.T, group, resource string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               exporterUser,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Group: group, Resource: resource},
	}}
	require.NoError(t, env.Client.Create(context.Background(), sar))
	return sar.Status.Allowed
}
