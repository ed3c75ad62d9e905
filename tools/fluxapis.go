//go:build tools

// Package tools keeps the Flux API modules in go.mod: `make flux-crds` runs
// controller-gen over their packages to produce the Flux CRDs the tests install.
// The versions are those of the Flux release named by FLUX_VERSION in the Makefile.
package tools

import (
	// Blank imports: only go.mod needs these modules; controller-gen reads
	// the packages' source from the module cache.
	_ "github.com/fluxcd/helm-controller/api/v2"
	_ "github.com/fluxcd/image-automation-controller/api/v1"
	_ "github.com/fluxcd/image-reflector-controller/api/v1"
	_ "github.com/fluxcd/kustomize-controller/api/v1"
	_ "github.com/fluxcd/notification-controller/api/v1"
	_ "github.com/fluxcd/source-controller/api/v1"
	_ "github.com/fluxcd/source-watcher/api/v2/v1beta1"
)
