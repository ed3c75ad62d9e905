// Package metrics turns Flux objects, the FluxInstance and the FluxReport
// into Prometheus series. Everything here is a pure function of the objects
// read from the cache, plus Snapshot, the collector that serves one
// pre-built set of series and replaces it in one step.
//
// The metric names, label names and label meanings are a contract with the
// users' dashboards and alerts (docs/metrics.md): add facts only as new
// labels or new metrics.
package metrics
