package reporter_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/reportertest"
	"github.com/fluxops/flux-operator/tests/testenv"
)

func TestOnDemandReportWithKubectlAnnotate(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-ondemand")
	startReporter(t, env.Config, ns, time.Hour)
	first := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	// Reconcilers are sorted by apiVersion+kind: read the kind by name.
	firstGit, ok := statsOf(first, "GitRepository")
	require.True(t, ok, "the report lists GitRepository: %+v", first.Spec.ReconcilersStatus)
	assert.Empty(t, firstGit.TotalSize)
	assert.Equal(t, apiv1.FluxReconcilerStats{}, firstGit, "no GitRepository exists yet")

	// A new object is only seen after the next report, which is an hour away
	// unless a user asks for one.
	late := createFlux(t, fixtures.GitRepository, ns, "late", fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(4096))
	requested := strconv.FormatInt(time.Now().UnixNano(), 10)
	_, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite",
		"fluxreport/flux", "reconcile.fluxcd.io/requestedAt="+requested)
	require.NoError(t, err)

	r := waitReport(t, ns, 10*time.Second, func(r *apiv1.FluxReport) error {
		if r.Status.LastHandledReconcileAt != requested {
			return fmt.Errorf("lastHandledReconcileAt is %q", r.Status.LastHandledReconcileAt)
		}
		return nil
	})
	var git apiv1.FluxReconcilerStats
	for _, rec := range r.Spec.ReconcilersStatus {
		if rec.Kind == "GitRepository" {
			git = rec.Stats
		}
	}
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1, TotalSize: "4.0 KiB"}, git)

	// Suspending an object keeps its artifact in the total: 4 KiB suspended
	// plus 1 KiB running.
	createFlux(t, fixtures.GitRepository, ns, "running", fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(1024))
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(late), late))
	size, found, err := unstructured.NestedInt64(late.Object, "status", "artifact", "size")
	require.NoError(t, err)
	require.True(t, found, "the suspended object has status.artifact.size")
	require.EqualValues(t, 4096, size)
	require.NoError(t, unstructured.SetNestedField(late.Object, true, "spec", "suspend"))
	require.NoError(t, env.Client.Update(ctx, late))
	want := apiv1.FluxReconcilerStats{Running: 1, Suspended: 1, TotalSize: "5.0 KiB"}
	r = requestUntil(t, ns, "suspended", func(r *apiv1.FluxReport) error {
		if got, _ := statsOf(r, "GitRepository"); got != want {
			return fmt.Errorf("GitRepository stats are %+v, want %+v", got, want)
		}
		return nil
	})
	git, _ = statsOf(r, "GitRepository")
	assert.Equal(t, want, git, "a suspended object's artifact counts in totalSize")
	assert.Greater(t, git.Suspended, firstGit.Suspended)
}

func TestReportIsCreatedAndRecreated(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-recreate")
	startReporter(t, env.Config, ns, time.Hour)
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	assert.Equal(t, apiv1.DistributionInstalled, r.Spec.Distribution.Status)
	uid := r.UID

	require.NoError(t, env.Client.Delete(ctx, r))
	r = waitReport(t, ns, 30*time.Second, func(r *apiv1.FluxReport) error {
		if r.UID == uid {
			return fmt.Errorf("not recreated yet")
		}
		return readyWith(metav1.ConditionTrue)(r)
	})
	// One field manager owns the report.
	for _, mf := range r.ManagedFields {
		assert.Equal(t, "flux-operator-reporter", mf.Manager)
	}
}

