package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LastRefreshName is the gauge of the exporter's last successful refresh.
const LastRefreshName = "flux_operator_exporter_last_refresh_timestamp_seconds"

var lastRefreshDesc = prometheus.NewDesc(LastRefreshName,
	"Unix time of the exporter's last successful refresh of the report gauges and resource series from the FluxReport "+
		"and the Flux objects; no sample before the first one.",
	nil, nil)

// LastRefresh is a collector of LastRefreshName, read from last at every
// scrape; a zero time gives no sample, so an exporter that has not refreshed
// yet is not mistaken for one that refreshed in 1970.
func LastRefresh(last func() time.Time) prometheus.Collector { return lastRefresh(last) }

type lastRefresh func() time.Time

func (l lastRefresh) Describe(ch chan<- *prometheus.Desc) { ch <- lastRefreshDesc }

func (l lastRefresh) Collect(ch chan<- prometheus.Metric) {
	t := l()
	if t.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(lastRefreshDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9)
}
