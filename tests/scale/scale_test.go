// Package scale measures the reporter and the exporter as users run them:
// the two binaries of bin/ as processes, against the real test control plane
// holding the reference load at each size of BENCH_SIZES, fresh processes
// per size. It reports what the performance targets are stated in: the
// resident memory of each process after its first report and refresh, the
// first report after start, a steady on-demand report, an exporter refresh
// after a change and after none, and /metrics scrapes, plain and gzip. Run
// it with `make bench`. flux-operator-web runs beside them and is timed page
// by page (web_test.go).
package scale

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/generated/clientset/versioned"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const runtimeNS = "flux-system"

var env *testenv.Env

// TestMain starts the control plane only when benchmarks are asked for
// (-bench): the package has no tests.
func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.MainForBenchmarks(m, func(e *testenv.Env) error {
		env = e
		return env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: runtimeNS}})
	})
}

// proc is a running binary.
type proc struct {
	cmd         *exec.Cmd
	metricsAddr string
	mu          sync.Mutex
	logs        []map[string]any
}

func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(b *testing.B, name string, args ...string) *proc {
	b.Helper()
	// SCALE_BIN_DIR measures another build with the same load and the
	// same measurements, e.g. an earlier commit's `make build` output.
	dir := os.Getenv("SCALE_BIN_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "bin")
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%s: run `make build` first (make bench does)", err)
	}
	p := &proc{metricsAddr: freeAddr(b)}
	args = append([]string{"--metrics-addr", p.metricsAddr, "--health-addr", freeAddr(b), "--log-level", "debug"}, args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig, "RUNTIME_NAMESPACE="+runtimeNS)
	// SCALE_BIN_ENV adds environment variables to the binaries alone (not
	// to the harness's own clients), e.g. client-go feature gates:
	// SCALE_BIN_ENV="KUBE_FEATURE_WatchListClient=false".
	p.cmd.Env = append(p.cmd.Env, strings.Fields(os.Getenv("SCALE_BIN_ENV"))...)
	out, err := p.cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	p.cmd.Stdout = p.cmd.Stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// SCALE_LOG_DIR keeps each binary's whole output, e.g. with
	// GODEBUG=gctrace=1 to see its heap.
	raw := io.Discard
	if dir := os.Getenv("SCALE_LOG_DIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano())))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		raw = f
	}
	go func() {
		sc := bufio.NewScanner(io.TeeReader(out, raw))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				p.mu.Lock()
				p.logs = append(p.logs, line)
				p.mu.Unlock()
			}
		}
	}()
	b.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	return p
}

// rssMiB is the process's resident memory now and at its peak.
func (p *proc) rssMiB(b *testing.B) (now, peak float64) {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return now, peak
}

// median of ds (the upper one of an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// settledRSS is rssMiB once the resident memory has stopped moving: three
// readings 100 ms apart within 0.5 MiB of each other, or the last reading
// after 5 s.
func (p *proc) settledRSS(b *testing.B) (now, peak float64) {
	b.Helper()
	var last []float64
	deadline := time.Now().Add(5 * time.Second)
	for {
		now, peak = p.rssMiB(b)
		last = append(last, now)
		if n := len(last); n >= 3 {
			lo, hi := slices.Min(last[n-3:]), slices.Max(last[n-3:])
			if hi-lo <= 0.5 || time.Now().After(deadline) {
				return now, peak
			}
		}
		<-time.After(100 * time.Millisecond)
	}
}

// rssParts says what the resident memory is made of: anonymous memory
// (the heap, stacks, the runtime's own), and the pages of the binary file.
func (p *proc) rssParts(b *testing.B) string {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	var parts []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == "RssAnon:" || f[0] == "RssFile:") {
			kb, _ := strconv.ParseFloat(f[1], 64)
			parts = append(parts, fmt.Sprintf("%s %.1f MB", strings.TrimSuffix(f[0], ":"), kb*1024/1e6))
		}
	}
	if stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "stat")); err == nil {
		// utime and stime, in clock ticks (100 per second), after the
		// command's closing parenthesis.
		if _, rest, ok := strings.Cut(string(stat), ") "); ok {
			if f := strings.Fields(rest); len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				parts = append(parts, fmt.Sprintf("CPU %.2f s", (ut+st)/100))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// lastLog returns the last log line with one of msgs after line from, and
// how many lines there are.
func (p *proc) lastLog(from int, msgs ...string) (map[string]any, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.logs) - 1; i >= from; i-- {
		for _, m := range msgs {
			if p.logs[i]["msg"] == m {
				return p.logs[i], len(p.logs)
			}
		}
	}
	return nil, len(p.logs)
}

func (p *proc) lines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.logs)
}

