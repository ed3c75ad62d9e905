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
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

func TestOnDemandReportWithKubectlAnnotate(t *testing.T) {
	ns := newNamespace(t, "flux-ondemand")
	startReporter(t, env.Config, ns, time.Hour)
	first := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	assert.Empty(t, first.Spec.ReconcilersStatus[0].Stats.TotalSize)

	// A new object is only seen after the next report, which is an hour away
	// unless a user asks for one.
	createFlux(t, fixtures.GitRepository, ns, "late", fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(4096))
	requested := strconv.FormatInt(time.Now().UnixNano(), 10)
	_, err := testenv.Kubectl(context.Background(), env.Kubeconfig, "-n", ns, "annotate", "--overwrite",
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
}

func TestReportIsCreatedAndRecreated(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "flux-recreate")
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

func TestDisabledReportIsNotUpdated(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "flux-disabled")
	startReporter(t, env.Config, ns, time.Hour)
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))

	_, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		"fluxcd.controlplane.io/reconcile=disabled", "reconcile.fluxcd.io/requestedAt=while-disabled")
	require.NoError(t, err)
	// Enabling again with a new request is handled; the disabled one never was.
	time.Sleep(2 * time.Second)
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(r), r))
	assert.Empty(t, r.Status.LastHandledReconcileAt, "a disabled report must not be recomputed")

	_, err = testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		"fluxcd.controlplane.io/reconcile=enabled", "reconcile.fluxcd.io/requestedAt=after-enable")
	require.NoError(t, err)
	waitReport(t, ns, 10*time.Second, func(r *apiv1.FluxReport) error {
		if r.Status.LastHandledReconcileAt != "after-enable" {
			return fmt.Errorf("lastHandledReconcileAt is %q", r.Status.LastHandledReconcileAt)
		}
		return nil
	})
}

func TestSyncWithOCIRepositoryChosenByAnnotation(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "flux-sync")
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

	ns := newNamespace(t, "flux-tools")
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
