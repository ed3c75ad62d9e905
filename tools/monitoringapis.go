//go:build tools

// Package tools keeps in go.mod the API modules whose CRDs the tests install
// but no binary imports: controller-gen reads their packages from the
// module cache.
package tools

import (
	// The Prometheus Operator API module: `make monitoring-crds` runs
	// controller-gen over it to produce the ServiceMonitor and PrometheusRule
	// CRDs the packaging tests install, so rendered monitoring objects are
	// checked against the real schemas. A blank import: only go.mod needs it.
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
