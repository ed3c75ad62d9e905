package fluxobj

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// testCompactor reads labels, Static's spec.type and two fields of its own,
// all named in Paths.
var testCompactor = &Compactor{
	Labels: []string{"team", "app.kubernetes.io/name"},
	Static: IsStatic,
	Extract: func(_ string, o map[string]any) []string {
		url, _, _ := unstructured.NestedString(o, "spec", "url")
		rev, _, _ := unstructured.NestedString(o, "status", "lastAppliedRevision")
		_, _, msg := ReadyOf(o)
		return []string{url, rev, msg}
	},
	Paths: append([][]string{
		{"spec", "url"}, {"status", "lastAppliedRevision"}, {"status", "conditions", "*", "message"},
	}, StaticPaths...),
}

// randomObject is a Flux object as the API server sends it, with what the
// binaries skip (managed fields, large annotations, other conditions, the
// rest of the spec and status) around what they read.
func randomObject(r *rand.Rand, i int) map[string]any {
	kinds := []string{"Kustomization", "GitRepository", "HelmRepository", "Alert", "HelmRelease"}
	kind := kinds[r.IntN(len(kinds))]
	meta := map[string]any{
		"name":              fmt.Sprintf("obj-%d", i),
		"namespace":         fmt.Sprintf("ns-%d", r.IntN(5)),
		"uid":               fmt.Sprintf("00000000-0000-0000-0000-%012d", i),
		"resourceVersion":   fmt.Sprint(1000 + i),
		"generation":        int64(r.IntN(9) + 1),
		"creationTimestamp": "2026-12-01T10:00:00Z",
		"managedFields": []any{map[string]any{
			"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
			"fieldsType": "FieldsV1", "time": "2026-12-01T10:00:00Z",
			"fieldsV1": map[string]any{"f:spec": map[string]any{"f:interval": map[string]any{}, "f:path": map[string]any{}}},
		}},
		"annotations": map[string]any{
			"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat(`{"a":"\"quoted\" \u00e9"}`, 20),
		},
	}
	if r.IntN(2) == 0 {
		meta["labels"] = map[string]any{"team": "a\"b\\c", "other": "x", "app.kubernetes.io/name": "demo"}
	}
	if r.IntN(10) == 0 {
		meta["deletionTimestamp"] = "2026-12-02T10:00:00Z"
		meta["finalizers"] = []any{"finalizers.fluxcd.io"}
	}
	spec := map[string]any{
		"interval": "10m", "path": "./apps", "prune": true, "timeout": 3.5,
		"sourceRef": map[string]any{"kind": "GitRepository", "name": "fleet"},
		"patches":   []any{map[string]any{"patch": "- op: add\n  path: /x\n", "target": map[string]any{"kind": "Deployment"}}},
	}
	switch r.IntN(3) {
	case 0:
		spec["suspend"] = true
	case 1:
		spec["suspend"] = false
	}
	if r.IntN(2) == 0 {
		spec["url"] = "https://github.com/org/repo?x=\u2603"
	}
	if kind == "HelmRepository" && r.IntN(2) == 0 {
		spec["type"] = "oci"
	}
	obj := map[string]any{
		"apiVersion": "fluxcd.example/v1",
		"kind":       kind,
		"metadata":   meta,
		"spec":       spec,
	}
	if r.IntN(5) > 0 {
		var conds []any
		conds = append(conds, map[string]any{"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "working", "observedGeneration": int64(1)})
		if r.IntN(4) > 0 {
			statuses := []string{"True", "False", "Unknown"}
			conds = append(conds, map[string]any{
				"type": "Ready", "status": statuses[r.IntN(3)], "reason": "ReconciliationSucceeded",
				"message":            "Applied revision: main@sha1:" + strings.Repeat("ab", 20) + "\nline two",
				"lastTransitionTime": "2026-12-03T11:12:13Z", "observedGeneration": int64(2),
			})
		}
		status := map[string]any{
			"conditions":          conds,
			"lastAppliedRevision": "main@sha1:1234",
			"inventory":           map[string]any{"entries": []any{map[string]any{"id": "ns_name_apps_Deployment", "v": "v1"}}},
			"history":             []any{map[string]any{"digest": "sha256:abc", "totalReconciliations": int64(7)}},
		}
		switch r.IntN(3) {
		case 0:
			status["artifact"] = map[string]any{"size": int64(r.IntN(1 << 30)), "revision": "x", "digest": "sha256:00"}
		case 1:
			status["artifact"] = map[string]any{"revision": "x"}
		}
		obj["status"] = status
	}
	return obj
}

// fullDecode decodes as an unstructured informer does.
func fullDecode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	if _, _, err := unstructured.UnstructuredJSONScheme.Decode(data, nil, u); err != nil {
		t.Fatal(err)
	}
	return u.Object
}

func TestDecoderMakesTheObjectsOfAFullDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dec := testCompactor.Decoder()
	for i := range 500 {
		obj := randomObject(r, i)
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		want := testCompactor.Compact(fullDecode(t, data))
		got, err := dec.Object(data)
		if err != nil {
			t.Fatalf("object %d: %v\n%s", i, err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("object %d decodes to\n%#v\nwant (full decode, then Compact)\n%#v\nfrom %s", i, got, want, data)
		}
	}
}

func TestDecoderLeavesOutWhatPathsDoNotName(t *testing.T) {
	c := &Compactor{Extract: func(_ string, o map[string]any) []string {
		url, _, _ := unstructured.NestedString(o, "spec", "url")
		return []string{url}
	}}
	data := []byte(`{"apiVersion":"v1","kind":"GitRepository","metadata":{"name":"a"},"spec":{"url":"https://x"}}`)
	o, err := c.Decoder().Object(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.(*Object).Values; !reflect.DeepEqual(got, []string{""}) {
		t.Errorf("without Paths, spec.url is decoded as %q, want it absent", got)
	}
	c.Paths = [][]string{{"spec", "url"}}
	o, err = c.Decoder().Object(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.(*Object).Values; !reflect.DeepEqual(got, []string{"https://x"}) {
		t.Errorf("with Paths, spec.url is decoded as %q", got)
	}
}

func TestDecoderReadsListsStatusesAndBookmarks(t *testing.T) {
	dec := testCompactor.Decoder()
	list := []byte(`{"apiVersion":"fluxcd.example/v1","items":[` +
		`{"apiVersion":"fluxcd.example/v1","kind":"Kustomization","metadata":{"name":"a","namespace":"n","resourceVersion":"7"},"spec":{"suspend":true}},` +
		`{"metadata":{"name":"b","namespace":"n"}}` +
		`],"kind":"KustomizationList","metadata":{"resourceVersion":"42","continue":"tok","remainingItemCount":3}}`)
	obj, err := dec.Object(list)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := obj.(*ObjectList)
	if !ok {
		t.Fatalf("a list decodes to %T", obj)
	}
	if l.ResourceVersion != "42" || l.Continue != "tok" || l.RemainingItemCount == nil || *l.RemainingItemCount != 3 {
		t.Errorf("list metadata = %+v", l.ListMeta)
	}
	if len(l.Items) != 2 || l.Items[0].Name != "a" || !l.Items[0].Suspended || l.Items[0].ResourceVersion != "7" {
		t.Fatalf("items = %+v", l.Items)
	}
	if l.Items[1].Kind != "Kustomization" || l.Items[1].APIVersion != "fluxcd.example/v1" {
		t.Errorf("an item without its kind has %q %q, want the list's", l.Items[1].APIVersion, l.Items[1].Kind)
	}
	empty, err := dec.Object([]byte(`{"apiVersion":"v1","kind":"GitRepositoryList","metadata":{"resourceVersion":"9"},"items":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := empty.(*ObjectList); !ok || len(l.Items) != 0 || l.ResourceVersion != "9" {
		t.Errorf("an empty list decodes to %#v", empty)
	}

	status, err := dec.Object([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
		`"message":"too old resource version: 1 (5)","reason":"Expired","code":410,"details":{"causes":[{"message":"x"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := status.(*metav1.Status)
	if !ok {
		t.Fatalf("a Status decodes to %T", status)
	}
	if s.Code != 410 || s.Reason != metav1.StatusReasonExpired || s.Status != metav1.StatusFailure ||
		s.Message != "too old resource version: 1 (5)" || s.Details == nil || len(s.Details.Causes) != 1 {
		t.Errorf("Status = %+v", s)
	}

	bookmark, err := dec.Object([]byte(`{"kind":"Kustomization","apiVersion":"fluxcd.example/v1","metadata":{"resourceVersion":"99",` +
		`"creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true","other":"x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	b := bookmark.(*Object)
	if b.ResourceVersion != "99" || !reflect.DeepEqual(b.Annotations, map[string]string{metav1.InitialEventsAnnotationKey: "true"}) {
		t.Errorf("bookmark = rv %q annotations %v", b.ResourceVersion, b.Annotations)
	}

	for _, bad := range []string{`{"kind":"Kustomization","metadata":{"name":"a"`, `[1,2]`, `{"metadata":{"name":}}`, ``} {
		if _, err := dec.Object([]byte(bad)); err == nil {
			t.Errorf("%q decodes without an error", bad)
		}
	}
}

func TestWatchDecoderReadsAStreamOfEvents(t *testing.T) {
	var stream bytes.Buffer
	r := rand.New(rand.NewPCG(3, 4))
	var want []map[string]any
	types := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
	for i := range 50 {
		obj := randomObject(r, i)
		want = append(want, obj)
		ev, _ := json.Marshal(map[string]any{"type": types[i%3], "object": obj})
		stream.Write(ev)
		stream.WriteByte('\n')
	}
	stream.WriteString(`{"type":"BOOKMARK","object":{"kind":"Kustomization","apiVersion":"fluxcd.example/v1","metadata":{"resourceVersion":"5000","annotations":{"k8s.io/initial-events-end":"true"}}}}` + "\n")
	// The object before the type, as the protocol allows.
	stream.WriteString(`{"object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"gone"},"type":"ERROR"}`)
	dec := testCompactor.Decoder()
	w := &watchDecoder{body: io.NopCloser(&stream), json: newStreamDecoder(&stream), dec: dec}
	for i, obj := range want {
		typ, got, err := w.Decode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		data, _ := json.Marshal(obj)
		if typ != types[i%3] || !reflect.DeepEqual(got, testCompactor.Compact(fullDecode(t, data))) {
			t.Fatalf("event %d = %s %#v", i, typ, got)
		}
	}
	typ, got, err := w.Decode()
	if err != nil || typ != watch.Bookmark || got.(*Object).Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("bookmark = %s %#v %v", typ, got, err)
	}
	typ, got, err = w.Decode()
	if err != nil || typ != watch.Error || got.(*metav1.Status).Code != 410 {
		t.Fatalf("error event = %s %#v %v", typ, got, err)
	}
	if _, _, err := w.Decode(); err != io.EOF {
		t.Fatalf("at the end of the stream: %v, want io.EOF", err)
	}

	truncated := `{"type":"ADDED","object":{"kind":"Kustomization","metadata":{"name":"a"`
	w = &watchDecoder{body: io.NopCloser(strings.NewReader(truncated)), json: newStreamDecoder(strings.NewReader(truncated)), dec: dec}
	if _, _, err := w.Decode(); err == nil || err == io.EOF {
		t.Fatalf("a stream cut in an event: %v, want an error other than io.EOF", err)
	}
	unknown := `{"type":"RENAMED","object":{"kind":"Kustomization","metadata":{"name":"a"}}}`
	w = &watchDecoder{body: io.NopCloser(strings.NewReader(unknown)), json: newStreamDecoder(strings.NewReader(unknown)), dec: dec}
	if _, _, err := w.Decode(); err == nil || !strings.Contains(err.Error(), "RENAMED") {
		t.Fatalf("an unknown event type: %v", err)
	}
}

// BenchmarkDecode compares, per Flux object, the unstructured decode and
// Compact that informers did with the Decoder.
func BenchmarkDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	var objs [][]byte
	for i := range 100 {
		data, _ := json.Marshal(randomObject(r, i))
		objs = append(objs, data)
	}
	b.Run("unstructured", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			testCompactor.Compact(fullDecode(b, objs[i%len(objs)]))
		}
	})
	b.Run("decoder", func(b *testing.B) {
		dec := testCompactor.Decoder()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := dec.Object(objs[i%len(objs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
