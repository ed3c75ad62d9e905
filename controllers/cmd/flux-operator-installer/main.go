// Command flux-operator-installer reconciles FluxInstance objects: it
// installs, upgrades and supervises Flux. `flux-operator-installer build -f
// FILE` prints what an instance would apply, without a cluster.
package main

import (
	"context"
	"os"

	"github.com/fluxops/flux-operator/internal/bootstrap"
)

// Leader election and events, in the runtime namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=flux-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=flux-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch,namespace=flux-system

func main() {
	if len(os.Args) > 1 && os.Args[1] == "build" {
		os.Exit(runBuild(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	bootstrap.Main(bootstrap.Binary{Name: "flux-operator-installer"})
}
