// Package bench measures the installer's reconciliation of a default
// FluxInstance on the real test control plane: a fresh install and a
// reconciliation that has nothing to change, in time and API requests. Run
// it with `make bench`.
package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.MainForBenchmarks(m, func(e *testenv.Env) error { env = e; return nil }, testenv.WithoutFluxCRDs())
}

const ns = "flux-system"

func instance() *apiv1.FluxInstance {
	wait := false // envtest runs no controller that would make Deployments available
	return &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}, Wait: &wait}}
}

func waitFor(b *testing.B, cond func(*apiv1.FluxInstance, error) error) {
	b.Helper()
	if err := testenv.Eventually(context.Background(), 2*time.Minute, func(ctx context.Context) error {
		fi := &apiv1.FluxInstance{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, fi)
		return cond(fi, err)
	}); err != nil {
		b.Fatal(err)
	}
}

func readyWith(handled string) func(*apiv1.FluxInstance, error) error {
	return func(fi *apiv1.FluxInstance, err error) error {
		if err != nil {
			return err
		}
		c := fi.GetReadyCondition()
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != fi.Generation {
			return fmt.Errorf("not ready: %+v", c)
		}
		if handled != "" && fi.Status.LastHandledReconcileAt != handled {
			return fmt.Errorf("request %q not handled yet", handled)
		}
		return nil
	}
}

// BenchmarkReconcile reports, for a default instance (v2.9.5, four
// controllers): the time and API requests from creating the instance to
// Ready (install), and per reconciliation with nothing to change (noop).
func BenchmarkReconcile(b *testing.B) {
	ctx := context.Background()
	if err := client.IgnoreAlreadyExists(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})); err != nil {
		b.Fatal(err)
	}
	cnt := &testenv.RequestCounter{}
	cfg := cnt.Config(env.Config)
	mo := ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"}
	controller.ConfigureCache(ns, &mo)
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := controller.Setup(mgr, controller.Config{Namespace: ns}); err != nil {
		b.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}

	b.Run("install", func(b *testing.B) {
		var requests int64
		for i := 0; b.Loop(); i++ {
			before := cnt.Count()
			if err := env.Client.Create(ctx, instance()); err != nil {
				b.Fatal(err)
			}
			waitFor(b, readyWith(""))
			requests += cnt.Count() - before
			b.StopTimer()
			if err := env.Client.Delete(ctx, instance()); err != nil {
				b.Fatal(err)
			}
			waitFor(b, func(_ *apiv1.FluxInstance, err error) error {
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("not uninstalled yet: %v", err)
			})
			b.StartTimer()
		}
		b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	})

	b.Run("noop", func(b *testing.B) {
		if err := env.Client.Create(ctx, instance()); err != nil {
			b.Fatal(err)
		}
		waitFor(b, readyWith(""))
		// The first reconciliation after an install builds again (the
		// installed version is an input of the build); the ones after it
		// are the no-ops measured.
		requestReconcile(b, "warm-up")
		var requests int64
		var took time.Duration
		for i := 0; b.Loop(); i++ {
			before := cnt.Count()
			fi := requestReconcile(b, fmt.Sprintf("bench-%d", i))
			requests += cnt.Count() - before
			// The reconciliation's own duration, as its history records it
			// (from its start to its end, before the last status write): the
			// time of the loop also has the polling of waitFor.
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, fi); err != nil || len(fi.Status.History) == 0 {
				b.Fatalf("no history: %v", err)
			}
			took += fi.Status.History[0].LastReconciledDuration.Duration
		}
		b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "reconcile-ms")
	})
}

// requestReconcile asks for a reconciliation, waits until it is handled and
// returns the instance.
func requestReconcile(b *testing.B, token string) *apiv1.FluxInstance {
	b.Helper()
	ctx := context.Background()
	fi := &apiv1.FluxInstance{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, fi); err != nil {
		b.Fatal(err)
	}
	patch := client.MergeFrom(fi.DeepCopy())
	fi.SetAnnotations(map[string]string{apiv1.ReconcileRequestAnnotation: token})
	if err := env.Client.Patch(ctx, fi, patch); err != nil {
		b.Fatal(err)
	}
	waitFor(b, readyWith(token))
	return fi
}
