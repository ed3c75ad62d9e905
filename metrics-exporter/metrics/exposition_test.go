package metrics

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// variedSeries builds the series of objects of every kind with labels,
// per-kind values and statuses of all sorts, including values that need
// escaping and an allow-listed label some objects lack.
func variedSeries(t *testing.T) []Series {
	t.Helper()
	a, err := ParseAllowlist("team,app.kubernetes.io/part-of")
	if err != nil {
		t.Fatal(err)
	}
	b := NewResourceBuilder(a)
	kinds := []string{"Kustomization", "GitRepository", "OCIRepository", "Bucket", "HelmRelease", "HelmChart",
		"HelmRepository", "Receiver", "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "Alert", "Provider",
		"ExternalArtifact", "ArtifactGenerator"}
	var items []unstructured.Unstructured
	for i := 0; i < 300; i++ {
		kind := kinds[i%len(kinds)]
		spec := map[string]any{
			"url": fmt.Sprintf("https://user:pw@git.example.com/org/repo-%d?token=x", i%7), "path": fmt.Sprintf("./apps/%d", i%5),
			"sourceRef": map[string]any{"name": fmt.Sprintf("src-%d", i%3)}, "ref": map[string]any{"branch": "main", "tag": "v1"},
			"endpoint": "minio.example.com", "bucketName": "b", "image": "ghcr.io/org/app", "chartRef": map[string]any{"name": "c"},
			"imageRepositoryRef": map[string]any{"name": "r"},
		}
		if i%20 == 0 {
			spec["suspend"] = true
		}
		if i%31 == 0 {
			spec["type"] = "oci"
		}
		status := map[string]any{"lastAttemptedRevision": fmt.Sprintf("main@sha1:%040d", i)}
		switch i % 10 {
		case 1:
			status["conditions"] = []any{map[string]any{"type": "Ready", "status": "False", "reason": "Failed",
				"lastTransitionTime": fmt.Sprintf("2026-03-04T10:%02d:%02dZ", i%60, i%59)}}
		case 2:
			status["conditions"] = []any{map[string]any{"type": "Ready", "status": "Unknown", "reason": `Progressing "now"`}}
		case 3:
			// no condition: not ready since creation
		default:
			status["conditions"] = []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded\\done\nok"}}
		}
		labels := map[string]any{"app.kubernetes.io/part-of": "fleet"}
		if i%4 != 0 {
			labels["team"] = fmt.Sprintf("team-%d", i%6)
		}
		o := fluxWithLabels(kind, spec, status, labels)
		o.SetUID(types.UID(fmt.Sprintf("uid-%03d", (i*37)%300)))
		o.SetName(fmt.Sprintf("obj-%d", i))
		o.SetNamespace(fmt.Sprintf("ns-%d", i%9))
		items = append(items, *o)
	}
	return b.Build(items, nil).Series
}

