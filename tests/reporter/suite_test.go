package reporter_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/reportertest"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var (
	env    *testenv.Env
	update = flag.Bool("update", false, "rewrite golden files")
)

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, func(e *testenv.Env) error {
		env = e
		return fixtures.Nodes(context.Background(), env.Client, 2)
	})
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	require.NoError(t, env.Client.Create(context.Background(), ns))
	return ns.Name
}

// createFlux creates a Flux object and deletes it when the test ends, so the
// cluster-wide statistics of later tests start from zero.
func createFlux(t testing.TB, k fixtures.Kind, ns, name string, opts ...fixtures.Option) *unstructured.Unstructured {
	t.Helper()
	o, err := k.Create(context.Background(), env.Client, ns, name, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	return o
}

// startReporter runs the reporter for namespace in-process, as cfg's user,
// until the test ends.
func startReporter(t testing.TB, cfg *rest.Config, namespace string, interval time.Duration) {
	reportertest.Start(t, cfg, namespace, interval)
}

// waitReport waits until the FluxReport in ns satisfies cond and returns it.
func waitReport(t testing.TB, ns string, timeout time.Duration, cond func(*apiv1.FluxReport) error) *apiv1.FluxReport {
	t.Helper()
	var r apiv1.FluxReport
	err := testenv.Eventually(context.Background(), timeout, func(ctx context.Context) error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: apiv1.DefaultName}, &r); err != nil {
			return err
		}
		return cond(&r)
	})
	require.NoError(t, err)
	return &r
}

// readyWith matches a report whose Ready condition has the given status.
func readyWith(status metav1.ConditionStatus) func(*apiv1.FluxReport) error {
	return func(r *apiv1.FluxReport) error {
		c := r.GetReadyCondition()
		if c == nil || c.Status != status {
			return fmt.Errorf("Ready is %+v, want %s", c, status)
		}
		return nil
	}
}
