package fluxobj

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Decoding Flux objects straight from the API server's JSON into Objects.
//
// An informer of unstructured objects decodes each object whole into maps
// (managed fields, annotations, the spec and the status with every message)
// before its transform keeps a few fields of it: at start-up, with 12,000
// objects, that decoding was most of the reporter's CPU and of its garbage.
// A Compactor's Decoder instead walks the JSON once, builds maps only for the
// paths the Compactor reads (Compact's own and the Compactor's Paths) and
// skips everything else without allocating it.

// pathTree is the set of JSON paths a decode keeps.
type pathTree struct {
	// name is the member name the tree is kept under: the key of the
	// decoded map, shared by every object.
	name string
	// whole keeps the value whole, whatever it holds.
	whole bool
	// children are the object members kept, by name.
	children map[string]*pathTree
	// elems is what is kept of each element of an array.
	elems *pathTree
}

// add keeps path: object member names, and "*" for the elements of an array.
func (t *pathTree) add(path []string) {
	switch {
	case t.whole:
	case len(path) == 0:
		*t = pathTree{name: t.name, whole: true}
	case path[0] == "*":
		if t.elems == nil {
			t.elems = &pathTree{}
		}
		t.elems.add(path[1:])
	default:
		if t.children == nil {
			t.children = map[string]*pathTree{}
		}
		c := t.children[path[0]]
		if c == nil {
			c = &pathTree{name: path[0]}
			t.children[path[0]] = c
		}
		c.add(path[1:])
	}
}

