// Package bench measures the reporter at the reference load: Flux objects of
// six kinds over 40 namespaces on the real test control plane. Run it with
// `make bench`.
package bench

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fluxops/flux-operator/reporter/report"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/reportertest"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

// TestMain starts the control plane only when benchmarks are asked for
// (-bench): the package has no tests.
func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.MainForBenchmarks(m, func(e *testenv.Env) error { env = e; return nil })
}

func BenchmarkReport(b *testing.B) {
	fixtures.ForEachSize(b, env.Config, env.Scheme, func(b *testing.B, size int) {
		runtime.GC()

		cnt := &testenv.RequestCounter{}
		cfg := cnt.Config(env.Config)
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
		before := cnt.Count()
		start := time.Now()
		res := computer.Compute(ctx, nil)
		cold := time.Since(start)
		coldRequests := cnt.Count() - before
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
		before = cnt.Count()
		for i := 0; i < b.N; i++ {
			if res := computer.Compute(ctx, nil); res.Err() != nil {
				b.Fatal(res.Err())
			}
		}
		b.StopTimer()
		perReport := float64(cnt.Count()-before) / float64(b.N)

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
