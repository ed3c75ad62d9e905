// Package bench measures the reporter at the reference load: Flux objects of
// six kinds over 40 namespaces on the real test control plane. Run it with
// `make bench`.
package bench

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fluxops/flux-operator/reporter/report"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/reportertest"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

// TestMain starts the control plane only when benchmarks are asked for
// (-bench): the package has no tests, and `go test ./...` (make test) must
// not start etcd and kube-apiserver for nothing.
func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	testenv.Main(m, func(e *testenv.Env) error { env = e; return nil })
}

// counter counts requests sent to the API server.
type counter struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func BenchmarkReport(b *testing.B) {
	fixtures.ForEachSize(b, env.Config, env.Scheme, func(b *testing.B, size int) {
		runtime.GC()

		cfg := rest.CopyConfig(env.Config)
		cnt := &counter{}
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt }
		mgr, err := reportertest.NewManager(cfg, "flux-system")
		if err != nil {
			b.Fatal(err)
		}
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		computer := &report.Computer{Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(), Versioner: dc,
			Namespace: "flux-system", OperatorVersion: "bench", OperatorPlatform: "bench"}
		reportertest.RunUntilCleanup(b, mgr)
		ctx := context.Background()

		// The first report starts the informers and lists everything once.
		before := cnt.n.Load()
		start := time.Now()
		res := computer.Compute(ctx, nil)
		cold := time.Since(start)
		coldRequests := cnt.n.Load() - before
		if err := res.Err(); err != nil {
			b.Fatal(err)
		}
		total := 0
		for _, r := range res.Spec.ReconcilersStatus {
			total += r.Stats.Running + r.Stats.Suspended
		}
		if total != size {
			b.Fatalf("report counts %d objects, want %d", total, size)
		}
		specJSON, _ := json.Marshal(res.Spec)

		b.ResetTimer()
		before = cnt.n.Load()
		for i := 0; i < b.N; i++ {
			if res := computer.Compute(ctx, nil); res.Err() != nil {
				b.Fatal(res.Err())
			}
		}
		b.StopTimer()
		perReport := float64(cnt.n.Load()-before) / float64(b.N)

		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(perReport, "requests/report")
		b.ReportMetric(float64(coldRequests), "first-report-requests")
		b.ReportMetric(float64(cold.Milliseconds()), "first-report-ms")
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(testenv.ProcStatusMiB("VmRSS"), "rss-MiB")
		b.ReportMetric(testenv.ProcStatusMiB("VmHWM"), "peak-rss-MiB")
		b.ReportMetric(float64(len(specJSON)), "report-bytes")
	})
}