// TestDisabledReportIsNotUpdated proves with observables, not a sleep, that
// nothing happens while the report is disabled: controller-runtime counts
// every reconcile when it has returned (after its writes), a computed report
// ends with result requeue_after and a reconcile that returns without
// reporting ends with result success.
func TestDisabledReportIsNotUpdated(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-disabled")
	reports := reconciles(t, reportertest.ResultRequeueAfter)
	skipped := reconciles(t, reportertest.ResultSuccess)
	startReporter(t, env.Config, ns, time.Hour)
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	reports = waitReconciles(t, reportertest.ResultRequeueAfter, reports+1, 10*time.Second)

	// Positive control, same reporter: an annotation change is handled
	// within seconds when enabled, and the count says so.
	// (The object may reach the reporter's cache after the annotation: poke
	// again until a report counts it.)
	createFlux(t, fixtures.GitRepository, ns, "control", fixtures.Ready(ready, "Succeeded", "ok"))
	for i := 0; ; i++ {
		require.Less(t, i, 10, "an annotation change is not handled")
		annotate(t, ns, fmt.Sprintf("example.com/poke=%d", i))
		reports = waitReconciles(t, reportertest.ResultRequeueAfter, reports+1, 10*time.Second)
		require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(r), r))
		if git, _ := statsOf(r, "GitRepository"); git.Running == 1 {
			break
		}
	}
	assert.Equal(t, skipped, reconciles(t, reportertest.ResultSuccess), "every enabled reconcile computed a report")
	assert.Empty(t, r.Status.LastHandledReconcileAt, "no request was made yet")
	before := r.GetReadyCondition().DeepCopy()

	createFlux(t, fixtures.GitRepository, ns, "while-disabled", fixtures.Ready(ready, "Succeeded", "ok"))
	annotatedRV := annotate(t, ns, "fluxcd.controlplane.io/reconcile=disabled", "reconcile.fluxcd.io/requestedAt=while-disabled")
	// The sentinel: the reconciler has seen the request and returned.
	waitReconciles(t, reportertest.ResultSuccess, skipped+1, 10*time.Second)
	assert.Equal(t, reports, reconciles(t, reportertest.ResultRequeueAfter), "no report was computed while disabled")
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(r), r))
	assert.Equal(t, annotatedRV, r.ResourceVersion, "nothing wrote the report after the annotation")
	assert.Empty(t, r.Status.LastHandledReconcileAt, "a disabled report must not be recomputed")
	assert.Equal(t, before, r.GetReadyCondition(), "the Ready condition is the last enabled report's")
	git, _ := statsOf(r, "GitRepository")
	assert.Equal(t, 1, git.Running, "the object created while disabled is not counted")

	// Enabling again with a new request is handled; the disabled one never was.
	_, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		"fluxcd.controlplane.io/reconcile=enabled", "reconcile.fluxcd.io/requestedAt=after-enable")
	require.NoError(t, err)
	waitReport(t, ns, 10*time.Second, func(r *apiv1.FluxReport) error {
		if r.Status.LastHandledReconcileAt != "after-enable" {
			return fmt.Errorf("lastHandledReconcileAt is %q", r.Status.LastHandledReconcileAt)
		}
		return nil
	})
	waitReconciles(t, reportertest.ResultRequeueAfter, reports+1, 10*time.Second)
}

func TestSyncWithOCIRepositoryChosenByAnnotation(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-sync")
	// The root Kustomization is not named after the namespace.
	createFlux(t, fixtures.OCIRepository, ns, "fleet",
		fixtures.Ready(notReady, "OCIArtifactPullFailed", "failed to pull artifact: unauthorized"))
	createFlux(t, fixtures.Kustomization, ns, "cluster-sync", fixtures.Spec("./prod", "path"),
		fixtures.Spec("OCIRepository", "sourceRef", "kind"), fixtures.Spec("fleet", "sourceRef", "name"),
		fixtures.Suspended(), fixtures.Ready(ready, "ReconciliationSucceeded", "Applied revision: latest@sha256:abc"))
	startReporter(t, env.Config, ns, time.Hour)
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	assert.Nil(t, r.Spec.SyncStatus, "no Kustomization is named after the namespace")

	_, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		"fluxcd.controlplane.io/syncName=cluster-sync")
	require.NoError(t, err)
	r = waitReport(t, ns, 10*time.Second, func(r *apiv1.FluxReport) error {
		if r.Spec.SyncStatus == nil {
			return fmt.Errorf("no sync yet")
		}
		return nil
	})
	assert.Equal(t, apiv1.FluxSyncStatus{
		ID:     "kustomization/cluster-sync",
		Path:   "./prod",
		Ready:  false,
		Status: "Suspended Applied revision: latest@sha256:abc; failed to pull artifact: unauthorized",
		Source: "oci://ghcr.io/example/fleet",
	}, *r.Spec.SyncStatus)
}

