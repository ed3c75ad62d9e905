package reporter_test

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
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

// statsOf returns the stats of kind in the report and whether the report
// lists the kind.
func statsOf(r *apiv1.FluxReport, kind string) (apiv1.FluxReconcilerStats, bool) {
	for _, rec := range r.Spec.ReconcilersStatus {
		if rec.Kind == kind {
			return rec.Stats, true
		}
	}
	return apiv1.FluxReconcilerStats{}, false
}

// annotate runs kubectl annotate --overwrite on the FluxReport in ns with
// the given key=value (or key-) arguments and returns the resourceVersion
// of the annotated object.
func annotate(t testing.TB, ns string, annotations ...string) string {
	t.Helper()
	args := append([]string{"-n", ns, "annotate", "--overwrite", "fluxreport/flux"}, annotations...)
	out, err := testenv.Kubectl(context.Background(), env.Kubeconfig, append(args, "-o", "jsonpath={.metadata.resourceVersion}")...)
	require.NoError(t, err)
	rv := strings.TrimSpace(out)
	require.NotEmpty(t, rv, "kubectl annotate printed no resourceVersion")
	return rv
}

// handled matches a report that has handled the request value.
func handled(value string) func(*apiv1.FluxReport) error {
	return func(r *apiv1.FluxReport) error {
		if r.Status.LastHandledReconcileAt != value {
			return fmt.Errorf("lastHandledReconcileAt is %q, want %q", r.Status.LastHandledReconcileAt, value)
		}
		return nil
	}
}

// requestUntil asks for a report with reconcile.fluxcd.io/requestedAt until
// the report that handled the request satisfies cond, and returns it: the
// reporter's cache may receive an object changed just before the request
// after the request itself.
func requestUntil(t testing.TB, ns, prefix string, cond func(*apiv1.FluxReport) error) *apiv1.FluxReport {
	t.Helper()
	var r *apiv1.FluxReport
	requests := 0
	err := testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		value := fmt.Sprintf("%s-%d", prefix, requests)
		requests++
		annotate(t, ns, apiv1.ReconcileRequestAnnotation+"="+value)
		r = waitReport(t, ns, 10*time.Second, handled(value))
		return cond(r)
	})
	require.NoError(t, err, "after %d requests", requests)
	return r
}

// reconciles returns the reporter's reconcile count for result (see
// reportertest.Reconciles).
func reconciles(t testing.TB, result string) float64 {
	t.Helper()
	n, err := reportertest.Reconciles(result)
	require.NoError(t, err)
	return n
}

// waitReconciles waits until the reporter's reconcile count for result
// reaches want and returns it.
func waitReconciles(t testing.TB, result string, want float64, timeout time.Duration) float64 {
	t.Helper()
	var n float64
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(context.Context) error {
		if n = reconciles(t, result); n < want {
			return fmt.Errorf("controller_runtime_reconcile_total{controller=%q,result=%q} is %v, want %v",
				reportertest.ControllerName, result, n, want)
		}
		return nil
	}))
	return n
}