// compactPaths are the paths Compact reads, and those of a Status (code,
// message, reason, details; "status" is a scalar there, which a decode keeps
// where it expects an object) and of a list (items are decoded as objects).
var compactPaths = [][]string{
	{"apiVersion"}, {"kind"},
	{"metadata", "name"}, {"metadata", "namespace"}, {"metadata", "uid"},
	{"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "deletionTimestamp"},
	// The bookmark that ends a watch list's initial events.
	{"metadata", "annotations", metav1.InitialEventsAnnotationKey},
	{"metadata", "continue"}, {"metadata", "remainingItemCount"},
	{"spec", "suspend"},
	{"status", "conditions", "*", "type"}, {"status", "conditions", "*", "status"},
	{"status", "conditions", "*", "reason"}, {"status", "conditions", "*", "lastTransitionTime"},
	{"status", "artifact", "size"},
	{"code"}, {"message"}, {"reason"}, {"details"},
}

// Decoder decodes Flux objects from JSON into Objects as its Compactor
// compacts them, reading only what the Compactor reads. It is safe for
// concurrent use.
type Decoder struct {
	c    *Compactor
	tree *pathTree
}

// Decoder returns the Compactor's Decoder. The Compactor's Paths must name
// every field its Static and Extract functions read: what they do not name
// is not decoded, and they see it absent.
func (c *Compactor) Decoder() *Decoder {
	t := &pathTree{}
	for _, p := range compactPaths {
		t.add(p)
	}
	for _, k := range c.Labels {
		t.add([]string{"metadata", "labels", k})
	}
	for _, p := range c.Paths {
		t.add(p)
	}
	return &Decoder{c: c, tree: t}
}

// decodeOptions: the API server sends valid UTF-8 and no duplicate names,
// and checking either costs time and memory per object.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

var jsonDecoders = sync.Pool{New: func() any { return jsontext.NewDecoder(new(bytes.Buffer), decodeOptions...) }}

// Object decodes one JSON object: a Flux object becomes an *Object, a Status
// a *metav1.Status, and a list (a kind ending in List, or items) an
// *ObjectList.
func (d *Decoder) Object(data []byte) (runtime.Object, error) {
	dec := jsonDecoders.Get().(*jsontext.Decoder)
	dec.Reset(bytes.NewBuffer(data), decodeOptions...)
	defer func() {
		dec.Reset(new(bytes.Buffer), decodeOptions...) // not to keep data
		jsonDecoders.Put(dec)
	}()
	return d.next(dec)
}

// next decodes the next JSON object of dec.
func (d *Decoder) next(dec *jsontext.Decoder) (runtime.Object, error) {
	if k := dec.PeekKind(); k != '{' {
		if k == 0 {
			_, err := dec.ReadToken()
			return nil, err
		}
		return nil, fmt.Errorf("expected a JSON object, found %v", k)
	}
	var items []*Object
	m := map[string]any{}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	for dec.PeekKind() != '}' {
		name, err := readName(dec)
		if err != nil {
			return nil, err
		}
		if name == "items" && dec.PeekKind() == '[' {
			if items, err = d.items(dec); err != nil {
				return nil, err
			}
			continue
		}
		if err := d.member(dec, d.tree, m, name); err != nil {
			return nil, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	return d.finish(m, items)
}

// items decodes the items of a list.
func (d *Decoder) items(dec *jsontext.Decoder) ([]*Object, error) {
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	items := []*Object{}
	for dec.PeekKind() != ']' {
		v, ok, err := d.value(dec, d.tree)
		if err != nil {
			return nil, err
		}
		if m, isMap := v.(map[string]any); ok && isMap {
			items = append(items, d.compact(m))
		}
	}
	_, err := dec.ReadToken()
	return items, err
}

// finish makes the object decoded as m.
func (d *Decoder) finish(m map[string]any, items []*Object) (runtime.Object, error) {
	kind, _ := m["kind"].(string)
	switch {
	case kind == "Status":
		s := &metav1.Status{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, s); err != nil {
			return nil, fmt.Errorf("failed to decode a Status: %w", err)
		}
		return s, nil
	case items != nil || strings.HasSuffix(kind, "List"):
		l := &ObjectList{Items: items}
		l.APIVersion, l.Kind = intern(str(m["apiVersion"])), intern(kind)
		if meta, ok := m["metadata"].(map[string]any); ok {
			l.ResourceVersion = str(meta["resourceVersion"])
			l.Continue = str(meta["continue"])
			if n, ok := meta["remainingItemCount"].(int64); ok {
				l.RemainingItemCount = &n
			}
		}
		// An item without its kind (the API server sends it) takes the
		// list's.
		for _, o := range l.Items {
			if o.Kind == "" {
				o.APIVersion, o.Kind = l.APIVersion, intern(strings.TrimSuffix(kind, "List"))
			}
		}
		return l, nil
	}
	return d.compact(m), nil
}

func (d *Decoder) compact(m map[string]any) *Object {
	o := d.c.Compact(m)
	if meta, ok := m["metadata"].(map[string]any); ok {
		if a, ok := meta["annotations"].(map[string]any); ok {
			if v, ok := a[metav1.InitialEventsAnnotationKey].(string); ok {
				o.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: v}
			}
		}
	}
	return o
}

// member decodes the value of the member name of an object into m, when t
// keeps it.
func (d *Decoder) member(dec *jsontext.Decoder, t *pathTree, m map[string]any, name string) error {
	c := t.children[name]
	if c == nil {
		return dec.SkipValue()
	}
	v, ok, err := d.value(dec, c)
	if ok {
		m[c.name] = v
	}
	return err
}

// value decodes the next value as t keeps it; ok is false when nothing of
// it is kept (an array where t expects an object, or the reverse).
func (d *Decoder) value(dec *jsontext.Decoder, t *pathTree) (v any, ok bool, err error) {
	if t.whole {
		v, err = whole(dec)
		return v, err == nil, err
	}
	switch dec.PeekKind() {
	case '{':
		if t.children == nil {
			return nil, false, dec.SkipValue()
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, false, err
		}
		m := map[string]any{}
		for dec.PeekKind() != '}' {
			name, err := readName(dec)
			if err != nil {
				return nil, false, err
			}
			if err := d.member(dec, t, m, name); err != nil {
				return nil, false, err
			}
		}
		_, err := dec.ReadToken()
		return m, err == nil, err
	case '[':
		if t.elems == nil {
			return nil, false, dec.SkipValue()
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, false, err
		}
		a := []any{}
		for dec.PeekKind() != ']' {
			e, ok, err := d.value(dec, t.elems)
			if err != nil {
				return nil, false, err
			}
			if ok {
				a = append(a, e)
			}
		}
		_, err := dec.ReadToken()
		return a, err == nil, err
	case 0:
		_, err := dec.ReadToken()
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, false, err
	}
	// A scalar where t expects an object or an array: kept, as a Status's
	// "status" is.
	v, err = whole(dec)
	return v, err == nil, err
}

// readName reads an object member's name. A name without escapes, which is
// every name a Flux object has, is compared by the caller without being
// copied: the string returned is only valid until the next read.
func readName(dec *jsontext.Decoder) (string, error) {
	v, err := dec.ReadValue()
	if err != nil {
		return "", err
	}
	if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 {
		return unsafeString(v[1 : len(v)-1]), nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	return string(b), err
}

// whole decodes the next value whole, as the unstructured decoder does:
// objects as map[string]any, arrays as []any, integers as int64, other
// numbers as float64.
func whole(dec *jsontext.Decoder) (any, error) {
	switch dec.PeekKind() {
	case '{':
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		m := map[string]any{}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			name := tok.String() // the token is valid until the next read
			v, err := whole(dec)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		_, err := dec.ReadToken()
		return m, err
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		a := []any{}
		for dec.PeekKind() != ']' {
			v, err := whole(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.ReadToken()
		return a, err
	case '0':
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %s: %w", v, err)
		}
		return f, nil
	case 0:
		_, err := dec.ReadToken()
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '"':
		return tok.String(), nil
	case 't', 'f':
		return tok.Bool(), nil
	}
	return nil, nil
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// ObjectList is a list of Objects, as a Decoder decodes a list.
type ObjectList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []*Object
}

// DeepCopyObject implements runtime.Object.
func (l *ObjectList) DeepCopyObject() runtime.Object {
	out := &ObjectList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	out.Items = make([]*Object, len(l.Items))
	for i, o := range l.Items {
		out.Items[i] = o.DeepCopyObject().(*Object)
	}
	return out
}