// standardText is what the client_golang registry and the text encoder write
// for the same series.
func standardText(t *testing.T, series []Series) string {
	t.Helper()
	ms := make([]prometheus.Metric, len(series))
	for i := range series {
		ms[i] = series[i].Metric()
	}
	s := &Snapshot{}
	s.Swap(ms)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestRenderIsByteIdenticalToTheStandardEncoder(t *testing.T) {
	series := variedSeries(t)
	want := standardText(t, series)
	got := string(Render(series))
	if got != want {
		t.Fatalf("the rendered exposition differs from the standard encoder's:\n%s", firstDiff(got, want))
	}
	for _, s := range []string{`flux_resource_not_ready_timestamp_seconds{`, `reason="Progressing \"now\""`,
		`reason="Succeeded\\done\nok"`, `label_team=""`} {
		if !strings.Contains(got, s) {
			t.Errorf("the fixture does not cover %s", s)
		}
	}
	if len(Render(nil)) != 0 {
		t.Error("no series must render nothing, as a registry serves no empty family")
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// The handler serves the registry's families and the rendered ones in one
// exposition, byte for byte what promhttp serves for all of them, plain or
// gzip-compressed; a protobuf scrape gets the same families.
func TestHandlerServesWhatPromhttpServes(t *testing.T) {
	series := variedSeries(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.NewGoCollector(), OperatorInfo("v1.2.3", "linux/amd64"))
	fr := &apiv1.FluxReport{}
	fr.Spec.Distribution = apiv1.FluxDistributionStatus{Version: "v2.9.5", Status: apiv1.DistributionInstalled, ManagedBy: "flux-operator"}
	fr.Spec.ReconcilersStatus = []apiv1.FluxReconcilerStatus{
		{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Stats: apiv1.FluxReconcilerStats{Running: 5, Failing: 1, Suspended: 2}},
		{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Stats: apiv1.FluxReconcilerStats{Running: 3}},
	}
	fr.Spec.ComponentsStatus = []apiv1.FluxComponentStatus{{Name: "source-controller", Ready: true}, {Name: "kustomize-controller"}}
	fr.Spec.SyncStatus = &apiv1.FluxSyncStatus{ID: "kustomization/flux-system", Ready: true}
	e := &Exposition{}
	// First without a report, then with one: the report gauges change, the
	// resource series stay.
	if err := e.Swap(Report(nil), series); err != nil {
		t.Fatal(err)
	}
	if err := e.SwapReport(Report(fr)); err != nil {
		t.Fatal(err)
	}
	if e.Len() != len(series) {
		t.Fatalf("Len() = %d, want %d", e.Len(), len(series))
	}

	// The reference: every series in one registry behind promhttp.
	ms := make([]prometheus.Metric, len(series))
	for i := range series {
		ms[i] = series[i].Metric()
	}
	all := &Snapshot{}
	all.Swap(append(ms, Report(fr)...))
	gatherers := prometheus.Gatherers{reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		r := prometheus.NewPedanticRegistry()
		r.MustRegister(all)
		return r.Gather()
	})}
	ref := httptest.NewServer(promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{}))
	defer ref.Close()
	ours := httptest.NewServer(Handler(reg, e))
	defer ours.Close()

	get := func(url string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	// Go runtime metrics move between two scrapes: compare without them.
	stable := func(text string) string {
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if !strings.Contains(l, "go_") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}

	refResp, want := get(ref.URL)
	resp, got := get(ours.URL)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != refResp.Header.Get("Content-Type") {
		t.Fatalf("status %d, Content-Type %q, want %q", resp.StatusCode, resp.Header.Get("Content-Type"), refResp.Header.Get("Content-Type"))
	}
	if stable(string(got)) != stable(string(want)) {
		t.Fatalf("plain scrape differs from promhttp's:\n%s", firstDiff(stable(string(got)), stable(string(want))))
	}
	for _, s := range []string{"# TYPE go_goroutines gauge", "flux_operator_info{", `flux_report_reconcilers{kind="Kustomization",state="failing"} 1`,
		`flux_report_sync_ready{id="kustomization/flux-system"} 1`, "flux_resource_info{"} {
		if !strings.Contains(string(got), s) {
			t.Fatalf("%s is missing", s)
		}
	}

	// As Prometheus scrapes: gzip, decoded by Go's gzip reader (one member).
	resp, gz := get(ours.URL, "Accept-Encoding", "gzip",
		"Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the gzip stream does not decode: %v", err)
	}
	if rest, _ := io.ReadAll(zr); len(rest) != 0 {
		t.Fatal("more than one gzip member")
	}
	if stable(string(unzipped)) != stable(string(want)) {
		t.Fatalf("gzip scrape differs from promhttp's:\n%s", firstDiff(stable(string(unzipped)), stable(string(want))))
	}

	// Protobuf: the same families through promhttp.
	protoFormat := expfmt.NewFormat(expfmt.TypeProtoDelim)
	resp, pb := get(ours.URL, "Accept", string(protoFormat))
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.google.protobuf") {
		t.Fatalf("Content-Type %q, want protobuf", resp.Header.Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(bytes.NewReader(pb), protoFormat)
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(&mf); err != nil {
			t.Fatal(err)
		}
	}
	if stable(text.String()) != stable(string(want)) {
		t.Fatalf("protobuf scrape differs from promhttp's:\n%s", firstDiff(stable(text.String()), stable(string(want))))
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "GZIP": true, "*": true,
		"": false, "identity": false, "gzip;q=0": false, "gzip; q=0.000": false, "br, zstd": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if header != "" {
			r.Header.Set("Accept-Encoding", header)
		}
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
}

// After random changes, a plain scrape, a gzip scrape (its CRC and length
// checked by Go's gzip reader) and Text are exactly the report gauges and a
// full render of the series there, with the Content-Length of the text.
func TestScrapesAfterRandomChangesAreTheRender(t *testing.T) {
	series := variedSeries(t)
	report := Report(nil)
	reportText, err := encodeStandard(report)
	if err != nil {
		t.Fatal(err)
	}
	e := &Exposition{}
	h := Handler(prometheus.NewPedanticRegistry(), e)
	scrape := func(gz bool) (string, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if !gz {
			return string(body), rec.Header().Get("Content-Length")
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("the gzip stream does not decode: %v", err)
		}
		return string(out), rec.Header().Get("Content-Length")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	r := NewRendered()
	r.chunk = 1024 + rng.IntN(8192)
	present := map[int]bool{}
	for step := 0; step < 300; step++ {
		// Add or remove a few series (an object's info and not-ready series
		// are independent here).
		for k := rng.IntN(5); k >= 0; k-- {
			i := rng.IntN(len(series))
			if present[i] {
				if !r.Remove(&series[i]) {
					t.Fatalf("step %d: series %d was not there", step, i)
				}
				delete(present, i)
			} else {
				if !r.Add(&series[i]) {
					t.Fatalf("step %d: series %d was there", step, i)
				}
				present[i] = true
			}
		}
		if step%10 != 9 {
			continue
		}
		segs, n := r.Segments()
		if err := e.SwapSegments(report, segs, n); err != nil {
			t.Fatal(err)
		}
		var all []Series
		for i := range present {
			all = append(all, series[i])
		}
		want := string(reportText) + string(Render(all))
		plain, length := scrape(false)
		if plain != want {
			t.Fatalf("step %d: the plain scrape differs from the render:\n%s", step, firstDiff(plain, want))
		}
		if length != fmt.Sprint(len(want)) {
			t.Fatalf("step %d: Content-Length %s, the text is %d bytes", step, length, len(want))
		}
		if unzipped, _ := scrape(true); unzipped != want {
			t.Fatalf("step %d: the gzip scrape differs from the render:\n%s", step, firstDiff(unzipped, want))
		}
		if got, err := e.Text(); err != nil || string(got) != want {
			t.Fatalf("step %d: Text differs from the render (%v)", step, err)
		}
	}
}
