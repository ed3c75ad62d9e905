// Command flux-operator-exporter serves Prometheus metrics about the Flux
// installation on --metrics-addr (default :8080): flux_instance_info,
// refreshed every time the FluxInstance changes; flux_resource_info and the
// report gauges, refreshed every time the FluxReport is updated; and the
// controller-runtime and Go runtime metrics. It only reads.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
	"github.com/fluxops/flux-operator/metrics-exporter/controller"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
)

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
		allowlist  string
		staleAfter time.Duration
		allow      metrics.Allowlist
		exposition *metrics.Exposition
	)
	bootstrap.Main(bootstrap.Binary{
		Name: controller.Component,
		// Every replica serves every series; there is nothing to elect.
		NoLeaderElection: true,
		Flags: func(fs *flag.FlagSet, env *bootstrap.Env) {
			fs.StringVar(&allowlist, "resource-label-allowlist", env.String("RESOURCE_LABEL_ALLOWLIST", ""),
				"Comma-separated Kubernetes label keys of Flux objects to copy onto flux_resource_info and "+
					"flux_resource_not_ready_timestamp_seconds as label_<key> (e.g. team,owner). Env: RESOURCE_LABEL_ALLOWLIST.")
			fs.DurationVar(&staleAfter, "stale-after", env.Duration("STALE_AFTER", time.Minute),
				"Fail /readyz once the API server has been unreachable for this long, so that a Service stops routing "+
					"to a replica whose metrics are stale; 0 disables the check. Env: STALE_AFTER.")
		},
		Validate: func() (err error) {
			allow, err = metrics.ParseAllowlist(allowlist)
			if staleAfter < 0 {
				err = errors.Join(err, fmt.Errorf("--stale-after must not be negative (0 disables the check), got %s", staleAfter))
			}
			return err
		},
		ConfigureManager: func(o *bootstrap.Options, mo *ctrl.Options) error {
			exposition = controller.ConfigureManager(o.RuntimeNamespace, allow, mo)
			return nil
		},
		Setup: func(mgr manager.Manager, o *bootstrap.Options) error {
			_, err := controller.Setup(mgr, controller.Config{Namespace: o.RuntimeNamespace, Allowlist: allow,
				Exposition: exposition, APIServer: o.APIServer, StaleAfter: staleAfter})
			return err
		},
	})
}
