// Command flux-operator-installer reconciles FluxInstance objects: it installs, upgrades and supervises Flux.
package main

import (
	"github.com/fluxops/flux-operator/internal/bootstrap"
)

// Leader election and events, in the runtime namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=flux-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=flux-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch,namespace=flux-system

func main() {
	bootstrap.Main(bootstrap.Binary{Name: "flux-operator-installer"})
}
