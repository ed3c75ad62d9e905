package metrics

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	allow     Allowlist
	info      map[string]*shape // by kind
	common    *shape            // kinds without extra labels
	notReady  *shape
	compactor *fluxobj.Compactor
}

// shape is the label set of a kind's series: the names in the order the
// values are given (declared), and the same names sorted, which is the order
// the series hold their values in and the order the exposition writes them.
type shape struct {
	family, help string
	desc         *prometheus.Desc
	sorted       []string
	pos          []int // pos[i]: where the i-th declared label is in sorted
}

func newShape(family, help string, names []string) *shape {
	sh := &shape{family: family, help: help, desc: prometheus.NewDesc(family, help, names, nil),
		sorted: slices.Sorted(slices.Values(names)), pos: make([]int, len(names))}
	for i, n := range names {
		sh.pos[i] = slices.Index(sh.sorted, n)
	}
	return sh
}

// NewResourceBuilder returns a builder that copies the allow-listed labels.
func NewResourceBuilder(allow Allowlist) *ResourceBuilder {
	b := &ResourceBuilder{allow: allow, info: map[string]*shape{}, compactor: newCompactor(allow)}
	for kind, extra := range KindLabels {
		b.info[kind] = newShape(ResourceInfoName, resourceInfoHelp, concat(CommonLabels, extra, allow.names))
	}
	b.common = newShape(ResourceInfoName, resourceInfoHelp, concat(CommonLabels, allow.names))
	b.notReady = newShape(ResourceNotReadySinceName, notReadyHelp, concat(notReadyLabels, allow.names))
	return b
}

// newCompactor keeps of every Flux object what its series need: the
// allow-listed labels, whether Flux reconciles it, and its per-kind label
// values, computed once when the object enters the cache.
func newCompactor(allow Allowlist) *fluxobj.Compactor {
	return &fluxobj.Compactor{
		Labels: allow.keys,
		Static: fluxobj.IsStatic,
		Paths:  append(slices.Clone(fluxobj.StaticPaths), kindLabelPaths...),
		Extract: func(kind string, o map[string]any) []string {
			extra := KindLabels[kind]
			if len(extra) == 0 {
				return nil
			}
			values := make([]string, len(extra))
			for i, l := range extra {
				values[i] = kindLabel(kind, l, o)
			}
			return values
		},
	}
}

// Series is one series of a Flux resource: its label values, in the sorted
// order of its shape's label names, and its value.
type Series struct {
	shape  *shape
	values []string
	value  float64
}

// Metric returns the series as a constant metric, for the standard encoders.
func (s *Series) Metric() prometheus.Metric {
	declared := make([]string, len(s.values))
	for i, p := range s.shape.pos {
		declared[i] = s.values[p]
	}
	return prometheus.MustNewConstMetric(s.shape.desc, prometheus.GaugeValue, s.value, declared...)
}

// KindSeries are the series of the objects of one Flux kind, the objects
// they were built from, and since when each of those that is not ready has
// been so.
type KindSeries struct {
	// Objects are sorted by namespace and name, for Update to find them.
	Objects  []*fluxobj.Object
	NotReady map[types.UID]time.Time
	Series   []Series
}

// All returns the objects the series are of.
func (ks *KindSeries) All() []*fluxobj.Object { return ks.Objects }

func compareKeys(o *fluxobj.Object, key types.NamespacedName) int {
	if c := strings.Compare(o.Namespace, key.Namespace); c != 0 {
		return c
	}
	return strings.Compare(o.Name, key.Name)
}

func compareObjects(a, b *fluxobj.Object) int {
	return compareKeys(a, types.NamespacedName{Namespace: b.Namespace, Name: b.Name})
}

// Update brings the series of one kind, rendered in r, from the objects ks
// holds to changed: for each key, the object now, nil when it is gone. It
// changes only those objects' series, and their not-ready times as a full
// build from ks would. It returns false when r does not hold the series ks
// says it does; r is then half-updated and must be Reset.
func (b *ResourceBuilder) Update(ks *KindSeries, r *Rendered, changed map[types.NamespacedName]*fluxobj.Object) bool {
	for key, now := range changed {
		i, found := slices.BinarySearchFunc(ks.Objects, key, compareKeys)
		var was *fluxobj.Object
		if found {
			was = ks.Objects[i]
		}
		if was == now {
			continue
		}
		if was != nil {
			for _, s := range b.append(nil, was, ks.NotReady, nil) {
				if !r.Remove(&s) {
					return false
				}
			}
		}
		var since map[types.UID]time.Time
		if now != nil {
			since = map[types.UID]time.Time{}
			for _, s := range b.append(nil, now, ks.NotReady, since) {
				if !r.Add(&s) {
					return false
				}
			}
		}
		switch {
		case was != nil && now != nil:
			ks.Objects[i] = now
		case was != nil:
			ks.Objects = slices.Delete(ks.Objects, i, i+1)
		default:
			ks.Objects = slices.Insert(ks.Objects, i, now)
		}
		if was != nil {
			delete(ks.NotReady, was.UID)
		}
		for uid, t := range since {
			ks.NotReady[uid] = t
		}
	}
	return true
}