func TestDistributionManagedByEachInstallTool(t *testing.T) {
	ctx := context.Background()
	crdClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)
	require.NoError(t, apiextensionsv1.AddToScheme(env.Scheme))
	getCRD := func() *apiextensionsv1.CustomResourceDefinition {
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(t, crdClient.Get(ctx, client.ObjectKey{Name: "gitrepositories.source.toolkit.fluxcd.io"}, &crd))
		return &crd
	}
	original := getCRD().Labels
	t.Cleanup(func() {
		crd := getCRD()
		crd.Labels = original
		require.NoError(t, crdClient.Update(ctx, crd))
	})

	ns := env.NewNamespace(t, "flux-tools")
	startReporter(t, env.Config, ns, time.Hour)
	waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))

	cases := []struct {
		name    string
		labels  map[string]string
		version string
		want    string
	}{
		{"the flux CLI (bootstrap) labels its objects with the Kustomization name",
			map[string]string{"kustomize.toolkit.fluxcd.io/name": "flux-system", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}, "v2.9.5", "flux bootstrap"},
		{"Helm sets managed-by", map[string]string{"app.kubernetes.io/managed-by": "Helm"}, "v2.9.4", "Helm"},
		{"Terraform sets managed-by", map[string]string{"app.kubernetes.io/managed-by": "terraform"}, "v2.8.0", "terraform"},
		{"a FluxInstance sets managed-by", map[string]string{"app.kubernetes.io/managed-by": "flux-operator"}, "v2.9.5", "flux-operator"},
		{"a plain kubectl apply leaves it empty", map[string]string{}, "v2.9.5", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			crd := getCRD()
			labels := map[string]string{}
			for k, v := range original {
				labels[k] = v
			}
			for k, v := range tc.labels {
				labels[k] = v
			}
			labels["app.kubernetes.io/version"] = tc.version
			crd.Labels = labels
			require.NoError(t, crdClient.Update(ctx, crd))

			requested := fmt.Sprintf("tool-%d", i)
			_, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
				"reconcile.fluxcd.io/requestedAt="+requested)
			require.NoError(t, err)
			r := waitReport(t, ns, 10*time.Second, func(r *apiv1.FluxReport) error {
				if r.Status.LastHandledReconcileAt != requested {
					return fmt.Errorf("not handled yet")
				}
				return nil
			})
			assert.Equal(t, apiv1.FluxDistributionStatus{
				Entitlement: "Unknown", Status: "Installed", Version: tc.version, ManagedBy: tc.want,
			}, r.Spec.Distribution)
		})
	}
}

func TestReconcileEveryAnnotationSchedulesReports(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-every")
	reports := reconciles(t, reportertest.ResultRequeueAfter)
	// The reporter's own interval is far beyond the test.
	startReporter(t, env.Config, ns, 5*time.Minute)
	first := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	reports = waitReconciles(t, reportertest.ResultRequeueAfter, reports+1, 10*time.Second)
	firstAt := first.GetReadyCondition().LastTransitionTime

	// The annotation change is handled once, then reports arrive every 2s
	// with no trigger at all: two more within 15s.
	annotatedRV := annotate(t, ns, apiv1.ReconcileEveryAnnotation+"=2s")
	start := time.Now()
	waitReconciles(t, reportertest.ResultRequeueAfter, reports+3, 15*time.Second)
	t.Logf("three reports %s after the annotation", time.Since(start).Round(time.Millisecond))
	r := waitReport(t, ns, 5*time.Second, func(r *apiv1.FluxReport) error {
		// The third report is about 4s after the first.
		if at := r.GetReadyCondition().LastTransitionTime; at.Sub(firstAt.Time) < 3*time.Second {
			return fmt.Errorf("Ready lastTransitionTime %s is not 3s after the first report's %s", at, firstAt)
		}
		return nil
	})
	assert.NotEqual(t, annotatedRV, r.ResourceVersion, "the scheduled reports wrote the object")
	assert.Empty(t, r.Status.LastHandledReconcileAt, "no report was requested")
	assert.Equal(t, apiv1.ReconciliationSucceededReason, r.GetReadyCondition().Reason)
	assert.Regexp(t, `^Reporting finished in `, r.GetReadyCondition().Message)

	// Without the annotation the reporter's interval applies again: the
	// removal (with a request, to recognize its report) is handled once, and
	// no report follows within two and a half of the old periods.
	annotate(t, ns, apiv1.ReconcileEveryAnnotation+"-", apiv1.ReconcileRequestAnnotation+"=every-removed")
	waitReport(t, ns, 10*time.Second, handled("every-removed"))
	require.NoError(t, testenv.Eventually(ctx, 10*time.Second, func(context.Context) error {
		if n, err := reportertest.ActiveWorkers(); err != nil || n != 0 {
			return fmt.Errorf("%v reconciles running (%v)", n, err)
		}
		return nil
	}))
	after := reconciles(t, reportertest.ResultRequeueAfter)
	assert.NoError(t, testenv.Consistently(ctx, 5*time.Second, func(context.Context) error {
		if n := reconciles(t, reportertest.ResultRequeueAfter); n != after {
			return fmt.Errorf("a report was scheduled after reconcileEvery was removed: %v reports, %v before", n, after)
		}
		return nil
	}))
}
