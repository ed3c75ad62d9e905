// Package v1 contains the fluxcd.controlplane.io/v1 API: the FluxInstance that
// declares a Flux installation and the FluxReport that describes one.
//
// +kubebuilder:object:generate=true
// +groupName=fluxcd.controlplane.io
// +k8s:deepcopy-gen=package
package v1
