package metrics

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// keptPaths are the fields of a Flux object the series are built from.
var keptPaths = [][]string{
	{"spec", "suspend"},
	{"spec", "path"},
	{"spec", "url"},
	{"spec", "endpoint"},
	{"spec", "bucketName"},
	{"spec", "type"},
	{"spec", "image"},
	{"spec", "sourceRef", "name"},
	{"spec", "chartRef", "name"},
	{"spec", "chart", "spec", "sourceRef", "name"},
	{"spec", "imageRepositoryRef", "name"},
	{"spec", "ref", "commit"},
	{"spec", "ref", "name"},
	{"spec", "ref", "semver"},
	{"spec", "ref", "tag"},
	{"spec", "ref", "branch"},
	{"spec", "ref", "digest"},
	{"status", "lastAttemptedRevision"},
	{"status", "lastAppliedRevision"},
	{"status", "artifact", "revision"},
	{"status", "webhookPath"},
}

// NewTransform returns the cache transform of the exporter: managed fields
// are dropped from every object, and Flux objects keep only their identity,
// the allow-listed labels, the Ready condition and the fields in keptPaths.
// With 12,000 Flux objects this keeps the cache small.
func NewTransform(allow Allowlist) cache.TransformFunc {
	return func(in any) (any, error) {
		switch obj := in.(type) {
		case *unstructured.Unstructured:
			obj.Object = prune(obj.Object, allow)
			return obj, nil
		case metav1.Object:
			obj.SetManagedFields(nil)
		}
		return in, nil
	}
}

func prune(o map[string]any, allow Allowlist) map[string]any {
	out := map[string]any{"apiVersion": o["apiVersion"], "kind": o["kind"]}
	if meta, ok := o["metadata"].(map[string]any); ok {
		kept := map[string]any{}
		for _, k := range []string{"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"} {
			if v, ok := meta[k]; ok {
				kept[k] = v
			}
		}
		if labels, ok := meta["labels"].(map[string]any); ok && len(allow.keys) > 0 {
			l := map[string]any{}
			for _, k := range allow.keys {
				if v, ok := labels[k]; ok {
					l[k] = v
				}
			}
			if len(l) > 0 {
				kept["labels"] = l
			}
		}
		out["metadata"] = kept
	}
	for _, p := range keptPaths {
		if v, ok, _ := unstructured.NestedFieldNoCopy(o, p...); ok {
			_ = unstructured.SetNestedField(out, v, p...)
		}
	}
	if c := readyCondition(o); c != nil {
		_ = unstructured.SetNestedField(out, []any{c}, "status", "conditions")
	}
	return out
}

// readyCondition returns a copy of the Ready condition with only what the
// series use.
func readyCondition(o map[string]any) map[string]any {
	cm := fluxobj.ReadyCondition(o)
	if cm == nil {
		return nil
	}
	kept := map[string]any{}
	for _, k := range []string{"type", "status", "reason", "lastTransitionTime"} {
		if v, ok := cm[k]; ok {
			kept[k] = v
		}
	}
	return kept
}
