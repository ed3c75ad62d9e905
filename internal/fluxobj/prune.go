package fluxobj

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// identityFields are the metadata fields every pruned object keeps.
var identityFields = []string{"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"}

// Pruner shrinks a Flux object, read as unstructured, to what a binary reads
// from it, so an informer cache of tens of thousands of Flux objects stays
// small. A pruned object keeps its apiVersion, kind and identity metadata,
// the labels named in Labels, the fields at Paths and the Ready condition;
// everything else (managed fields, annotations, the rest of spec and status,
// other conditions) is dropped.
type Pruner struct {
	// Labels are the label keys kept.
	Labels []string
	// Paths are the fields kept, each a path from the object's root, e.g.
	// {"spec", "suspend"}.
	Paths [][]string
	// ReadyFields are the fields of the Ready condition kept; nil keeps them
	// all.
	ReadyFields []string
}

// Prune returns the pruned copy of o. It shares the kept values with o, so
// o must not be changed afterwards; a cache transform hands over its input.
func (p *Pruner) Prune(o map[string]any) map[string]any {
	out := map[string]any{"apiVersion": o["apiVersion"], "kind": o["kind"]}
	if meta, ok := o["metadata"].(map[string]any); ok {
		kept := make(map[string]any, len(identityFields)+1)
		for _, k := range identityFields {
			if v, ok := meta[k]; ok {
				kept[k] = v
			}
		}
		if labels, ok := meta["labels"].(map[string]any); ok && len(p.Labels) > 0 {
			l := map[string]any{}
			for _, k := range p.Labels {
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
	for _, path := range p.Paths {
		if v, ok, _ := unstructured.NestedFieldNoCopy(o, path...); ok {
			setNested(out, v, path)
		}
	}
	if c := ReadyCondition(o); c != nil {
		if p.ReadyFields != nil {
			kept := make(map[string]any, len(p.ReadyFields))
			for _, k := range p.ReadyFields {
				if v, ok := c[k]; ok {
					kept[k] = v
				}
			}
			c = kept
		}
		setNested(out, []any{c}, []string{"status", "conditions"})
	}
	return out
}

// Transform prunes an *unstructured.Unstructured in place and returns it, as
// a cache transform does; it returns other values as they are, with ok false.
func (p *Pruner) Transform(in any) (out any, ok bool) {
	u, isU := in.(*unstructured.Unstructured)
	if !isU {
		return in, false
	}
	u.Object = p.Prune(u.Object)
	return u, true
}

// setNested sets v at path in o, creating the maps on the way. Unlike
// unstructured.SetNestedField it does not deep-copy v, which the cache does
// not need: the input object is discarded.
func setNested(o map[string]any, v any, path []string) {
	m := o
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
