// Command flux-operator-exporter serves Prometheus metrics about the Flux
// installation on --metrics-addr (default :8080): flux_instance_info,
// refreshed every time the FluxInstance changes; flux_resource_info and the
// report gauges, refreshed every time the FluxReport is updated; and the
// controller-runtime and Go runtime metrics. It only reads.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/metrics-exporter/controller"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
)

func main() {
	allowlist := flag.String("resource-label-allowlist", os.Getenv("RESOURCE_LABEL_ALLOWLIST"),
		"Comma-separated Kubernetes label keys of Flux objects to copy onto flux_resource_info and "+
			"flux_resource_not_ready_timestamp_seconds as label_<key> (e.g. team,owner). Env: RESOURCE_LABEL_ALLOWLIST.")
	var allow metrics.Allowlist
	bootstrap.Main(bootstrap.Binary{
		Name: controller.Component,
		// Every replica serves every series; there is nothing to elect.
		NoLeaderElection: true,
		ConfigureManager: func(o *bootstrap.Options, mo *ctrl.Options) {
			a, err := metrics.ParseAllowlist(*allowlist)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			allow = a
			controller.ConfigureCache(o.RuntimeNamespace, allow, mo)
		},
		Setup: func(mgr manager.Manager, o *bootstrap.Options) error {
			_, err := controller.Setup(mgr, controller.Config{Namespace: o.RuntimeNamespace, Allowlist: allow})
			return err
		},
	})
}
