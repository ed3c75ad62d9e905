package scale

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// webPages are the pages the benchmark times: the overview, a filtered
// resources list, a name search, the unfiltered list and a resource page.
var webPages = []struct{ name, path string }{
	{"overview", "/"},
	{"filtered", "/resources?kind=HelmRelease&state=failing"},
	{"search", "/resources?name=obj-1*"},
	{"all", "/resources"},
	{"resource", "/resource/Kustomization/bench-4/obj-4"},
}

// webResult is what the benchmark measured of flux-operator-web at a size.
type webResult struct {
	size int
	// ready is from the process's start, the report already there, to an
	// overview counting every object.
	ready time.Duration
	rss   float64
	// server is each page's median server time (its Server-Timing header),
	// wire its gzip-compressed size.
	server map[string]time.Duration
	wire   map[string]int
	// firstLoad is the overview, the stylesheet and the script, as a
	// browser's first visit transfers them (gzip).
	firstLoad int
}

var webResults []webResult

// webGet fetches a page of the UI as a browser does (gzip), and returns its
// server time, its bytes on the wire and its body (still compressed).
func webGet(b *testing.B, addr, path string) (time.Duration, int, string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
	}
	var d time.Duration
	if st := resp.Header.Get("Server-Timing"); st != "" {
		_, v, _ := strings.Cut(st, "dur=")
		ms, _ := strconv.ParseFloat(v, 64)
		d = time.Duration(ms * float64(time.Millisecond))
	}
	return d, len(body), string(body)
}

// overviewCount reads the "in all" count of the overview (uncompressed).
func overviewCount(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	head, _, ok := strings.Cut(string(body), "</b>in all")
	if !ok {
		return 0, fmt.Errorf("no count on the overview")
	}
	n, err := strconv.Atoi(head[strings.LastIndex(head, "<b>")+3:])
	return n, err
}

// measureWeb waits until the UI, started at t0, counts every object, then
// times each page and reads its memory.
func measureWeb(b *testing.B, size int, t0 time.Time, web *proc, addr string) {
	b.Helper()
	r := webResult{size: size, server: map[string]time.Duration{}, wire: map[string]int{}}
	// The FluxInstance is not there: the bench counts Flux objects only.
	if err := testenv.Eventually(context.Background(), 5*time.Minute, func(context.Context) error {
		n, err := overviewCount(addr)
		if err == nil && n != size {
			err = fmt.Errorf("the overview counts %d objects, want %d", n, size)
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	r.ready = time.Since(t0)
	const requests = 21
	for _, p := range webPages {
		times := make([]time.Duration, 0, requests)
		for i := 0; i < requests; i++ {
			d, n, _ := webGet(b, addr, p.path)
			times = append(times, d)
			r.wire[p.name] = n
		}
		slices.Sort(times)
		r.server[p.name] = times[len(times)/2]
	}
	r.firstLoad = r.wire["overview"]
	for _, asset := range []string{"app.css", "app.js"} {
		_, n, _ := webGet(b, addr, "/static/"+asset)
		r.firstLoad += n
	}
	r.rss, _ = web.rssMiB(b)
	b.ReportMetric(r.rss, "web-rss-MiB")
	b.ReportMetric(ms(r.server["overview"]), "web-overview-ms")
	b.ReportMetric(ms(r.server["filtered"]), "web-filtered-ms")
	webResults = append(webResults, r)
	printWebTable(b)
}

// printWebTable prints the UI's measurements at every size so far, and its
// memory per cached object between consecutive sizes.
func printWebTable(b *testing.B) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nflux-operator-web (median server time of 21 requests, Server-Timing; KB on the wire with gzip)\n")
	fmt.Fprintf(&sb, "%8s | %8s | %8s | %9s %9s %9s %9s %9s | %10s | %s\n", "objects", "RSS", "ready", "overview",
		"filtered", "search", "all", "resource", "first load", "pages KB (overview/filtered/search/all/resource)")
	for i, r := range webResults {
		fmt.Fprintf(&sb, "%8d | %5.0f MB | %7.2fs | %7.1fms %7.1fms %7.1fms %7.1fms %7.1fms | %7.1f KB | %.1f/%.1f/%.1f/%.1f/%.1f\n",
			r.size, mb(r.rss), r.ready.Seconds(), ms(r.server["overview"]), ms(r.server["filtered"]), ms(r.server["search"]),
			ms(r.server["all"]), ms(r.server["resource"]), float64(r.firstLoad)/1000, float64(r.wire["overview"])/1000,
			float64(r.wire["filtered"])/1000, float64(r.wire["search"])/1000, float64(r.wire["all"])/1000, float64(r.wire["resource"])/1000)
		if i > 0 {
			p := webResults[i-1]
			per := (r.rss - p.rss) * (1 << 20) / float64(r.size-p.size)
			fmt.Fprintf(&sb, "%8s   growth %d→%d: %.0f B/object (RSS); fixed part %.0f MB (RSS less %d objects at that rate)\n", "",
				p.size, r.size, per, mb(p.rss-per*float64(p.size)/(1<<20)), p.size)
		}
	}
	b.Log(sb.String())
}
