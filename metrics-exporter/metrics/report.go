package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// Metric names derived from the FluxReport.
const (
	ReportTimestampName      = "flux_report_timestamp_seconds"
	ReportReadyName          = "flux_report_ready"
	ReportReconcilersName    = "flux_report_reconcilers"
	ReportComponentReadyName = "flux_report_component_ready"
	ReportSyncReadyName      = "flux_report_sync_ready"
	ReportDistributionName   = "flux_report_distribution_info"
)

// Reconciler states of flux_report_reconcilers.
const (
	StateRunning   = "running"
	StateFailing   = "failing"
	StateSuspended = "suspended"
)

var (
	reportTimestamp = prometheus.NewDesc(ReportTimestampName,
		"Unix time of the last FluxReport update (the lastTransitionTime of its Ready condition); 0 when there is no report.",
		nil, nil)
	reportReady = prometheus.NewDesc(ReportReadyName,
		"1 when the last FluxReport was computed in full (Ready True), 0 when parts of it failed or there is no report.",
		nil, nil)
	reportReconcilers = prometheus.NewDesc(ReportReconcilersName,
		"Flux resources of a kind by state, from the FluxReport: running (not suspended, failing included), "+
			"failing (Ready False, not waiting on a dependency) and suspended.",
		[]string{"kind", "state"}, nil)
	reportComponentReady = prometheus.NewDesc(ReportComponentReadyName,
		"1 when the Flux controller Deployment is ready, 0 when it is not, from the FluxReport.",
		[]string{"component"}, nil)
	reportSyncReady = prometheus.NewDesc(ReportSyncReadyName,
		"1 when the cluster sync Kustomization and its source are ready, 0 when not, from the FluxReport; "+
			"absent when the installation has no sync.",
		[]string{"id"}, nil)
	reportDistribution = prometheus.NewDesc(ReportDistributionName,
		"The Flux distribution found by the FluxReport: version, status and the tool that manages it. Always 1.",
		[]string{"version", "status", "managed_by"}, nil)
)

// Report returns the series derived from the FluxReport; fr is nil when there
// is none. FluxInstance objects are counted by the report as reconcilers too,
// so they appear in flux_report_reconcilers with kind FluxInstance.
func Report(fr *apiv1.FluxReport) []prometheus.Metric {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
		return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if fr == nil {
		return []prometheus.Metric{gauge(reportTimestamp, 0), gauge(reportReady, 0)}
	}
	var ts, ready float64
	if c := fr.GetReadyCondition(); c != nil {
		ts = float64(c.LastTransitionTime.Unix())
		if c.Status == metav1.ConditionTrue {
			ready = 1
		}
	}
	spec := &fr.Spec
	out := make([]prometheus.Metric, 0, 3+3*len(spec.ReconcilersStatus)+len(spec.ComponentsStatus)+1)
	out = append(out, gauge(reportTimestamp, ts), gauge(reportReady, ready),
		gauge(reportDistribution, 1, spec.Distribution.Version, spec.Distribution.Status, spec.Distribution.ManagedBy))
	for _, r := range spec.ReconcilersStatus {
		out = append(out,
			gauge(reportReconcilers, float64(r.Stats.Running), r.Kind, StateRunning),
			gauge(reportReconcilers, float64(r.Stats.Failing), r.Kind, StateFailing),
			gauge(reportReconcilers, float64(r.Stats.Suspended), r.Kind, StateSuspended))
	}
	for _, c := range spec.ComponentsStatus {
		out = append(out, gauge(reportComponentReady, boolValue(c.Ready), c.Name))
	}
	if s := spec.SyncStatus; s != nil {
		out = append(out, gauge(reportSyncReady, boolValue(s.Ready), s.ID))
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
