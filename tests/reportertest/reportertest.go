// Package reportertest runs flux-operator-reporter's manager in the test
// process, wired exactly as the binary wires it.
package reportertest

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/reporter/controller"
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
	mgr, err := NewManager(cfg, namespace)
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.Setup(mgr, controller.Config{
		Namespace: namespace, Interval: interval, OperatorVersion: "v0.0.0-test", Platform: "test/test",
	}); err != nil {
		t.Fatal(err)
	}
	RunUntilCleanup(t, mgr)
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
