module github.com/fluxops/flux-operator/tests

go 1.27.3

require (
	github.com/fluxops/flux-operator/apis v0.0.0
	github.com/fluxops/flux-operator/generated v0.0.0
)

// Sibling modules developed in this repository; go mod tidy and GOWORK=off
// builds resolve them from their directories.
replace (
	github.com/fluxops/flux-operator/apis => ../apis
	github.com/fluxops/flux-operator/generated => ../generated
	github.com/fluxops/flux-operator/controllers => ../controllers
	github.com/fluxops/flux-operator/reporter => ../reporter
	github.com/fluxops/flux-operator/metrics-exporter => ../metrics-exporter
)
