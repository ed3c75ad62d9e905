// Command flux-operator-reporter computes the FluxReport named flux in its
// namespace: every --reporting-interval, on demand when the
// reconcile.fluxcd.io/requestedAt annotation changes, and never while the
// report carries fluxcd.controlplane.io/reconcile: disabled.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
	"github.com/fluxops/flux-operator/reporter/controller"
)

// Leader election and events, in the runtime namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=flux-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=flux-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch,namespace=flux-system

// steadyGCPercent is the garbage collection target (GOGC) once the first
// lists are compacted: with Go's default of 100, the garbage of the steady
// state (reports, scrapes) held the heap at up to twice what is live
// (make bench: 6 MB more resident memory at 12,000 objects). The start keeps
// Go's default, so that the first lists are decoded as fast. GOGC, when
// set, wins.
const steadyGCPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		fluxobj.SteadyGCPercent = steadyGCPercent
	}
	var (
		interval time.Duration
		syncName string
	)
	bootstrap.Main(bootstrap.Binary{
		Name: "flux-operator-reporter",
		Flags: func(fs *flag.FlagSet, env *bootstrap.Env) {
			fs.DurationVar(&interval, "reporting-interval", env.Duration("REPORTING_INTERVAL", 5*time.Minute),
				"How often the report is recomputed. Env: REPORTING_INTERVAL.")
			fs.StringVar(&syncName, "sync-name", env.String("SYNC_NAME", ""),
				"Name of the cluster-sync Kustomization in the runtime namespace, when it is not named after the namespace "+
					"(the FluxReport annotation fluxcd.controlplane.io/syncName wins). Env: SYNC_NAME.")
		},
		Validate: func() error {
			if interval <= 0 {
				return fmt.Errorf("--reporting-interval must be a positive duration such as 5m, got %s", interval)
			}
			return nil
		},
		ConfigureManager: func(o *bootstrap.Options, mo *ctrl.Options) error {
			return controller.ConfigureCache(o.RuntimeNamespace, mo)
		},
		Setup: func(mgr manager.Manager, o *bootstrap.Options) error {
			return controller.Setup(mgr, controller.Config{
				Namespace:       o.RuntimeNamespace,
				Interval:        interval,
				SyncName:        syncName,
				OperatorVersion: bootstrap.Version(),
				Platform:        bootstrap.Platform(),
			})
		},
	})
}
