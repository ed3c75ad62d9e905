package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// referenceSeries builds the series of n objects as the reference load has
// them (tests/fixtures.Populate): six kinds over 40 namespaces, obj-i in
// bench-(i%40), one in ten failing, one in twenty suspended, sources with an
// artifact, UIDs as the API server makes them, no allow-listed label.
func referenceSeries(tb testing.TB, n int) []Series {
	tb.Helper()
	type kind struct {
		apiVersion, kind string
		spec             func(name string) map[string]any
		source           bool
	}
	kinds := []kind{
		{"source.toolkit.fluxcd.io/v1", "GitRepository", func(n string) map[string]any {
			return map[string]any{"interval": "5m", "url": "https://github.com/example/" + n, "ref": map[string]any{"branch": "main"}}
		}, true},
		{"source.toolkit.fluxcd.io/v1", "OCIRepository", func(n string) map[string]any {
			return map[string]any{"interval": "5m", "url": "oci://ghcr.io/example/" + n, "ref": map[string]any{"tag": "latest"}}
		}, true},
		{"source.toolkit.fluxcd.io/v1", "Bucket", func(n string) map[string]any {
			return map[string]any{"interval": "5m", "endpoint": "minio.example.com", "bucketName": n}
		}, true},
		{"source.toolkit.fluxcd.io/v1", "HelmRepository", func(n string) map[string]any {
			return map[string]any{"interval": "1h", "url": "https://charts.example.com/" + n}
		}, true},
		{"kustomize.toolkit.fluxcd.io/v1", "Kustomization", func(n string) map[string]any {
			return map[string]any{"interval": "10m", "prune": true, "path": "./" + n,
				"sourceRef": map[string]any{"kind": "GitRepository", "name": n}}
		}, false},
		{"helm.toolkit.fluxcd.io/v2", "HelmRelease", func(n string) map[string]any {
			return map[string]any{"interval": "10m", "chart": map[string]any{"spec": map[string]any{
				"chart": n, "sourceRef": map[string]any{"kind": "HelmRepository", "name": n}}}}
		}, false},
	}
	allow, err := ParseAllowlist("")
	if err != nil {
		tb.Fatal(err)
	}
	b := NewResourceBuilder(allow)
	byKind := make([][]unstructured.Unstructured, len(kinds))
	for i := 0; i < n; i++ {
		k := kinds[i%len(kinds)]
		name := fmt.Sprintf("obj-%d", i)
		cond := map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok",
			"lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": int64(1)}
		spec := k.spec(name)
		switch {
		case i%20 == 0:
			spec["suspend"] = true
		case i%10 == 1:
			cond["status"], cond["reason"], cond["message"] = "False", "Failed", "something failed"
		}
		status := map[string]any{"conditions": []any{cond}}
		if k.source {
			status["artifact"] = map[string]any{
				"path": "example/" + name + ".tar.gz", "url": "http://source-controller/example.tar.gz",
				"revision": "main@sha1:0123456789abcdef", "digest": "sha256:0123456789abcdef",
				"lastUpdateTime": "2026-01-01T00:00:00Z", "size": int64(1024 + i),
			}
		}
		o := fluxWithLabels(k.kind, spec, status, nil)
		o.SetAPIVersion(k.apiVersion)
		o.SetName(name)
		o.SetNamespace(fmt.Sprintf("bench-%d", i%40))
		o.SetUID(types.UID(fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i*2654435761%(1<<32), i%65536, i%4096, (i/7)%4096, i*40503)))
		byKind[i%len(kinds)] = append(byKind[i%len(kinds)], *o)
	}
	var out []Series
	for _, items := range byKind {
		out = append(out, b.Build(items, nil).Series...)
	}
	return out
}

func heapInuse() (uint64, uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc
}

// The memory a Rendered of the reference load at 50,000 objects keeps, with
// the segments it handed out: HeapInuse after GC with it, less without it.
//
//	go test -run '^$' -bench RenderedMemory -benchtime 1x ./metrics/
func BenchmarkRenderedMemory(b *testing.B) {
	const objects = 50000
	series := referenceSeries(b, objects)
	text := len(Render(series))
	for i := 0; i < b.N; i++ {
		before, beforeA := heapInuse()
		r := NewRendered()
		r.Reset(series)
		segs, n := r.Segments()
		after, afterA := heapInuse()
		z := 0
		for _, s := range segs {
			z += len(s.Z)
		}
		runtime.KeepAlive(r)
		b.ReportMetric(float64(after-before)/objects, "heap-B/object")
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(afterA-beforeA)/objects, "alloc-B/object")
		b.ReportMetric(float64(text)/objects, "text-B/object")
		b.ReportMetric(float64(z)/objects, "deflate-B/object")
		b.ReportMetric(float64(n), "series")
		b.ReportMetric(float64(len(segs)), "segments")
	}
}

// discard is a ResponseWriter that counts what it is written.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

var _ io.Writer = (*discard)(nil)

// A scrape of the reference load at 50,000 objects, plain and gzip, by the
// handler alone (no network), with an empty registry.
//
//	go test -run '^$' -bench ScrapeAt50000 -benchtime 20x ./metrics/
func BenchmarkScrapeAt50000(b *testing.B) {
	e := &Exposition{}
	if err := e.Swap(Report(nil), referenceSeries(b, 50000)); err != nil {
		b.Fatal(err)
	}
	h := Handler(prometheus.NewPedanticRegistry(), e)
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			b.ReportAllocs()
			var n int
			for i := 0; i < b.N; i++ {
				w := &discard{h: http.Header{}}
				h.ServeHTTP(w, req)
				n = w.n
			}
			b.ReportMetric(float64(n)/1024, "body-KiB")
		})
	}
}

// The Rendered's share of a refresh after one object changed, at 50,000
// objects: a series removed and added back in its chunk (inflated, edited,
// recompressed), then Segments.
//
//	go test -run '^$' -bench RenderedOneChange -benchtime 200x ./metrics/
func BenchmarkRenderedOneChange(b *testing.B) {
	series := referenceSeries(b, 50000)
	r := NewRendered()
	r.Reset(series)
	r.Segments()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := &series[(i*7919)%len(series)]
		if !r.Remove(s) || !r.Add(s) {
			b.Fatal("out of step")
		}
		r.Segments()
	}
}
