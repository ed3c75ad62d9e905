package exporter_test

import (
	"testing"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// TestPrometheusScrapesTheExporter has a real Prometheus scrape the exporter
// and answers the queries the metrics guide shows.
func TestPrometheusScrapesTheExporter(t *testing.T) {
	touchReport(t)
	p := testenv.StartPrometheus(t, exporter.MetricsAddr, "")
	ns := `exported_namespace="` + goldenNS + `"`

	// The target is up and the seed's query counts the failing resources.
	p.EventuallyQuery(t, `up{job="flux-operator"}`, map[string]string{
		"instance=" + exporter.MetricsAddr + ",job=flux-operator": "1"})
	p.EventuallyQuery(t, `count by (kind) (flux_resource_info{ready="False",`+ns+`})`, map[string]string{
		"kind=Kustomization": "3", "kind=OCIRepository": "1"})

	// The guide's alert: not ready for 15 minutes, suspended ones excluded;
	// DependencyNotReady is left out with a label filter.
	p.EventuallyQuery(t, `count by (kind) (
		  (time() - flux_resource_not_ready_timestamp_seconds{`+ns+`}) > 900
		  and on (uid) flux_resource_info{reason!="DependencyNotReady"})`, map[string]string{
		"kind=ImagePolicy": "1", "kind=Kustomization": "2", "kind=OCIRepository": "1"})

	// Routing by team, from the allow-listed label.
	p.EventuallyQuery(t, `count by (label_team) (flux_resource_info{ready="False",`+ns+`})`, map[string]string{
		"label_team=payments": "1", "label_team=platform": "2", "": "1"})

	// Suspended resources.
	p.EventuallyQuery(t, `count(flux_resource_info{suspended="True",`+ns+`})`, map[string]string{"": "1"})

	// The report's freshness is a timestamp Prometheus can compare with time().
	p.EventuallyQuery(t, `count((time() - flux_report_timestamp_seconds) < 3600)`, map[string]string{"": "1"})
}
