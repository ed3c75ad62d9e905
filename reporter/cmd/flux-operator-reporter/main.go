// Command flux-operator-reporter computes the FluxReport named flux in its
// namespace: every --reporting-interval, on demand when the
// reconcile.fluxcd.io/requestedAt annotation changes, and never while the
// report carries fluxcd.controlplane.io/reconcile: disabled.
package main

import (
	"flag"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/reporter/controller"
)

// Leader election and events, in the runtime namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=flux-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=flux-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch,namespace=flux-system

func main() {
	interval := flag.Duration("reporting-interval", envDuration("REPORTING_INTERVAL", 5*time.Minute),
		"How often the report is recomputed. Env: REPORTING_INTERVAL.")
	syncName := flag.String("sync-name", os.Getenv("SYNC_NAME"),
		"Name of the cluster-sync Kustomization in the runtime namespace, when it is not named after the namespace "+
			"(the FluxReport annotation fluxcd.controlplane.io/syncName wins). Env: SYNC_NAME.")
	bootstrap.Main(bootstrap.Binary{
		Name: "flux-operator-reporter",
		ConfigureManager: func(o *bootstrap.Options, mo *ctrl.Options) {
			if err := controller.ConfigureCache(o.RuntimeNamespace, mo); err != nil {
				ctrl.Log.Error(err, "invalid cache configuration")
				os.Exit(1)
			}
		},
		Setup: func(mgr manager.Manager, o *bootstrap.Options) error {
			return controller.Setup(mgr, controller.Config{
				Namespace:       o.RuntimeNamespace,
				Interval:        *interval,
				SyncName:        *syncName,
				OperatorVersion: bootstrap.Version(),
				Platform:        bootstrap.Platform(),
			})
		},
	})
}

// envDuration reads a duration default from the environment; an invalid
// value stops the binary with a clear message.
func envDuration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		os.Stderr.WriteString(key + "=" + v + " is not a positive duration such as 5m\n")
		os.Exit(2)
	}
	return d
}
