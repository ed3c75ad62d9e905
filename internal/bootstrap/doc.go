// Package bootstrap is the start-up code shared by the three operator binaries:
// flags with environment-variable equivalents, logging, version information and
// a controller-runtime manager with metrics, health probes, leader election and
// graceful shutdown.
package bootstrap
