// Package report computes the spec of a FluxReport from the cluster: the Flux
// distribution, the cluster and operator, the Flux controller Deployments,
// statistics per Flux kind and the cluster sync.
//
// It reads through a controller-runtime cache: after the first report every
// list is served from informers, so a report costs one API request (the
// server version) however many Flux objects the cluster holds. Transform
// strips cached objects down to the fields the report reads.
package report
