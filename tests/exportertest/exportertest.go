// Package exportertest runs flux-operator-exporter's manager in the test
// process, wired exactly as the binary wires it, with /metrics and /readyz on
// free loopback ports.
package exportertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/metrics-exporter/controller"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// Exporter is a running exporter.
type Exporter struct {
	*controller.Exporter
	// MetricsAddr is host:port of /metrics; MetricsURL its full URL.
	MetricsAddr, MetricsURL string
	// Cache is the exporter's informer cache.
	Cache      cache.Cache
	healthAddr string
	stop       func() error
}

// Start runs the exporter for namespace as cfg's user, copying the labels of
// allowlist (as given to --resource-label-allowlist). The exporter registers
// its collectors in the controller-runtime registry, so a process runs one.
func Start(cfg *rest.Config, namespace, allowlist string) (*Exporter, error) {
	allow, err := metrics.ParseAllowlist(allowlist)
	if err != nil {
		return nil, err
	}
	metricsAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	healthAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	o := &bootstrap.Options{Component: controller.Component, MetricsAddr: metricsAddr, HealthAddr: healthAddr,
		RuntimeNamespace: namespace, GracefulShutdownTimeout: 10 * time.Second}
	var exposition *metrics.Exposition
	mgr, err := bootstrap.NewManager(cfg, o, bootstrap.NewScheme(), func(mo *ctrl.Options) error {
		exposition = controller.ConfigureManager(namespace, allow, mo)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e, err := controller.Setup(mgr, controller.Config{Namespace: namespace, Allowlist: allow, Exposition: exposition})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	x := &Exporter{Exporter: e, Cache: mgr.GetCache(), MetricsAddr: metricsAddr, MetricsURL: "http://" + metricsAddr + "/metrics",
		healthAddr: healthAddr, stop: func() error { cancel(); return <-done }}
	return x, nil
}

// WaitReady waits until /readyz passes: the first refresh is done.
func (x *Exporter) WaitReady(timeout time.Duration) error {
	if err := testenv.WaitReady(x.healthAddr, timeout); err != nil {
		return fmt.Errorf("exporter not ready: %w", err)
	}
	return nil
}

// Scrape returns the /metrics exposition text.
func (x *Exporter) Scrape() (string, error) {
	resp, err := http.Get(x.MetricsURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", x.MetricsURL, resp.Status)
	}
	return string(body), nil
}

// Stop stops the exporter and returns the manager's error.
func (x *Exporter) Stop() error { return x.stop() }
