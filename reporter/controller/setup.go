package controller

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/generated/clientset/versioned"
	"github.com/fluxops/flux-operator/reporter/report"
)

// Config is what the reporter needs beyond the common options.
type Config struct {
	Namespace       string
	Interval        time.Duration
	SyncName        string
	OperatorVersion string
	Platform        string
}

// ConfigureCache scopes and slims the manager's cache for the reporter:
// Deployments only in the runtime namespace with the Flux label, the
// FluxReport only in the runtime namespace, and every object stripped by
// report.Transform. It also registers the CRD kinds in the scheme.
func ConfigureCache(namespace string, mo *ctrl.Options) error {
	if err := apiextensionsv1.AddToScheme(mo.Scheme); err != nil {
		return fmt.Errorf("failed to register CRD kinds: %w", err)
	}
	mo.Cache.DefaultTransform = report.Transform
	mo.NewCache = report.NewCache
	mo.Cache.ByObject = map[client.Object]cache.ByObject{
		&appsv1.Deployment{}: {
			Namespaces: map[string]cache.Config{namespace: {}},
			Label:      labels.SelectorFromSet(labels.Set{apiv1.PartOfLabel: report.PartOfFlux}),
		},
		&apiv1.FluxReport{}: {Namespaces: map[string]cache.Config{namespace: {}}},
	}
	return nil
}

// Setup adds the FluxReport reconciler to mgr.
func Setup(mgr ctrl.Manager, cfg Config) error {
	if cfg.Interval <= 0 {
		return fmt.Errorf("--reporting-interval must be a positive duration, got %s", cfg.Interval)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("failed to create discovery client: %w", err)
	}
	cs, err := versioned.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("failed to create clientset: %w", err)
	}
	r := &FluxReportReconciler{
		Client:    mgr.GetClient(),
		Clientset: cs,
		Recorder:  mgr.GetEventRecorder(FieldManager),
		Namespace: cfg.Namespace,
		Interval:  cfg.Interval,
		Computer: &report.Computer{
			Cache:            mgr.GetCache(),
			APIReader:        mgr.GetAPIReader(),
			Versioner:        dc,
			Namespace:        cfg.Namespace,
			SyncName:         cfg.SyncName,
			OperatorVersion:  cfg.OperatorVersion,
			OperatorPlatform: cfg.Platform,
		},
	}
	return r.SetupWithManager(mgr)
}
