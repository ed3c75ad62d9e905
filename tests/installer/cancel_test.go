package installer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
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
