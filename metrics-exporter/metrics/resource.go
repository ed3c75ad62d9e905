package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// Metric names served for Flux resources.
const (
	ResourceInfoName          = "flux_resource_info"
	ResourceNotReadySinceName = "flux_resource_not_ready_timestamp_seconds"
)

// CommonLabels are the labels of every flux_resource_info series, in order.
var CommonLabels = []string{"uid", "kind", "name", "exported_namespace", "ready", "reason", "suspended"}

// KindLabels are the labels flux_resource_info adds per kind, in order.
// Kinds not listed carry the common labels only.
var KindLabels = map[string][]string{
	"Kustomization":         {"revision", "source_name", "path"},
	"GitRepository":         {"revision", "url", "ref"},
	"OCIRepository":         {"revision", "url", "ref"},
	"Bucket":                {"revision", "url", "ref"},
	"HelmRelease":           {"revision", "source_name"},
	"HelmChart":             {"revision", "source_name"},
	"HelmRepository":        {"revision", "url"},
	"Receiver":              {"url"},
	"ImageRepository":       {"url"},
	"ImagePolicy":           {"source_name"},
	"ImageUpdateAutomation": {"source_name"},
}

// notReadyLabels identify a resource on the not-ready gauge.
var notReadyLabels = []string{"uid", "kind", "name", "exported_namespace"}

const (
	resourceInfoHelp = "The current status of a Flux resource: ready, reason and suspended from the object, " +
		"plus per-kind labels (revision, source_name, path, url, ref). Always 1."
	notReadyHelp = "Unix time since which a Flux resource that is not suspended has not been ready: the " +
		"lastTransitionTime of its Ready condition (False or Unknown) when the exporter first saw it not ready, " +
		"kept while it stays not ready, or its creation time when it has no condition."
)

// Label values.
const (
	True    = "True"
	False   = "False"
	Unknown = "Unknown"
)

// ResourceBuilder builds the series of Flux resources.
type ResourceBuilder struct {
	allow    Allowlist
	info     map[string]*prometheus.Desc // by kind
	common   *prometheus.Desc            // kinds without extra labels
	notReady *prometheus.Desc
}

// NewResourceBuilder returns a builder that copies the allow-listed labels.
func NewResourceBuilder(allow Allowlist) *ResourceBuilder {
	b := &ResourceBuilder{allow: allow, info: map[string]*prometheus.Desc{}}
	for kind, extra := range KindLabels {
		b.info[kind] = prometheus.NewDesc(ResourceInfoName, resourceInfoHelp, concat(CommonLabels, extra, allow.names), nil)
	}
	b.common = prometheus.NewDesc(ResourceInfoName, resourceInfoHelp, concat(CommonLabels, allow.names), nil)
	b.notReady = prometheus.NewDesc(ResourceNotReadySinceName, notReadyHelp, concat(notReadyLabels, allow.names), nil)
	return b
}

// KindSeries are the series of the objects of one Flux kind, and since when
// each of them that is not ready has been so.
type KindSeries struct {
	Metrics  []prometheus.Metric
	NotReady map[types.UID]time.Time
}

// Build builds the series of one kind's objects. prev is what the previous
// Build of the kind returned (nil the first time): a resource that was not
// ready then and is still not ready keeps its earlier not-ready time. Flux
// controllers turn Ready from False to Unknown and back on every retry, which
// moves the condition's lastTransitionTime each time; the remembered time
// makes "not ready for 15 minutes" true of a resource that keeps failing.
func (b *ResourceBuilder) Build(items []unstructured.Unstructured, prev *KindSeries) *KindSeries {
	ks := &KindSeries{
		Metrics:  make([]prometheus.Metric, 0, len(items)+len(items)/4),
		NotReady: map[types.UID]time.Time{},
	}
	var before map[types.UID]time.Time
	if prev != nil {
		before = prev.NotReady
	}
	for i := range items {
		ks.Metrics = b.append(ks.Metrics, &items[i], before, ks.NotReady)
	}
	return ks
}

// appendFresh appends the series of one Flux object, with no memory of
// earlier refreshes: its flux_resource_info and, when it is neither ready nor
// suspended, its not-ready timestamp.
func (b *ResourceBuilder) appendFresh(dst []prometheus.Metric, obj *unstructured.Unstructured) []prometheus.Metric {
	return b.append(dst, obj, nil, nil)
}