// The exporter's log messages of a refresh that rebuilt the resource series,
// of one that updated the series of the objects that changed, and of one
// that found no Flux object changed.
const (
	rebuiltMsg = "refreshed Flux resource metrics"
	updatedMsg = "updated Flux resource metrics"
	keptMsg    = "no Flux object changed: report gauges refreshed, resource series kept"
)

// waitRefresh waits until the exporter has logged a refresh after its line
// from, and returns the last such line.
func waitRefresh(b *testing.B, exporter *proc, from int) map[string]any {
	b.Helper()
	var l map[string]any
	if err := testenv.Eventually(context.Background(), time.Minute, func(context.Context) error {
		if l, _ = exporter.lastLog(from, rebuiltMsg, updatedMsg, keptMsg); l == nil {
			return fmt.Errorf("the exporter has not refreshed yet")
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return l
}

func durationOf(b *testing.B, line map[string]any) time.Duration {
	b.Helper()
	d, err := time.ParseDuration(fmt.Sprint(line["duration"]))
	if err != nil {
		b.Fatalf("no duration in %v", line)
	}
	return d
}

// get requests /metrics, gzip-compressed or not. The Accept-Encoding is
// always explicit: without one the transport asks for gzip itself and
// decompresses, which would time gunzip as a plain scrape.
func (p *proc) get(gz bool) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// fetch reads /metrics to the end, gzip-compressed or not, as a scraper
// receives it (decompressing and parsing are the scraper's work), and
// returns the bytes on the wire.
func (p *proc) fetch(b *testing.B, gz bool) int {
	b.Helper()
	resp, err := p.get(gz)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("scrape: %d, %v", resp.StatusCode, err)
	}
	return int(n)
}

// scrape fetches /metrics, gzip-compressed or not, and returns the bytes on
// the wire and the exposition.
func (p *proc) scrape(b *testing.B, gz bool) (wire int, text string) {
	b.Helper()
	resp, err := p.get(gz)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if !gz {
		return len(body), string(body)
	}
	zr, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		b.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return len(body), string(plain)
}

// reconcileTime reads the exporter's own
// controller_runtime_reconcile_time_seconds of its report controller
// (flux-metrics-report): the sum of the refresh durations in seconds and
// their count.
func (p *proc) reconcileTime(b *testing.B) (sum, count float64) {
	b.Helper()
	_, text := p.scrape(b, false)
	const name = "controller_runtime_reconcile_time_seconds"
	const selector = `{controller="flux-metrics-report"} `
	for _, l := range strings.Split(text, "\n") {
		for suffix, dst := range map[string]*float64{"_sum": &sum, "_count": &count} {
			if v, ok := strings.CutPrefix(l, name+suffix+selector); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("%s: %v", l, err)
				}
				*dst = f
			}
		}
	}
	return sum, count
}

