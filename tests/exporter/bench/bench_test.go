// Package bench measures flux-operator-exporter at the reference load: Flux
// objects of six kinds over 40 namespaces on the real test control plane.
// Run it with `make bench`.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/exportertest"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const runtimeNS = "flux-system"

var (
	env      *testenv.Env
	exporter *exportertest.Exporter
	requests testenv.RequestCounter
)

// TestMain starts the control plane only when benchmarks are asked for
// (-bench): the package has no tests.
func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.MainForBenchmarks(m, func(e *testenv.Env) error {
		env = e
		if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: runtimeNS}}); err != nil {
			return err
		}
		cfg := requests.Config(env.Config)
		var err error
		if exporter, err = exportertest.Start(cfg, runtimeNS, ""); err != nil {
			return err
		}
		env.OnStop(func() { _ = exporter.Stop() })
		return exporter.WaitReady(60 * time.Second)
	})
}

// writeReport writes the FluxReport naming the six kinds, as the reporter
// does, and waits until the exporter serves size resource series.
func writeReport(b *testing.B, size int) {
	ctx := context.Background()
	fr := &apiv1.FluxReport{}
	key := types.NamespacedName{Namespace: runtimeNS, Name: apiv1.DefaultName}
	if err := env.Client.Get(ctx, key, fr); err != nil {
		fr = &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Namespace: runtimeNS, Name: apiv1.DefaultName}}
		fr.Spec.Distribution = apiv1.FluxDistributionStatus{Entitlement: "Unknown", Status: apiv1.DistributionInstalled}
		for _, k := range fixtures.BenchKinds {
			fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus,
				apiv1.FluxReconcilerStatus{APIVersion: k.GVK.GroupVersion().String(), Kind: k.GVK.Kind})
		}
		if err := env.Client.Create(ctx, fr); err != nil {
			b.Fatal(err)
		}
	}
	fr.Status.Conditions = []metav1.Condition{{Type: apiv1.ReadyCondition, Status: metav1.ConditionTrue,
		Reason: apiv1.ReconciliationSucceededReason, Message: "bench", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(ctx, fr); err != nil {
		b.Fatal(err)
	}
	err := testenv.Eventually(ctx, 5*time.Minute, func(context.Context) error {
		text, err := exporter.Scrape()
		if err != nil {
			return err
		}
		if n := strings.Count(text, "\nflux_resource_info{"); n != size {
			// The cache may still be catching up with the objects just
			// created: refresh again.
			_, _ = exporter.Report.Reconcile(ctx, reconcile.Request{NamespacedName: key})
			return fmt.Errorf("%d series, want %d", n, size)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkExporter(b *testing.B) {
	fixtures.ForEachSize(b, env.Config, env.Scheme, func(b *testing.B, size int) {
		writeReport(b, size)
		key := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: runtimeNS, Name: apiv1.DefaultName}}

		b.Run("refresh", func(b *testing.B) {
			before := requests.Count()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := exporter.Report.Reconcile(context.Background(), key); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(requests.Count()-before)/float64(b.N), "requests/refresh")
			b.ReportMetric(float64(exporter.Resources.Len()), "series")
		})

		// A refresh after one object changed: the exporter updates that
		// object's series only.
		b.Run("one change", func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				o := &unstructured.Unstructured{}
				// Object k of the reference load is obj-k in bench-k, of kind k
				// (fixtures.Populate).
				k := i % len(fixtures.BenchKinds)
				o.SetGroupVersionKind(fixtures.BenchKinds[k].GVK)
				o.SetNamespace(fmt.Sprintf("bench-%d", k))
				o.SetName(fmt.Sprintf("obj-%d", k))
				patch := fmt.Sprintf(`{"metadata":{"labels":{"bench-touch":"%d"}}}`, time.Now().UnixNano())
				if err := env.Client.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
					b.Fatal(err)
				}
				if err := testenv.Eventually(ctx, time.Minute, func(ctx context.Context) error {
					seen := o.DeepCopy()
					if err := exporter.Cache.Get(ctx, client.ObjectKeyFromObject(o), seen); err != nil {
						return err
					}
					if seen.GetResourceVersion() != o.GetResourceVersion() {
						return fmt.Errorf("the exporter's cache has not seen the change yet")
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := exporter.Report.Reconcile(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})

		b.Run("scrape", func(b *testing.B) {
			var bytes int
			var gzipped int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// As Prometheus does: gzip-compressed exposition.
				req, _ := http.NewRequest(http.MethodGet, exporter.MetricsURL, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				gzipped = n
			}
			b.StopTimer()
			text, err := exporter.Scrape()
			if err != nil {
				b.Fatal(err)
			}
			bytes = len(text)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(bytes)/1024, "exposition-KiB")
			b.ReportMetric(float64(gzipped)/1024, "gzip-KiB")
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
			b.ReportMetric(testenv.ProcStatusMiB("VmRSS"), "rss-MiB")
			b.ReportMetric(testenv.ProcStatusMiB("VmHWM"), "peak-rss-MiB")
		})
	})
}
