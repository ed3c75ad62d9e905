package reporter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/reporter/controller"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/reportertest"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// syncKustomizations creates, in ns, a ready Kustomization for each name
// with its own path ./<name> and a ready GitRepository of the same name.
func syncKustomizations(t *testing.T, ns string, names ...string) {
	t.Helper()
	for _, n := range names {
		createFlux(t, fixtures.GitRepository, ns, n, fixtures.Ready(ready, "Succeeded", "stored artifact of "+n))
		createFlux(t, fixtures.Kustomization, ns, n, fixtures.Ready(ready, "ReconciliationSucceeded", "Applied "+n))
	}
}

// syncOf matches a report whose spec.sync is the Kustomization name,
// as syncKustomizations created it.
func syncOf(name string) func(*apiv1.FluxReport) error {
	want := apiv1.FluxSyncStatus{ID: "kustomization/" + name, Path: "./" + name, Ready: true,
		Status: "Applied " + name, Source: "https://github.com/example/" + name}
	return func(r *apiv1.FluxReport) error {
		if r.Spec.SyncStatus == nil || *r.Spec.SyncStatus != want {
			return fmt.Errorf("spec.sync is %+v, want %+v", r.Spec.SyncStatus, want)
		}
		return nil
	}
}

// fluxInstance creates the FluxInstance flux in ns with spec.sync.name set
// to syncName and deletes it when the test ends.
func fluxInstance(t *testing.T, ns, syncName string) *apiv1.FluxInstance {
	t.Helper()
	ctx := context.Background()
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: apiv1.DefaultName, Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{
			Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
			Sync: &apiv1.Sync{Name: syncName, Kind: "GitRepository", URL: "https://github.com/example/" + syncName,
				Ref: "refs/heads/main", Path: "./" + syncName},
		}}
	require.NoError(t, env.Client.Create(ctx, fi))
	t.Cleanup(func() { _ = env.Client.Delete(ctx, fi) })
	return fi
}

// TestSyncNameFlagAndAnnotation: --sync-name (SYNC_NAME), given to the
// reporter as controller.Config.SyncName, selects a Kustomization not named
// after the namespace over the one that is and over the FluxInstance's
// spec.sync.name; the FluxReport annotation wins over the flag, and removing
// it gives the flag back.
func TestSyncNameFlagAndAnnotation(t *testing.T) {
	ns := env.NewNamespace(t, "flux-syncflag")
	syncKustomizations(t, ns, ns, "by-flag", "by-annotation", "by-instance")
	fluxInstance(t, ns, "by-instance")
	reportertest.StartWithConfig(t, env.Config, controller.Config{Namespace: ns, Interval: time.Hour, SyncName: "by-flag"})

	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	require.NoError(t, syncOf("by-flag")(r), "the flag names the sync Kustomization")

	annotate(t, ns, apiv1.SyncNameAnnotation+"=by-annotation")
	r = waitReport(t, ns, 10*time.Second, syncOf("by-annotation"))
	assert.Equal(t, metav1.ConditionTrue, r.GetReadyCondition().Status)

	annotate(t, ns, apiv1.SyncNameAnnotation+"-")
	waitReport(t, ns, 10*time.Second, syncOf("by-flag"))
}

// TestSyncNameFallsBackToTheFluxInstance: with no flag and no annotation, the
// FluxInstance flux of the namespace names the sync Kustomization with
// spec.sync.name, over the one named after the namespace; without the
// instance, the namespace name applies.
func TestSyncNameFallsBackToTheFluxInstance(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-syncinstance")
	syncKustomizations(t, ns, ns, "fleet")
	fi := fluxInstance(t, ns, "fleet")
	startReporter(t, env.Config, ns, time.Hour)

	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	require.NoError(t, syncOf("fleet")(r), "the FluxInstance's spec.sync.name names the sync Kustomization")
	instances, _ := statsOf(r, apiv1.FluxInstanceKind)
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1}, instances)

	require.NoError(t, env.Client.Delete(ctx, fi))
	require.NoError(t, testenv.Eventually(ctx, 10*time.Second, func(ctx context.Context) error {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(fi), &apiv1.FluxInstance{})
		if err == nil {
			return fmt.Errorf("the FluxInstance still exists")
		}
		return client.IgnoreNotFound(err)
	}))
	requestUntil(t, ns, "instance-deleted", syncOf(ns))
}
