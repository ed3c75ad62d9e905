package fluxobj

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Object is a Flux object as the reporter and the exporter cache it: the few
// fields they read, typed, in a few hundred bytes instead of the several KiB
// of a decoded object. A cache transform (Compactor) makes one from each
// object the API server sends, so an informer of 50,000 Flux objects holds
// 50,000 of these. Strings that repeat across objects (kinds, API versions,
// namespaces, condition statuses and reasons) are interned.
//
// Objects in the cache are shared: readers must not change them.
type Object struct {
	metav1.TypeMeta
	// ObjectMeta holds the name, namespace, uid, resourceVersion,
	// generation, creation and deletion times, and only the labels the
	// Compactor keeps.
	metav1.ObjectMeta

	// Suspended is spec.suspend.
	Suspended bool
	// Static marks kinds Flux does not reconcile and that have no Ready
	// condition (Alerts, Providers, OCI HelmRepositories), as the
	// Compactor's Static function decides.
	Static bool
	// HasReady tells whether the object has a Ready condition; Ready holds it.
	HasReady bool
	Ready    Condition
	// ArtifactSize is status.artifact.size; HasArtifactSize tells whether it
	// is set.
	HasArtifactSize bool
	ArtifactSize    int64
	// Values are what the Compactor's Extract function took from the
	// object, in the order it defines.
	Values []string
}

// Condition is the part of a Ready condition the binaries read.
type Condition struct {
	Status, Reason     string
	LastTransitionTime metav1.Time
}

// DeepCopyObject implements runtime.Object.
func (o *Object) DeepCopyObject() runtime.Object {
	out := *o
	o.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Values = append([]string(nil), o.Values...)
	o.Ready.LastTransitionTime.DeepCopyInto(&out.Ready.LastTransitionTime)
	return &out
}

// Unstructured returns the object as an unstructured object holding the
// fields Object keeps, for code that reads the cache the generic way.
func (o *Object) Unstructured() *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(o.APIVersion)
	u.SetKind(o.Kind)
	u.SetName(o.Name)
	u.SetNamespace(o.Namespace)
	u.SetUID(o.UID)
	u.SetResourceVersion(o.ResourceVersion)
	u.SetGeneration(o.Generation)
	u.SetCreationTimestamp(o.CreationTimestamp)
	if o.DeletionTimestamp != nil {
		u.SetDeletionTimestamp(o.DeletionTimestamp)
	}
	if len(o.Labels) > 0 {
		u.SetLabels(o.Labels)
	}
	if o.Suspended {
		u.Object["spec"] = map[string]any{"suspend": true}
	}
	status := map[string]any{}
	if o.HasReady {
		c := map[string]any{"type": "Ready", "status": o.Ready.Status, "reason": o.Ready.Reason}
		if !o.Ready.LastTransitionTime.IsZero() {
			c["lastTransitionTime"] = o.Ready.LastTransitionTime.UTC().Format("2006-01-02T15:04:05Z")
		}
		status["conditions"] = []any{c}
	}
	if o.HasArtifactSize {
		status["artifact"] = map[string]any{"size": o.ArtifactSize}
	}
	if len(status) > 0 {
		u.Object["status"] = status
	}
	return u
}

// Compactor turns the Flux objects an informer receives into Objects.
type Compactor struct {
	// Labels are the label keys kept.
	Labels []string
	// Static, when set, tells which objects Flux does not reconcile.
	Static func(kind string, obj map[string]any) bool
	// Extract, when set, fills Object.Values.
	Extract func(kind string, obj map[string]any) []string
	// Paths are the fields Static and Extract read, as JSON paths (member
	// names; "*" for every element of an array). A Decoder decodes only
	// these and those Compact reads: a field they read and Paths does not
	// name is absent to them.
	Paths [][]string
}

// Transform is a cache transform: an *unstructured.Unstructured becomes an
// *Object (ok true); anything else is returned as it is, with ok false.
func (c *Compactor) Transform(in any) (out any, ok bool) {
	u, isU := in.(*unstructured.Unstructured)
	if !isU {
		return in, false
	}
	return c.Compact(u.Object), true
}

