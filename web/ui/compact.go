package ui

import (
	"strings"
	"unicode/utf8"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// What the UI keeps of each Flux object beyond fluxobj.Object's fields, in
// Object.Values at these positions.
const (
	vMessage = iota
	vRevision
	// vSource is the source as kind/namespace/name, interned: the many
	// objects of one source share it.
	vSource
	nValues
)

// MaxMessage bounds the Ready message kept per object: a list row shows its
// start, the resource page reads the whole object from the API server.
const MaxMessage = 240

// compactor makes the UI's Objects.
var compactor = &fluxobj.Compactor{Static: fluxobj.IsStatic, Extract: extract, Paths: append([][]string{
	{"status", "conditions", "*", "message"},
	{"status", "lastAttemptedRevision"}, {"status", "lastAppliedRevision"}, {"status", "artifact", "revision"},
	{"spec", "chartRef"}, {"spec", "chart", "spec", "sourceRef"}, {"spec", "imageRepositoryRef"}, {"spec", "sourceRef"},
}, fluxobj.StaticPaths...)}

// NewCache is the web UI's NewCache: its informers of Flux kinds decode
// straight into the compactor's Objects, reading only the fields extract
// and the Compactor read (the Paths above).
var NewCache = fluxobj.NewCompactCacheFor(compactor)

// NewTransform returns the cache transform of the web UI: every Flux object
// becomes a fluxobj.Object holding its kind, namespace, name and creation
// time, its Ready condition and the start of its message, its revision and
// its source; managed fields are dropped from every other object. Strings
// that repeat across objects (messages, revisions, sources) are interned, and
// the UID and resource version, which no page shows, are not kept: with
// 50,000 objects every byte per object is 50 KB.
func NewTransform() cache.TransformFunc {
	c := compactor
	return func(in any) (any, error) {
		if out, ok := c.Transform(in); ok {
			in = out
		}
		switch obj := in.(type) {
		case *fluxobj.Object: // compacted above, or decoded as one
			obj.UID, obj.ResourceVersion = "", ""
		case metav1.Object:
			obj.SetManagedFields(nil)
		}
		return in, nil
	}
}

func extract(kind string, o map[string]any) []string {
	v := make([]string, nValues)
	_, _, msg := fluxobj.ReadyOf(o)
	v[vMessage] = intern(truncate(msg, MaxMessage))
	v[vRevision] = intern(first(o,
		[]string{"status", "lastAttemptedRevision"},
		[]string{"status", "lastAppliedRevision"},
		[]string{"status", "artifact", "revision"}))
	if ref := sourceRef(kind, o); ref.name != "" {
		v[vSource] = intern(ref.kind + "/" + ref.namespace + "/" + ref.name)
	}
	return v
}

type objectRef struct{ kind, name, namespace string }

// sourceOf is the source an Object reads from, its namespace filled in.
func sourceOf(o *fluxobj.Object) (objectRef, bool) {
	kind, rest, ok := strings.Cut(value(o, vSource), "/")
	if !ok {
		return objectRef{}, false
	}
	ns, name, _ := strings.Cut(rest, "/")
	if ns == "" {
		ns = o.Namespace
	}
	return objectRef{kind: kind, namespace: ns, name: name}, true
}

// sourceRef is the source an object reads from, as its spec names it; the
// namespace is empty when it is the object's own.
func sourceRef(kind string, o map[string]any) objectRef {
	read := func(path ...string) objectRef {
		m, ok, _ := unstructured.NestedMap(o, path...)
		if !ok {
			return objectRef{}
		}
		r := objectRef{}
		r.kind, _ = m["kind"].(string)
		r.name, _ = m["name"].(string)
		r.namespace, _ = m["namespace"].(string)
		return r
	}
	switch kind {
	case "HelmRelease":
		if r := read("spec", "chartRef"); r.name != "" {
			return r
		}
		return read("spec", "chart", "spec", "sourceRef")
	case "ImagePolicy":
		r := read("spec", "imageRepositoryRef")
		r.kind = "ImageRepository"
		return r
	case "Kustomization", "HelmChart", "ImageUpdateAutomation":
		return read("spec", "sourceRef")
	}
	return objectRef{}
}

func first(o map[string]any, paths ...[]string) string {
	for _, p := range paths {
		if s, ok, _ := unstructured.NestedString(o, p...); ok && s != "" {
			return s
		}
	}
	return ""
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// value returns one of the UI's values of o.
func value(o *fluxobj.Object, i int) string {
	if i < len(o.Values) {
		return o.Values[i]
	}
	return ""
}
