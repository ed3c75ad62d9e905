package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// InstanceInfoName is the metric of FluxInstance objects.
const InstanceInfoName = "flux_instance_info"

// InstanceLabels are the labels of flux_instance_info, in order.
var InstanceLabels = []string{"uid", "kind", "name", "exported_namespace", "ready", "reason", "suspended", "registry", "revision"}

var instanceInfo = prometheus.NewDesc(InstanceInfoName,
	"The current status of a FluxInstance: ready, reason and suspended from the object, the container registry "+
		"of its distribution and the Flux revision it last applied. Always 1.",
	InstanceLabels, nil)

// Instance returns the flux_instance_info series of fi.
func Instance(fi *apiv1.FluxInstance) prometheus.Metric {
	ready, reason := Unknown, ""
	if c := fi.GetReadyCondition(); c != nil {
		reason = c.Reason
		switch c.Status {
		case metav1.ConditionTrue, metav1.ConditionFalse:
			ready = string(c.Status)
		}
	}
	suspended := False
	if fi.IsDisabled() {
		suspended = True
	}
	// The revision installed, not one merely attempted.
	revision := fi.Status.LastAppliedRevision
	return prometheus.MustNewConstMetric(instanceInfo, prometheus.GaugeValue, 1,
		string(fi.UID), apiv1.FluxInstanceKind, fi.Name, fi.Namespace, ready, reason, suspended,
		fi.Spec.Distribution.Registry, revision)
}

// OperatorInfoName is the metric that describes the running exporter.
const OperatorInfoName = "flux_operator_info"

// OperatorInfo returns flux_operator_info{api_version, version, platform} = 1:
// the API version of the operator's kinds and the binary's version and
// platform, as dashboards written for the Flux Operator read them.
func OperatorInfo(version, platform string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: OperatorInfoName,
		Help: "The Flux Operator build: the API version of its kinds, its version and its platform. Always 1.",
		ConstLabels: prometheus.Labels{
			"api_version": apiv1.GroupVersion.String(),
			"version":     version,
			"platform":    platform,
		},
	})
	g.Set(1)
	return g
}
