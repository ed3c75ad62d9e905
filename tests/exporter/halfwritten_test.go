package exporter_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// A report whose spec is newer than its status (the reporter stopped
// between its two writes, or a refresh queued behind the next report's
// spec) is not served: the gauges stay those of the last complete report
// until its status is written.
func TestAHalfWrittenReportIsNotServed(t *testing.T) {
	ctx := context.Background()
	failing := func(n int) func(*apiv1.FluxReport) {
		return func(fr *apiv1.FluxReport) {
			for i := range fr.Spec.ReconcilersStatus {
				if fr.Spec.ReconcilersStatus[i].Kind == "Kustomization" {
					fr.Spec.ReconcilersStatus[i].Stats = apiv1.FluxReconcilerStats{Running: 5, Failing: n}
				}
			}
		}
	}
	kustomizationsFailing := func() string {
		t.Helper()
		text, err := exporter.Scrape()
		require.NoError(t, err)
		s := series(t, text, "flux_report_reconcilers", map[string]string{"kind": "Kustomization", "state": "failing"})
		require.Len(t, s, 1)
		return s[0]["__value__"]
	}
	// A complete report: its Ready condition observed its generation.
	touchReport(t, failing(1))
	key := client.ObjectKey{Namespace: runtimeNS, Name: apiv1.DefaultName}
	fr := &apiv1.FluxReport{}
	require.NoError(t, env.Client.Get(ctx, key, fr))
	fr.Status.Conditions[0].ObservedGeneration = fr.Generation
	fr.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
	require.NoError(t, env.Client.Status().Update(ctx, fr))
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		if v := kustomizationsFailing(); v != "1" {
			return assert.AnError
		}
		return nil
	}))

	// The next report's spec, not its status.
	failing(3)(fr)
	require.NoError(t, env.Client.Update(ctx, fr))
	require.NoError(t, testenv.Eventually(ctx, 10*time.Second, func(ctx context.Context) error {
		seen := &apiv1.FluxReport{}
		if err := exporter.Cache.Get(ctx, key, seen); err != nil || seen.Generation != fr.Generation {
			return assert.AnError
		}
		return nil
	}), "the exporter's cache has the new spec")
	// A refresh now (as a retry or a late queue would run it) keeps the last
	// complete report.
	_, err := exporter.Report.Reconcile(ctx, reconcile.Request{NamespacedName: key})
	require.NoError(t, err)
	assert.Equal(t, "1", kustomizationsFailing(), "the half-written report's counts are served")

	// Its status written: served.
	fr.Status.Conditions[0].ObservedGeneration = fr.Generation
	fr.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Now().Add(2 * time.Hour).Truncate(time.Second))
	require.NoError(t, env.Client.Status().Update(ctx, fr))
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		if v := kustomizationsFailing(); v != "3" {
			return assert.AnError
		}
		return nil
	}))
}