func (b *ResourceBuilder) append(dst []prometheus.Metric, obj *unstructured.Unstructured,
	before, after map[types.UID]time.Time) []prometheus.Metric {
	o := obj.Object
	kind := obj.GetKind()
	ready, reason, since := readiness(kind, obj)
	suspended := False
	if s, _, _ := unstructured.NestedBool(o, "spec", "suspend"); s {
		suspended = True
	}
	meta, _ := o["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)

	extra := KindLabels[kind]
	values := make([]string, 0, len(CommonLabels)+len(extra)+len(b.allow.keys))
	values = append(values, string(obj.GetUID()), kind, obj.GetName(), obj.GetNamespace(), ready, reason, suspended)
	for _, l := range extra {
		values = append(values, kindLabel(kind, l, o))
	}
	values = b.allow.values(values, labels)
	desc := b.info[kind]
	if desc == nil {
		desc = b.common
	}
	dst = append(dst, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1, values...))

	if ready != True && suspended == False && !since.IsZero() {
		if t, ok := before[obj.GetUID()]; ok && t.Before(since) {
			since = t
		}
		if after != nil {
			after[obj.GetUID()] = since
		}
		nr := make([]string, 0, len(notReadyLabels)+len(b.allow.keys))
		nr = append(nr, values[:len(notReadyLabels)]...)
		nr = b.allow.values(nr, labels)
		dst = append(dst, prometheus.MustNewConstMetric(b.notReady, prometheus.GaugeValue,
			float64(since.Unix()), nr...))
	}
	return dst
}

// readiness returns the ready and reason labels and, when not ready, since
// when. Alerts, Providers and OCI HelmRepositories are static objects that
// Flux does not reconcile and that have no Ready condition: they are ready.
func readiness(kind string, obj *unstructured.Unstructured) (ready, reason string, since time.Time) {
	if isStatic(kind, obj.Object) {
		return True, "", time.Time{}
	}
	cond := fluxobj.ReadyCondition(obj.Object)
	if cond == nil {
		return Unknown, "", obj.GetCreationTimestamp().Time
	}
	ready, _ = cond["status"].(string)
	reason, _ = cond["reason"].(string)
	switch ready {
	case True, False, Unknown:
	default:
		ready = Unknown
	}
	if ready != True {
		if ts, _ := cond["lastTransitionTime"].(string); ts != "" {
			var t metav1.Time
			if err := t.UnmarshalQueryParameter(ts); err == nil {
				since = t.Time
			}
		}
		if since.IsZero() {
			since = obj.GetCreationTimestamp().Time
		}
	}
	return ready, reason, since
}

func isStatic(kind string, o map[string]any) bool {
	switch kind {
	case "Alert", "Provider":
		return true
	case "HelmRepository":
		t, _, _ := unstructured.NestedString(o, "spec", "type")
		return t == "oci"
	}
	return false
}

// kindLabel derives one per-kind label value; docs/metrics.md documents each
// source field.
func kindLabel(kind, label string, o map[string]any) string {
	switch label {
	case "revision":
		return first(o,
			[]string{"status", "lastAttemptedRevision"},
			[]string{"status", "lastAppliedRevision"},
			[]string{"status", "artifact", "revision"})
	case "path":
		return str(o, "spec", "path")
	case "source_name":
		switch kind {
		case "HelmRelease":
			return first(o, []string{"spec", "chartRef", "name"}, []string{"spec", "chart", "spec", "sourceRef", "name"})
		case "ImagePolicy":
			return str(o, "spec", "imageRepositoryRef", "name")
		}
		return str(o, "spec", "sourceRef", "name")
	case "url":
		switch kind {
		case "Bucket":
			return fluxobj.SafeURL(str(o, "spec", "endpoint"))
		case "Receiver":
			return str(o, "status", "webhookPath")
		case "ImageRepository":
			return str(o, "spec", "image")
		}
		return fluxobj.SafeURL(str(o, "spec", "url"))
	case "ref":
		switch kind {
		case "GitRepository":
			// Flux's precedence: commit, name, semver, tag, branch.
			return first(o,
				[]string{"spec", "ref", "commit"},
				[]string{"spec", "ref", "name"},
				[]string{"spec", "ref", "semver"},
				[]string{"spec", "ref", "tag"},
				[]string{"spec", "ref", "branch"})
		case "OCIRepository":
			// Flux's precedence: digest, semver, tag.
			return first(o,
				[]string{"spec", "ref", "digest"},
				[]string{"spec", "ref", "semver"},
				[]string{"spec", "ref", "tag"})
		case "Bucket":
			return str(o, "spec", "bucketName")
		}
	}
	return ""
}

func str(o map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(o, path...)
	return s
}

func first(o map[string]any, paths ...[]string) string {
	for _, p := range paths {
		if s := str(o, p...); s != "" {
			return s
		}
	}
	return ""
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