// Compact makes the Object of a decoded Flux object.
func (c *Compactor) Compact(obj map[string]any) *Object {
	o := &Object{}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	o.APIVersion, o.Kind = intern(apiVersion), intern(kind)
	if meta, ok := obj["metadata"].(map[string]any); ok {
		o.Name, _ = meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		o.Namespace = intern(ns)
		uid, _ := meta["uid"].(string)
		o.UID = types.UID(uid)
		o.ResourceVersion, _ = meta["resourceVersion"].(string)
		o.Generation = toInt64(meta["generation"])
		o.CreationTimestamp = parseTime(meta["creationTimestamp"])
		if _, ok := meta["deletionTimestamp"]; ok {
			t := parseTime(meta["deletionTimestamp"])
			o.DeletionTimestamp = &t
		}
		if labels, ok := meta["labels"].(map[string]any); ok && len(c.Labels) > 0 {
			for _, k := range c.Labels {
				if v, ok := labels[k].(string); ok {
					if o.Labels == nil {
						o.Labels = make(map[string]string, len(c.Labels))
					}
					o.Labels[k] = v
				}
			}
		}
	}
	if spec, ok := obj["spec"].(map[string]any); ok {
		o.Suspended, _ = spec["suspend"].(bool)
	}
	if cond := ReadyCondition(obj); cond != nil {
		o.HasReady = true
		status, _ := cond["status"].(string)
		reason, _ := cond["reason"].(string)
		o.Ready = Condition{Status: intern(status), Reason: intern(reason), LastTransitionTime: parseTime(cond["lastTransitionTime"])}
	}
	if v, ok, _ := unstructured.NestedFieldNoCopy(obj, "status", "artifact", "size"); ok {
		switch n := v.(type) {
		case int64, float64, int32, int:
			o.HasArtifactSize, o.ArtifactSize = true, toInt64(n)
		}
	}
	if c.Static != nil {
		o.Static = c.Static(kind, obj)
	}
	if c.Extract != nil {
		o.Values = c.Extract(kind, obj)
	}
	return o
}

// intern returns the canonical copy of s, so the many objects that share a
// namespace, a kind or a reason share one string.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

func parseTime(v any) metav1.Time {
	s, _ := v.(string)
	var t metav1.Time
	if s != "" {
		_ = t.UnmarshalQueryParameter(s)
	}
	return t
}

var (
	releaseOnce sync.Once
	releasing   atomic.Bool
)

// SteadyGCPercent is, when positive, the garbage collection target (GOGC)
// that ReleaseInitialList sets once the first lists are compacted: the
// start, which decodes every object once, runs with Go's default, and the
// steady state, whose garbage (scrapes, reports) would otherwise hold the
// heap at twice what is live, with this one. A binary's main sets it when
// the GOGC environment variable is not set.
var SteadyGCPercent int

// ReleaseInitialList returns to the operating system, once per process, the
// memory the first lists of Flux objects left behind: every object arrives
// decoded whole before its transform makes it compact, and without this the
// freed pages stay resident until the runtime's background scavenger gets to
// them, long after. Call it when the first read of every kind is done.
func ReleaseInitialList() {
	releaseOnce.Do(func() {
		if SteadyGCPercent > 0 {
			debug.SetGCPercent(SteadyGCPercent)
		}
		ReleaseMemory()
		_, _ = releaseStartupPages() // an old kernel keeps them: nothing to do
	})
}

// ReleaseMemory returns to the operating system, in the background, the
// memory freed since the last collection; a call while one runs is dropped.
// The exporter calls it after rebuilding its exposition, whose old and new
// copies and build rows are a burst of garbage several MiB large that would
// otherwise stay resident as the heap's headroom.
func ReleaseMemory() {
	if releasing.CompareAndSwap(false, true) {
		go func() {
			defer releasing.Store(false)
			debug.FreeOSMemory()
		}()
	}
}

// StaticPaths are the fields IsStatic reads, for a Compactor's Paths.
var StaticPaths = [][]string{{"spec", "type"}}

// IsStatic tells the objects Flux does not reconcile and that have no Ready
// condition: Alerts, Providers and OCI HelmRepositories. It is a
// Compactor's Static.
func IsStatic(kind string, obj map[string]any) bool {
	switch kind {
	case "Alert", "Provider":
		return true
	case "HelmRepository":
		t, _, _ := unstructured.NestedString(obj, "spec", "type")
		return t == "oci"
	}
	return false
}
