// Package web_test runs flux-operator-web against the real test control
// plane, as a user bound to exactly the generated RBAC, and checks what its
// pages show and do, read-only and with sign-in (real TokenReviews and
// SubjectAccessReviews of ServiceAccount tokens).
package web_test

import (
	"context"
	"fmt"
	"html"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
	"github.com/fluxops/flux-operator/tests/webtest"
)

const (
	runtimeNS = "flux-system"
	// teamA and teamB hold the Flux objects; the signed-in user alice may
	// see and act on teamA's only.
	teamA   = "team-a"
	teamB   = "team-b"
	webUser = "system:serviceaccount:flux-system:flux-operator-web"
	// pageSize is small so that paging shows with a few objects.
	pageSize = 4
)

var (
	env *testenv.Env
	// web is read-only; webAuth asks for a token.
	web, webAuth *webtest.Web
)

// reportKinds are the kinds the test FluxReport lists, as the reporter
// would, the operator's own included.
var reportKinds = []fixtures.Kind{fixtures.GitRepository, fixtures.HelmRepository, fixtures.Kustomization,
	fixtures.HelmRelease, fixtures.Alert}

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, func(e *testenv.Env) error {
		env = e
		ctx := context.Background()
		for _, ns := range []string{runtimeNS, teamA, teamB} {
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return err
			}
		}
		cr, role, err := testenv.GeneratedRBAC("web")
		if err != nil {
			return err
		}
		if err := testenv.Bind(ctx, env.Client, webUser, runtimeNS, cr, role); err != nil {
			return err
		}
		if err := createFixture(ctx); err != nil {
			return err
		}
		cfg, err := env.UserConfig(webUser)
		if err != nil {
			return err
		}
		if web, err = webtest.Start(cfg, runtimeNS, false, pageSize); err != nil {
			return err
		}
		if webAuth, err = webtest.Start(cfg, runtimeNS, true, pageSize); err != nil {
			return err
		}
		env.OnStop(func() {
			for _, w := range []*webtest.Web{web, webAuth} {
				if err := w.Stop(); err != nil {
					fmt.Fprintln(os.Stderr, "the web UI stopped with an error:", err)
				}
			}
		})
		if err := web.WaitReady(time.Minute); err != nil {
			return err
		}
		return webAuth.WaitReady(time.Minute)
	})
}