// refreshTimed waits until the exporter's reconcile-time histogram counts
// more than count refreshes, and returns the new sum and count.
func (p *proc) refreshTimed(b *testing.B, count float64) (float64, float64) {
	b.Helper()
	var sum, n float64
	if err := testenv.Eventually(context.Background(), time.Minute, func(context.Context) error {
		if sum, n = p.reconcileTime(b); n <= count {
			return fmt.Errorf("the exporter's reconcile-time histogram counts %v refreshes, want more than %v", n, count)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return sum, n
}

func report(b *testing.B) *apiv1.FluxReport {
	b.Helper()
	var fr apiv1.FluxReport
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: runtimeNS, Name: apiv1.DefaultName}, &fr); err != nil {
		return nil
	}
	return &fr
}

// firstReport returns how long after t0 the watch saw a FluxReport that
// counts size objects and has its Ready condition; should the watch end
// first, it polls.
func firstReport(b *testing.B, w watch.Interface, t0 time.Time, size int) time.Duration {
	b.Helper()
	complete := func(fr *apiv1.FluxReport) bool {
		return fr != nil && fr.GetReadyCondition() != nil && counted(fr) == size
	}
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				if err := testenv.Eventually(context.Background(), 5*time.Minute, func(context.Context) error {
					if !complete(report(b)) {
						return fmt.Errorf("the first report is not there yet")
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			if fr, isReport := ev.Object.(*apiv1.FluxReport); isReport && complete(fr) {
				return time.Since(t0)
			}
		case <-timeout:
			b.Fatal("no complete FluxReport within 5 minutes")
		}
	}
}

func counted(fr *apiv1.FluxReport) int {
	n := 0
	for _, r := range fr.Spec.ReconcilersStatus {
		if r.Kind != apiv1.FluxInstanceKind {
			n += r.Stats.Running + r.Stats.Suspended
		}
	}
	return n
}

// onDemand asks for a report with the requestedAt annotation and waits until
// the reporter says it handled it.
func onDemand(b *testing.B, i int) {
	b.Helper()
	ctx := context.Background()
	token := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, apiv1.ReconcileRequestAnnotation, token)
	fr := &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Namespace: runtimeNS, Name: apiv1.DefaultName}}
	if err := env.Client.Patch(ctx, fr, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		b.Fatal(err)
	}
	if err := testenv.Eventually(ctx, 2*time.Minute, func(context.Context) error {
		if fr := report(b); fr == nil || fr.Status.LastHandledReconcileAt != token {
			return fmt.Errorf("report %s not handled yet", token)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}

// result is what one size measured.
type result struct {
	size                       int
	reporterRSS, exporterRSS   float64
	reporterPeak, exporterPeak float64
	firstReport, steadyReport  time.Duration
	refresh, refreshNoChange   time.Duration
	scrapePlain, scrapeGzip    time.Duration
	expositionKiB, gzipKiB     float64
	noChangeSkipped            bool
	// noChangeMetric and refreshMetric are the same two refreshes as the
	// exporter's own controller_runtime_reconcile_time_seconds sees them
	// (mean per refresh), noChangeRebuilt how many of the no-change
	// refreshes rebuilt the series.
	noChangeMetric, refreshMetric time.Duration
	noChangeRebuilt, noChangeRuns int
	firstRefresh                  time.Duration
	reporterAfter, exporterAfter  float64
}

var results []result

func BenchmarkBinaries(b *testing.B) {
	fixtures.ForEachSize(b, env.Config, env.Scheme, func(b *testing.B, size int) {
		if b.N > 1 {
			b.Skip("one measurement per size: run with -benchtime 1x")
		}
		r := result{size: size}
		ctx := context.Background()
		// Each size starts from no report, as a fresh installation does.
		_ = env.Client.Delete(ctx, &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Namespace: runtimeNS, Name: apiv1.DefaultName}})
		_ = testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
			if report(b) != nil {
				return fmt.Errorf("the report is not gone yet")
			}
			return nil
		})

		// The first report is seen by a watch opened before the binaries
		// start, within milliseconds of its write (polling added up to
		// its period, and a GET's latency on a busy machine).
		reportWatch, err := versioned.NewForConfigOrDie(env.Config).FluxcdV1().FluxReports(runtimeNS).Watch(ctx,
			metav1.ListOptions{FieldSelector: "metadata.name=" + apiv1.DefaultName})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		reporter := start(b, "flux-operator-reporter", "--leader-elect=false", "--reporting-interval", "1h")
		exporter := start(b, "flux-operator-exporter")
		r.firstReport = firstReport(b, reportWatch, t0, size)
		reportWatch.Stop()
		b.Logf("%d objects, first report after %s: reporter %s; exporter %s", size, r.firstReport.Round(time.Millisecond),
			reporter.rssParts(b), exporter.rssParts(b))
		if err := testenv.Eventually(ctx, 5*time.Minute, func(context.Context) error {
			if _, text := exporter.scrape(b, false); strings.Count(text, "\nflux_resource_info{") != size {
				return fmt.Errorf("the exporter does not serve %d series yet", size)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		r.firstRefresh = time.Since(t0)
		// Both binaries return the memory of their first lists in the
		// background after them: read the memory once it has settled, not
		// in the middle of that.
		r.reporterRSS, r.reporterPeak = reporter.settledRSS(b)
		r.exporterRSS, r.exporterPeak = exporter.settledRSS(b)
		b.Logf("%d objects, first refresh: reporter %s; exporter %s", size, reporter.rssParts(b), exporter.rssParts(b))

		const scrapes = 10
		for _, gz := range []bool{false, true} {
			start := time.Now()
			var wire int
			for i := 0; i < scrapes; i++ {
				wire = exporter.fetch(b, gz)
			}
			d := time.Since(start) / scrapes
			if gz {
				r.scrapeGzip, r.gzipKiB = d, float64(wire)/1024
			} else {
				r.scrapePlain, r.expositionKiB = d, float64(wire)/1024
			}
		}

		// Steady on-demand reports with nothing changed: the reporter's own
		// duration, and what the exporter did with each.
		const reports = 5
		var steady time.Duration
		skipped := true
		var metricSum, metricCount float64
		for i := 0; i < reports; i++ {
			from := exporter.lines()
			sum0, n0 := exporter.reconcileTime(b)
			onDemand(b, i)
			line, _ := reporter.lastLog(0, "report updated")
			steady += durationOf(b, line)
			l := waitRefresh(b, exporter, from)
			sum1, n1 := exporter.refreshTimed(b, n0)
			skipped = skipped && l["msg"] == keptMsg
			r.refreshNoChange = durationOf(b, l)
			metricSum, metricCount = metricSum+sum1-sum0, metricCount+n1-n0
			r.noChangeRuns++
			if l["msg"] != keptMsg {
				r.noChangeRebuilt++
			}
		}
		r.steadyReport, r.noChangeSkipped = steady/reports, skipped
		r.noChangeMetric = time.Duration(metricSum / metricCount * float64(time.Second))

		// One object changes: the next report makes the exporter refresh
		// its series. Five times, another object each time; the median is
		// reported (the first refresh after the start also maps the code of
		// the incremental path back in, see docs/performance.md).
		requests := reports
		var byLog, byMetric []time.Duration
		for c := 0; c < 5; c++ {
			touched := &unstructured.Unstructured{}
			touched.SetGroupVersionKind(fixtures.BenchKinds[0].GVK)
			// Object i is of kind i mod 6, in namespace bench-<i mod 40>.
			i := c * len(fixtures.BenchKinds)
			touched.SetNamespace(fmt.Sprintf("bench-%d", i%fixtures.BenchNamespaces))
			touched.SetName(fmt.Sprintf("obj-%d", i))
			patch := fmt.Sprintf(`{"metadata":{"labels":{"bench-touch":"%d"}}}`, time.Now().UnixNano())
			if err := env.Client.Patch(ctx, touched, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				b.Fatal(err)
			}
			// The watch event may reach the exporter's cache after the report
			// does: the exporter then keeps its series and says so, and the
			// next report is asked for.
			var rebuilt map[string]any
			var metric time.Duration
			if err := testenv.Eventually(ctx, time.Minute, func(context.Context) error {
				from := exporter.lines()
				sum0, n0 := exporter.reconcileTime(b)
				onDemand(b, requests)
				requests++
				rebuilt = waitRefresh(b, exporter, from)
				sum1, n1 := exporter.refreshTimed(b, n0)
				metric = time.Duration((sum1 - sum0) / (n1 - n0) * float64(time.Second))
				if rebuilt["msg"] == keptMsg {
					return fmt.Errorf("the exporter kept its series: its cache has not seen the change yet")
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			byLog = append(byLog, durationOf(b, rebuilt))
			byMetric = append(byMetric, metric)
		}
		b.Logf("%d objects, refresh after one change, 5 times: %v by the exporter's log, %v by its metric", size, byLog, byMetric)
		r.refresh, r.refreshMetric = median(byLog), median(byMetric)
		r.reporterAfter, _ = reporter.rssMiB(b)
		r.exporterAfter, _ = exporter.rssMiB(b)
		b.Logf("%d objects, after the steady reports and scrapes: reporter %s; exporter %s", size,
			reporter.rssParts(b), exporter.rssParts(b))

		// The web UI last, so that it takes no CPU from what is measured
		// above: from its start to an overview counting every object, then
		// page by page.
		webAddr := freeAddr(b)
		webStart := time.Now()
		web := start(b, "flux-operator-web", "--web-addr", webAddr)
		measureWeb(b, size, webStart, web, webAddr)

		b.ReportMetric(r.reporterRSS, "reporter-rss-MiB")
		b.ReportMetric(r.exporterRSS, "exporter-rss-MiB")
		b.ReportMetric(r.reporterRSS+r.exporterRSS, "total-rss-MiB")
		b.ReportMetric(r.firstReport.Seconds(), "first-report-s")
		b.ReportMetric(float64(r.steadyReport.Microseconds())/1000, "steady-report-ms")
		b.ReportMetric(float64(r.refresh.Microseconds())/1000, "refresh-ms")
		b.ReportMetric(float64(r.scrapePlain.Microseconds())/1000, "scrape-plain-ms")
		b.ReportMetric(float64(r.scrapeGzip.Microseconds())/1000, "scrape-gzip-ms")
		results = append(results, r)
		printTable(b)
	})
}

// printTable prints what every size measured so far, and the memory growth
// per object between consecutive sizes.
func printTable(b *testing.B) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%8s | %9s %9s %9s | %12s %12s | %10s %10s %9s | %10s %10s %8s | %11s %11s | %9s %8s\n",
		"objects", "reporter", "exporter", "total", "first report", "steady", "refresh", "unchanged", "skipped",
		"refresh*", "unchanged*", "rebuilt*", "scrape", "scrape gzip", "text", "gzip")
	for i, r := range results {
		fmt.Fprintf(&sb, "%8d | %6.0f MB %6.0f MB %6.0f MB | %11.2fs %10.1fms | %8.1fms %8.1fms %9v | %8.1fms %8.1fms %6d/%d | %9.1fms %9.1fms | %6.0f KB %5.0f KB\n",
			r.size, mb(r.reporterRSS), mb(r.exporterRSS), mb(r.reporterRSS+r.exporterRSS), r.firstReport.Seconds(),
			ms(r.steadyReport), ms(r.refresh), ms(r.refreshNoChange), r.noChangeSkipped,
			ms(r.refreshMetric), ms(r.noChangeMetric), r.noChangeRebuilt, r.noChangeRuns,
			ms(r.scrapePlain), ms(r.scrapeGzip), r.expositionKiB*1.024, r.gzipKiB*1.024)
		if i > 0 {
			p := results[i-1]
			n := float64(r.size - p.size)
			fmt.Fprintf(&sb, "%8s   growth %d→%d: reporter %.0f B/object, exporter %.0f B/object (RSS)\n", "",
				p.size, r.size, (r.reporterRSS-p.reporterRSS)*(1<<20)/n, (r.exporterRSS-p.exporterRSS)*(1<<20)/n)
		}
	}
	sb.WriteString("(* the exporter's own controller_runtime_reconcile_time_seconds{controller=\"flux-metrics-report\"}, " +
		"mean per refresh; rebuilt* = no-change refreshes that rebuilt the series, of those measured)\n")
	fmt.Fprintf(&sb, "(MB = 10^6 bytes of resident memory after the first report and refresh, once settled; peaks: ")
	for _, r := range results {
		fmt.Fprintf(&sb, "%d: reporter %.0f, exporter %.0f, after the steady reports %.0f + %.0f; ", r.size,
			mb(r.reporterPeak), mb(r.exporterPeak), mb(r.reporterAfter), mb(r.exporterAfter))
	}
	sb.WriteString(")\n")
	b.Log(sb.String())
}

func mb(mib float64) float64 { return mib * (1 << 20) / 1e6 }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
