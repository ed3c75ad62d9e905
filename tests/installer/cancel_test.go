package installer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// A health check that waits (envtest runs no controller that would make the
// Deployments available) is canceled by a new change to the instance, and
// the new spec is reconciled at once instead of after the 5 minute timeout.
func TestANewChangeCancelsARunningHealthCheck(t *testing.T) {
	ctx := context.Background()
	startInstaller(t)
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}}}
	createInstance(t, fi)

	// The first reconciliation applies (the Deployments exist) and waits.
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(context.Context) error {
		_, err := deployment(t, "source-controller")
		return err
	}))
	_, reason, _ := ready(getInstance(t))
	require.Equal(t, apiv1.ProgressingReason, reason, "the first reconciliation is waiting")
	started := time.Now()
	stopWaiting(t)
	require.Less(t, time.Since(started), 2*time.Minute, "the new spec waited for the old health check")
	var events eventsv1.EventList
	require.NoError(t, env.Client.List(ctx, &events, client.InNamespace(ns)))
	found := false
	for _, e := range events.Items {
		if e.Regarding.Name == "flux" && e.Reason == apiv1.HealthCheckCanceledReason &&
			strings.Contains(e.Note, "health checks canceled due to a new reconciliation triggered by a new spec") {
			found = true
		}
	}
	require.True(t, found, "no HealthCheckCanceled event")
}

// The installer stopped (SIGTERM, a lost Lease) while a health check waits:
// the run is cut short, it has not failed. No Warning event and no
// Ready=False say otherwise, and the next installer takes the work up.
func TestAStopDuringAHealthCheckIsNotAFailure(t *testing.T) {
	ctx := context.Background()
	// The installers stop last, after the instance is uninstalled.
	var stops []func()
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
	})
	logs := &logLines{}
	stops = append(stops, runInstaller(t, controller.Config{Namespace: ns}, withLogs(logs)))
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}}}
	createInstance(t, fi)
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(context.Context) error {
		if _, err := deployment(t, "source-controller"); err != nil {
			return err
		}
		if _, reason, _ := ready(getInstance(t)); reason != apiv1.ProgressingReason {
			return fmt.Errorf("Ready reason %s, want %s", reason, apiv1.ProgressingReason)
		}
		return nil
	}))
	stops[0]()
	require.Equal(t, 1, logs.count("reconciliation interrupted: the manager is stopping"), "the stop is logged once:\n%s",
		strings.Join(logs.lines, "\n"))
	require.Zero(t, logs.count("Reconciler error"), "a stop is not a reconcile error:\n%s", strings.Join(logs.lines, "\n"))

	got := getInstance(t)
	st, reason, msg := ready(got)
	require.NotEqual(t, metav1.ConditionFalse, st, "a stop marked the instance failed: %s: %s", reason, msg)
	var events eventsv1.EventList
	require.NoError(t, env.Client.List(ctx, &events, client.InNamespace(ns)))
	for _, e := range events.Items {
		if e.Regarding.UID == got.UID && e.Type == corev1.EventTypeWarning {
			t.Errorf("a stop emitted a Warning: %s: %s", e.Reason, e.Note)
		}
	}

	// The next installer takes the work up: without the wait, it finishes.
	stops = append(stops, runInstaller(t, controller.Config{Namespace: ns}))
	stopWaiting(t)
}

// stopWaiting turns the instance's health-check wait off and waits until it
// is Ready for its current generation.
func stopWaiting(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cur := getInstance(t)
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Wait = ptrTo(false)
	require.NoError(t, env.Client.Patch(ctx, cur, patch))
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(context.Context) error {
		got := getInstance(t)
		if st, reason, msg := ready(got); st != metav1.ConditionTrue || readyGeneration(got) != got.Generation {
			return fmt.Errorf("Ready %s %s: %s", st, reason, msg)
		}
		return nil
	}))
}