// transitioned is the Ready transition time of the fixture's objects.
var transitioned = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func createFixture(ctx context.Context) error {
	ok := fixtures.Ready("True", "Succeeded", "stored artifact for revision 'main@sha1:0123456789abcdef'")
	type obj struct {
		kind     fixtures.Kind
		ns, name string
		opts     []fixtures.Option
	}
	for _, o := range []obj{
		{fixtures.GitRepository, teamA, "fleet", []fixtures.Option{ok, fixtures.Artifact(1024)}},
		{fixtures.Kustomization, teamA, "apps", []fixtures.Option{
			fixtures.Spec("fleet", "sourceRef", "name"),
			fixtures.Ready("False", "BuildFailed", "kustomize build failed: map[string]interface {}(nil): yaml: unmarshal errors:\n  line 3: cannot unmarshal"),
			fixtures.Status("main@sha1:0123456789abcdef", "lastAttemptedRevision"),
			fixtures.Status([]any{
				map[string]any{"id": "team-a_web_apps_Deployment", "v": "v1"},
				map[string]any{"id": "team-a_web__Service", "v": "v1"},
				map[string]any{"id": "team-a_worker_apps_Deployment", "v": "v1"},
				map[string]any{"id": "team-a_infra_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"},
			}, "inventory", "entries")}},
		{fixtures.Kustomization, teamA, "infra", []fixtures.Option{fixtures.Spec("fleet", "sourceRef", "name"),
			fixtures.Ready("True", "ReconciliationSucceeded", "Applied revision: main@sha1:0123456789abcdef"),
			fixtures.Status("main@sha1:0123456789abcdef", "lastAppliedRevision")}},
		{fixtures.Kustomization, teamA, "waiting", []fixtures.Option{
			fixtures.Ready("False", "DependencyNotReady", "dependency 'team-a/apps' is not ready")}},
		{fixtures.Kustomization, teamB, "apps-b", []fixtures.Option{
			fixtures.Ready("False", "HealthCheckFailed", "health check failed after 5m0s")}},
		{fixtures.HelmRepository, teamB, "charts", []fixtures.Option{ok}},
		{fixtures.HelmRelease, teamB, "podinfo", []fixtures.Option{fixtures.Suspended(),
			fixtures.Spec("charts", "chart", "spec", "sourceRef", "name"), ok}},
		{fixtures.HelmRelease, teamB, "new", nil},
		{fixtures.Alert, teamB, "slack", nil},
	} {
		if _, err := o.kind.Create(ctx, env.Client, o.ns, o.name, o.opts...); err != nil {
			return err
		}
	}
	for _, e := range []struct {
		ns, kind, name, typ, reason, msg string
	}{
		{teamA, "Kustomization", "apps", corev1.EventTypeWarning, "BuildFailed", "kustomize build failed: cannot unmarshal"},
		{teamA, "Kustomization", "infra", corev1.EventTypeNormal, "ReconciliationSucceeded", "Reconciliation finished in 1.2s"},
		{teamB, "Kustomization", "apps-b", corev1.EventTypeWarning, "HealthCheckFailed", "health check failed after 5m0s"},
		{teamA, "Pod", "not-flux", corev1.EventTypeWarning, "BackOff", "a Pod's event the UI does not show"},
		{runtimeNS, "FluxInstance", "flux", corev1.EventTypeNormal, "ReconciliationSucceeded", "Flux v2.9.5 installed"},
	} {
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.ToLower(e.name) + "-", Namespace: e.ns},
			InvolvedObject: corev1.ObjectReference{Kind: e.kind, Name: e.name, Namespace: e.ns},
			Type:           e.typ, Reason: e.reason, Message: e.msg, Source: corev1.EventSource{Component: "kustomize-controller"},
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1}
		if err := env.Client.Create(ctx, ev); err != nil {
			return err
		}
	}
	if err := fixtures.CreateWithStatus(ctx, env.Client, fixtures.InstalledInstance(runtimeNS, transitioned, 7262*time.Millisecond, 3)); err != nil {
		return err
	}
	fr := fixtures.InstalledReport(runtimeNS, time.Now(), 2,
		apiv1.FluxComponentStatus{Name: "kustomize-controller", Image: "ghcr.io/fluxcd/kustomize-controller:v1.9.5", Ready: true, Status: "Current Deployment is available. Replicas: 1"},
		apiv1.FluxComponentStatus{Name: "source-controller", Image: "ghcr.io/fluxcd/source-controller:v1.9.5", Ready: false, Status: "InProgress Deployment does not have minimum availability."},
	)
	for _, k := range reportKinds {
		stats := apiv1.FluxReconcilerStats{Running: 1}
		if k.GVK.Kind == "Kustomization" {
			stats = apiv1.FluxReconcilerStats{Running: 4, Failing: 2}
		}
		fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus, apiv1.FluxReconcilerStatus{
			APIVersion: k.GVK.GroupVersion().String(), Kind: k.GVK.Kind, Stats: stats})
	}
	fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus, apiv1.FluxReconcilerStatus{
		APIVersion: apiv1.GroupVersion.String(), Kind: apiv1.FluxInstanceKind, Stats: apiv1.FluxReconcilerStats{Running: 1}})
	fr.Spec.SyncStatus = &apiv1.FluxSyncStatus{ID: "kustomization/flux-system", Path: "clusters/prod", Ready: true,
		Status: "Applied revision: refs/heads/main@sha1:d3023", Source: "https://github.com/example/fleet.git"}
	return fixtures.CreateWithStatus(ctx, env.Client, fr)
}

// row is one row of a resources table, as a user reads it.
type row struct{ State, Kind, Ref, Reason, Message string }

var rowRE = regexp.MustCompile(`(?s)<tr class="r-(\w+)"><td>.*?</td><td>([^<]*)</td><td><a href="[^"]*">([^<]*)</a></td><td>([^<]*)</td><td class="msg">(.*?)</td>`)

// rows reads the rows of the resources table of a page.
func rows(body string) []row {
	var out []row
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, row{State: m[1], Kind: m[2], Ref: m[3], Reason: m[4], Message: html.UnescapeString(m[5])})
	}
	return out
}

// refs are the kind and namespace/name of rows.
func refs(rs []row) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Kind+" "+r.Ref)
	}
	return out
}

// text is a page's text, without its tags, spaces collapsed.
func text(body string) string {
	t := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(t)), " ")
}
