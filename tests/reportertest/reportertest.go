// Package reportertest runs flux-operator-reporter's manager in the test
// process, wired exactly as the binary wires it.
package reportertest

import (
	"context"
	"maps"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/reporter/controller"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// NewManager returns a manager with the reporter's cache configuration for
// namespace, without metrics, probes or leader election.
func NewManager(cfg *rest.Config, namespace string) (ctrl.Manager, error) {
	mo := ctrl.Options{
		Scheme:                 bootstrap.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Tests run several managers in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if err := controller.ConfigureCache(namespace, &mo); err != nil {
		return nil, err
	}
	return ctrl.NewManager(cfg, mo)
}

// Start runs the reporter for namespace as cfg's user until the test ends.
// The operator version and platform are fixed so reports are comparable.
func Start(t testing.TB, cfg *rest.Config, namespace string, interval time.Duration) {
	t.Helper()
	StartWithConfig(t, cfg, controller.Config{Namespace: namespace, Interval: interval})
}

// StartWithConfig runs the reporter as cfg's user until the test ends, with
// rc as the binary builds it from its flags (rc.SyncName is --sync-name).
// An empty operator version and platform are fixed as Start fixes them.
func StartWithConfig(t testing.TB, cfg *rest.Config, rc controller.Config) {
	t.Helper()
	if rc.OperatorVersion == "" {
		rc.OperatorVersion = "v0.0.0-test"
	}
	if rc.Platform == "" {
		rc.Platform = "test/test"
	}
	mgr, err := NewManager(cfg, rc.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.Setup(mgr, rc); err != nil {
		t.Fatal(err)
	}
	RunUntilCleanup(t, mgr)
}

// ControllerName is the name of the reporter's controller, the controller
// label of its controller-runtime metrics.
const ControllerName = "fluxreport"

// Results of controller_runtime_reconcile_total. A computed report always
// ends with ResultRequeueAfter (the next report is scheduled); a reconcile
// that returns without reporting, as for a disabled report, ends with
// ResultSuccess.
const (
	ResultSuccess      = "success"
	ResultRequeueAfter = "requeue_after"
	ResultError        = "error"
)

// Reconciles returns controller_runtime_reconcile_total of the reporter's
// controller for result, read from the controller-runtime metrics registry
// that every manager of the test process records into (the reporter's
// /metrics serves the same registry). The count is incremented when
// Reconcile has returned, after every write of that reconcile. Tests of a
// package run one reporter at a time, so the count is that reporter's, added
// to the counts of the reporters stopped before; it is 0 before the first
// reporter of the process starts.
func Reconciles(result string) (float64, error) {
	return ControllerMetric("controller_runtime_reconcile_total", map[string]string{"result": result})
}

// ActiveWorkers returns controller_runtime_active_workers of the reporter's
// controller: 1 while a Reconcile runs, 0 when it has returned.
func ActiveWorkers() (float64, error) {
	return ControllerMetric("controller_runtime_active_workers", nil)
}

// ControllerMetric returns the value of the counter or gauge name of the
// reporter's controller with the given other labels, from the
// controller-runtime metrics registry; 0 when the series does not exist yet.
func ControllerMetric(name string, labels map[string]string) (float64, error) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	match := map[string]string{"controller": ControllerName}
	maps.Copy(match, labels)
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		if s := testenv.Samples(mf, match); len(s) > 0 {
			return s[0].Value, nil
		}
	}
	return 0, nil
}

// RunUntilCleanup starts mgr and stops it when the test ends.
func RunUntilCleanup(t testing.TB, mgr ctrl.Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reporter manager stopped with an error: %v", err)
		}
	})
}
