// Package controller holds the reconcilers of flux-operator-exporter: one
// keeps flux_instance_info in step with the FluxInstance, the other rebuilds
// flux_resource_info and the report gauges every time the FluxReport is
// updated.
package controller

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
)

// Component names the binary in logs and errors.
const Component = "flux-operator-exporter"

// RBAC of the exporter: read-only. The FluxInstance and the FluxReport in the
// runtime namespace, and the Flux kinds everywhere.
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxinstances;fluxreports,verbs=get;list;watch,namespace=flux-system
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io;kustomize.toolkit.fluxcd.io;helm.toolkit.fluxcd.io;notification.toolkit.fluxcd.io;image.toolkit.fluxcd.io;source.extensions.fluxcd.io,resources=*,verbs=get;list;watch

// Config is what the exporter needs beyond the common options.
type Config struct {
	// Namespace is the runtime namespace, where the FluxInstance and the
	// FluxReport live.
	Namespace string
	// Allowlist names the Kubernetes labels copied onto resource series.
	Allowlist metrics.Allowlist
	// Registerer receives the collectors; the controller-runtime registry,
	// served on the metrics address, when nil.
	Registerer prometheus.Registerer
	// Version and Platform label flux_operator_info; the binary's own build
	// information when empty.
	Version, Platform string
	// Exposition holds the rendered resource series that /metrics serves,
	// as ConfigureManager returned it.
	Exposition *metrics.Exposition
	// APIServer follows the API server; with StaleAfter above zero, /readyz
	// fails once it has been away for longer than StaleAfter, so that a
	// Service stops routing to a replica that only has old data.
	APIServer  *bootstrap.APIServerMonitor
	StaleAfter time.Duration
}

// ConfigureManager scopes and slims the manager's cache for the exporter:
// the FluxInstance and the FluxReport only in the runtime namespace, and
// Flux objects cached as compact fluxobj.Objects holding what their series
// need. It also makes the metrics server serve the registry together with
// the returned Exposition, which Setup fills; give it to Setup in
// Config.Exposition.
func ConfigureManager(namespace string, allow metrics.Allowlist, mo *ctrl.Options) *metrics.Exposition {
	mo.Cache.DefaultTransform = metrics.NewTransform(allow)
	mo.Cache.ByObject = map[client.Object]cache.ByObject{
		&apiv1.FluxInstance{}: {Namespaces: map[string]cache.Config{namespace: {}}},
		&apiv1.FluxReport{}:   {Namespaces: map[string]cache.Config{namespace: {}}},
	}
	mo.NewCache = metrics.NewCache(allow)
	e := &metrics.Exposition{}
	h := metrics.Handler(ctrlmetrics.Registry, e)
	// The metrics server's only hook on its /metrics handler is a filter:
	// this one serves the exporter's handler in place of the default.
	mo.Metrics.FilterProvider = func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
		return func(logr.Logger, http.Handler) (http.Handler, error) { return h, nil }, nil
	}
	return e
}

// Exporter is the exporter wired into a manager.
type Exporter struct {
	// Resources serves flux_resource_info and the not-ready timestamps;
	// Instances flux_instance_info.
	Resources *metrics.Exposition
	Instances *metrics.Snapshot
	Report    *ReportReconciler
	Instance  *InstanceReconciler
}

// Setup adds the exporter's reconcilers to mgr, registers its collectors and
// a readiness check that passes once the first refresh is done.
func Setup(mgr ctrl.Manager, cfg Config) (*Exporter, error) {
	if cfg.Namespace == "" {
		return nil, errors.New("the runtime namespace must be set")
	}
	if cfg.Exposition == nil {
		return nil, errors.New("the exposition of ConfigureManager must be given")
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	// Nothing is served before the first refresh: no zeros that would look
	// like a stale report or resolve alerts while the exporter starts.
	e := &Exporter{Resources: cfg.Exposition, Instances: &metrics.Snapshot{}}
	e.Report = &ReportReconciler{
		Reader: mgr.GetCache(),
		Kinds: &fluxobj.KindLister{Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(), Component: Component,
			Track: true},
		Namespace: cfg.Namespace,
		Builder:   metrics.NewResourceBuilder(cfg.Allowlist),
		Resources: e.Resources,
	}
	e.Instance = &InstanceReconciler{Reader: mgr.GetCache(), Namespace: cfg.Namespace, Set: e.Instances}
	version, platform := cfg.Version, cfg.Platform
	if version == "" {
		version = bootstrap.Version()
	}
	if platform == "" {
		platform = bootstrap.Platform()
	}
	for _, c := range []prometheus.Collector{e.Instances, metrics.OperatorInfo(version, platform),
		metrics.LastRefresh(e.Report.LastRefresh)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("failed to register the exporter's collectors: %w", err)
		}
	}
	if err := e.Report.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := e.Instance.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("first-refresh", func(*http.Request) error {
		if !e.Report.Refreshed() {
			return errors.New("waiting for the first refresh of the Flux resource metrics")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if cfg.APIServer != nil && cfg.StaleAfter > 0 {
		m, after := cfg.APIServer, cfg.StaleAfter
		logger := mgr.GetLogger().WithName("readiness")
		var stale atomic.Bool
		// The probe's answer withholds the reason: it is logged once, when
		// readiness turns, in either direction.
		if err := mgr.AddReadyzCheck("api-server", func(*http.Request) error {
			d := m.Outage()
			if d <= after {
				if stale.CompareAndSwap(true, false) {
					logger.Info("the metrics are fresh again: ready")
				}
				return nil
			}
			err := fmt.Errorf("the metrics are stale: the API server has been unreachable for %s (--stale-after %s)",
				d.Round(time.Second), after)
			if stale.CompareAndSwap(false, true) {
				logger.Info("not ready: "+err.Error()+"; a Service routes to fresh replicas only", "staleAfter", after.String())
			}
			return err
		}); err != nil {
			return nil, err
		}
	}
	return e, nil
}