// Metrics returns the series as constant metrics.
func (ks *KindSeries) Metrics() []prometheus.Metric {
	out := make([]prometheus.Metric, len(ks.Series))
	for i := range ks.Series {
		out[i] = ks.Series[i].Metric()
	}
	return out
}

// Build builds the series of one kind's objects, as decoded from the API
// (for tests and tools; the exporter's cache holds compact objects, which
// BuildObjects takes).
func (b *ResourceBuilder) Build(items []unstructured.Unstructured, prev *KindSeries) *KindSeries {
	objs := make([]*fluxobj.Object, len(items))
	for i := range items {
		objs[i] = b.compactor.Compact(items[i].Object)
	}
	return b.BuildObjects(objs, prev)
}

// BuildObjects builds the series of one kind's objects, which it sorts by
// namespace and name (objs is kept). prev is what the
// previous build of the kind returned (nil the first time): a resource that
// was not ready then and is still not ready keeps its earlier not-ready time.
// Flux controllers turn Ready from False to Unknown and back on every retry,
// which moves the condition's lastTransitionTime each time; the remembered
// time makes "not ready for 15 minutes" true of a resource that keeps
// failing.
func (b *ResourceBuilder) BuildObjects(objs []*fluxobj.Object, prev *KindSeries) *KindSeries {
	slices.SortFunc(objs, compareObjects)
	ks := &KindSeries{
		Objects:  objs,
		Series:   make([]Series, 0, len(objs)+len(objs)/4),
		NotReady: map[types.UID]time.Time{},
	}
	var before map[types.UID]time.Time
	if prev != nil {
		before = prev.NotReady
	}
	for _, o := range objs {
		ks.Series = b.append(ks.Series, o, before, ks.NotReady)
	}
	return ks
}

// appendFresh appends the series of one Flux object, with no memory of
// earlier refreshes: its flux_resource_info and, when it is neither ready nor
// suspended, its not-ready timestamp.
func (b *ResourceBuilder) appendFresh(dst []prometheus.Metric, obj *unstructured.Unstructured) []prometheus.Metric {
	for _, s := range b.append(nil, b.compactor.Compact(obj.Object), nil, nil) {
		dst = append(dst, s.Metric())
	}
	return dst
}

func (b *ResourceBuilder) append(dst []Series, o *fluxobj.Object, before, after map[types.UID]time.Time) []Series {
	ready, reason, since := readiness(o)
	suspended := False
	if o.Suspended {
		suspended = True
	}
	sh := b.info[o.Kind]
	if sh == nil {
		sh = b.common
	}
	values := make([]string, len(sh.pos))
	set := func(i int, v string) { values[sh.pos[i]] = v }
	for i, v := range [...]string{string(o.UID), o.Kind, o.Name, o.Namespace, ready, reason, suspended} {
		set(i, v)
	}
	n := len(CommonLabels)
	extra := len(KindLabels[o.Kind])
	for i := 0; i < extra; i++ {
		if i < len(o.Values) {
			set(n+i, o.Values[i])
		}
	}
	n += extra
	for i, k := range b.allow.keys {
		set(n+i, o.Labels[k])
	}
	dst = append(dst, Series{shape: sh, values: values, value: 1})

	if ready != True && suspended == False && !since.IsZero() {
		if t, ok := before[o.UID]; ok && t.Before(since) {
			since = t
		}
		if after != nil {
			after[o.UID] = since
		}
		nsh := b.notReady
		nr := make([]string, len(nsh.pos))
		for i, v := range [...]string{string(o.UID), o.Kind, o.Name, o.Namespace} {
			nr[nsh.pos[i]] = v
		}
		for i, k := range b.allow.keys {
			nr[nsh.pos[len(notReadyLabels)+i]] = o.Labels[k]
		}
		dst = append(dst, Series{shape: nsh, values: nr, value: float64(since.Unix())})
	}
	return dst
}

// readiness returns the ready and reason labels and, when not ready, since
// when. Alerts, Providers and OCI HelmRepositories are static objects that
// Flux does not reconcile and that have no Ready condition: they are ready.
func readiness(o *fluxobj.Object) (ready, reason string, since time.Time) {
	if o.Static {
		return True, "", time.Time{}
	}
	if !o.HasReady {
		return Unknown, "", o.CreationTimestamp.Time
	}
	ready, reason = o.Ready.Status, o.Ready.Reason
	switch ready {
	case True, False, Unknown:
	default:
		ready = Unknown
	}
	if ready != True {
		since = o.Ready.LastTransitionTime.Time
		if since.IsZero() {
			since = o.CreationTimestamp.Time
		}
	}
	return ready, reason, since
}

// kindLabel derives one per-kind label value; docs/metrics.md documents each
// source field.
// kindLabelPaths are the fields kindLabel reads, for the Compactor's Paths.
var kindLabelPaths = [][]string{
	{"status", "lastAttemptedRevision"}, {"status", "lastAppliedRevision"}, {"status", "artifact", "revision"},
	{"spec", "path"},
	{"spec", "chartRef", "name"}, {"spec", "chart", "spec", "sourceRef", "name"},
	{"spec", "imageRepositoryRef", "name"}, {"spec", "sourceRef", "name"},
	{"spec", "endpoint"}, {"status", "webhookPath"}, {"spec", "image"}, {"spec", "url"},
	{"spec", "ref"}, {"spec", "bucketName"},
}

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
