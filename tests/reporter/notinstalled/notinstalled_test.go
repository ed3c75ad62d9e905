// Package notinstalled checks the report of a cluster without Flux, on its
// own control plane without the Flux CRDs.
package notinstalled

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/reportertest"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, func(e *testenv.Env) error { env = e; return nil }, testenv.WithoutFluxCRDs())
}

func TestReportWithoutFlux(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}
	require.NoError(t, env.Client.Create(ctx, ns))

	reportertest.Start(t, env.Config, ns.Name, time.Hour)

	var r apiv1.FluxReport
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "flux"}, &r); err != nil {
			return err
		}
		if c := r.GetReadyCondition(); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("not ready: %+v", c)
		}
		return nil
	}))
	assert.Equal(t, apiv1.FluxDistributionStatus{Entitlement: "Unknown", Status: "Not Installed"}, r.Spec.Distribution)
	assert.Empty(t, r.Spec.ComponentsStatus)
	assert.Nil(t, r.Spec.SyncStatus)
	require.Len(t, r.Spec.ReconcilersStatus, 1, "only the operator's own kind")
	assert.Equal(t, "FluxInstance", r.Spec.ReconcilersStatus[0].Kind)

	out, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", "flux-system", "get", "fluxreport/flux")
	require.NoError(t, err)
	assert.Contains(t, out, "Reporting finished in")
}
