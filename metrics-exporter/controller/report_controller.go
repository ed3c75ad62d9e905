package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
)

// ReportReconciler refreshes the resource series every time the FluxReport
// named flux in Namespace is updated (its status is written at the end of
// every report). The first refresh, and any after the kinds the report
// counts change or a read fails, lists every kind from the cache and builds
// the whole set; the others update only the series of the objects the cache
// saw change since the last refresh (none: only the report gauges). Either
// way the new set is swapped in whole.
type ReportReconciler struct {
	Reader    client.Reader
	Kinds     *fluxobj.KindLister
	Namespace string
	Builder   *metrics.ResourceBuilder
	// Resources serves the report gauges and the resource series.
	Resources *metrics.Exposition

	// mu serialises refreshes: the controller runs one worker, but tests
	// and benchmarks call Reconcile beside it.
	mu        sync.Mutex
	refreshed atomic.Bool
	// lastRefresh is the Unix time in nanoseconds of the last refresh that
	// read everything it needed.
	lastRefresh atomic.Int64
	// last holds the objects of each kind from the last refresh, and their
	// not-ready times; a kind whose read fails keeps them until a read
	// succeeds. Only Reconcile touches it, under mu.
	last map[schema.GroupVersionKind]*metrics.KindSeries
	// built is what the served resource series were built from: while it
	// stays the same, a refresh only updates the report gauges.
	built *buildKey
	// rendered holds the served resource series, rendered; a refresh after
	// a few changes updates only theirs.
	rendered *metrics.Rendered
}

// buildKey identifies the input of a build of the resource series: the
// kinds the report names, whether it was complete, and the count of cache
// events when the objects were read.
type buildKey struct {
	kinds    string
	complete bool
	changes  uint64
}

// Refreshed reports whether a refresh has completed since start.
func (r *ReportReconciler) Refreshed() bool { return r.refreshed.Load() }

// LastRefresh is the time of the last refresh that read everything it
// needed; zero before the first.
func (r *ReportReconciler) LastRefresh() time.Time {
	if n := r.lastRefresh.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// markRefreshed records a refresh, complete when it had no error.
func (r *ReportReconciler) markRefreshed(complete bool) {
	r.refreshed.Store(true)
	if complete {
		r.lastRefresh.Store(time.Now().UnixNano())
	}
}

// SetupWithManager registers the reconciler. It also runs once at start, so
// the report gauges are served (at zero) when there is no report yet.
func (r *ReportReconciler) SetupWithManager(mgr ctrl.Manager) error {
	isOurs := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace && o.GetName() == apiv1.DefaultName
	})
	start := make(chan event.GenericEvent, 1)
	kick := &apiv1.FluxReport{}
	kick.Namespace, kick.Name = r.Namespace, apiv1.DefaultName
	start <- event.GenericEvent{Object: kick}
	return ctrl.NewControllerManagedBy(mgr).
		Named("flux-metrics-report").
		For(&apiv1.FluxReport{}, builder.WithPredicates(isOurs, reportFinished)).
		WatchesRawSource(source.Channel(start, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: 1,
			// Every replica serves the metrics, leader or not.
			NeedLeaderElection: ptr.To(false),
		}).
		Complete(bootstrap.Interruptible(r))
}

// reportFinished passes the report's creation and deletion, and the updates
// that change its status. The reporter writes a report's spec first and its
// status (the Ready condition, with a new time every report) last, so a spec
// write alone is a report half-written: refreshing from it would pair the
// new kinds with the old Ready condition.
var reportFinished = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*apiv1.FluxReport)
		n, okNew := e.ObjectNew.(*apiv1.FluxReport)
		return !okOld || !okNew || !equality.Semantic.DeepEqual(o.Status, n.Status)
	},
}

// Reconcile refreshes the series: it reads the report and the kinds it
// names, and either only refreshes the report gauges (no Flux object changed
// since the last build) or builds the resource series anew and swaps them
// in.
func (r *ReportReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	logger := log.FromContext(ctx)
	start := time.Now()
	var fr apiv1.FluxReport
	if err := r.Reader.Get(ctx, req.NamespacedName, &fr); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("failed to read the FluxReport: %w", err)
		}
		// Without a report there is nothing to refresh from: the resource
		// series stay as last built and the report gauges say "no report".
		if err := r.Resources.SwapReport(metrics.Report(nil)); err != nil {
			return ctrl.Result{}, err
		}
		r.markRefreshed(true)
		logger.V(1).Info("no FluxReport: report gauges at zero", "namespace", req.Namespace)
		return ctrl.Result{}, nil
	}

	// A report whose spec is newer than its status is half-written: the
	// reporter was stopped between its two writes, or this refresh was
	// queued behind the next report's spec. What is served stays the last
	// complete report until its status is written (which triggers a
	// refresh); only with nothing served yet is the half-written one used.
	if c := fr.GetReadyCondition(); c != nil && c.ObservedGeneration != 0 && c.ObservedGeneration != fr.Generation &&
		r.Refreshed() {
		logger.V(1).Info("the FluxReport is half-written (its spec is newer than its status): what is served is kept",
			"generation", fr.Generation, "observedGeneration", c.ObservedGeneration)
		return ctrl.Result{}, nil
	}

	gvks, complete, errs := reportKinds(&fr)
	key := &buildKey{kinds: fmt.Sprint(gvks), complete: complete, changes: r.Kinds.Changes()}
	if len(errs) == 0 && r.built != nil && *r.built == *key {
		if err := r.Resources.SwapReport(metrics.Report(&fr)); err != nil {
			return ctrl.Result{}, err
		}
		r.markRefreshed(true)
		logger.V(1).Info("no Flux object changed: report gauges refreshed, resource series kept",
			"series", r.Resources.Len(), "duration", time.Since(start).Round(time.Millisecond).String())
		return ctrl.Result{}, nil
	}

	// The same kinds as the last build, which read everything: update the
	// series of the objects that changed since.
	if len(errs) == 0 && r.built != nil && r.built.kinds == key.kinds && r.built.complete == key.complete {
		n, objects, ok, err := r.updateSeries(ctx, gvks)
		if err != nil {
			logger.Info("updating the Flux resource metrics failed, rebuilding them", "error", err.Error())
		}
		if ok {
			segs, series := r.rendered.Segments()
			if err := r.Resources.SwapSegments(metrics.Report(&fr), segs, series); err != nil {
				return ctrl.Result{}, err
			}
			r.built = key
			r.markRefreshed(true)
			logger.V(1).Info("updated Flux resource metrics", "series", n, "objects", objects,
				"duration", time.Since(start).Round(time.Microsecond).String())
			return ctrl.Result{}, nil
		}
	}

	byKind, buildErrs := r.buildSeries(ctx, gvks, complete)
	errs = append(errs, buildErrs...)
	n, swapErr := r.swap(&fr, byKind, len(gvks) > 0)
	if swapErr != nil {
		return ctrl.Result{}, swapErr
	}
	r.built = nil
	if len(errs) == 0 {
		r.built = key
	}
	r.markRefreshed(len(errs) == 0)
	logger.V(1).Info("refreshed Flux resource metrics", "series", n, "kinds", len(byKind),
		"duration", time.Since(start).Round(time.Millisecond).String())
	// An error is counted in controller_runtime_reconcile_errors_total and
	// retried with backoff.
	return ctrl.Result{}, errors.Join(errs...)
}

// updateSeries updates the rendered series of the objects that changed
// since the last refresh, kind by kind, and returns the number of series and
// of changed objects. ok is false when the lister cannot say what changed
// (an informer dropped) or the rendered series are out of step: the caller
// then rebuilds them all.
func (r *ReportReconciler) updateSeries(ctx context.Context, gvks []schema.GroupVersionKind) (series, objects int, ok bool, err error) {
	if r.rendered == nil {
		return 0, 0, false, nil
	}
	for _, gvk := range gvks {
		ks := r.last[gvk]
		keys, tracked := r.Kinds.Drain(ctx, gvk)
		if !tracked || ks == nil {
			return 0, 0, false, nil
		}
		if len(keys) == 0 {
			continue
		}
		changed := make(map[types.NamespacedName]*fluxobj.Object, len(keys))
		for _, k := range keys {
			o, err := r.Kinds.Object(ctx, gvk, k)
			if err != nil {
				return 0, 0, false, fmt.Errorf("failed to read %s %s: %w", gvk.Kind, k, err)
			}
			changed[k] = o
		}
		if !r.Builder.Update(ks, r.rendered, changed) {
			return 0, 0, false, fmt.Errorf("the rendered %s series are out of step with the objects", gvk.Kind)
		}
		objects += len(keys)
	}
	return r.rendered.Len(), objects, true, nil
}

// reportKinds are the Flux kinds the report counts (not the operator's own,
// which have their own metrics), and whether the report is complete (Ready):
// a complete report names every Flux kind served.
func reportKinds(fr *apiv1.FluxReport) (gvks []schema.GroupVersionKind, complete bool, errs []error) {
	if c := fr.GetReadyCondition(); c != nil && c.Status == metav1.ConditionTrue {
		complete = true
	}
	for _, rs := range fr.Spec.ReconcilersStatus {
		gv, err := schema.ParseGroupVersion(rs.APIVersion)
		if err != nil || rs.Kind == "" {
			errs = append(errs, fmt.Errorf("the report names an invalid kind %q/%q", rs.APIVersion, rs.Kind))
			continue
		}
		if gv.Group == apiv1.GroupVersion.Group {
			continue
		}
		gvks = append(gvks, gv.WithKind(rs.Kind))
	}
	return gvks, complete, errs
}

// buildSeries builds the series of every kind from the cache, off to the
// side. A kind whose read fails, and with a partial report a kind the report
// left out, keeps its previous series.
func (r *ReportReconciler) buildSeries(ctx context.Context, gvks []schema.GroupVersionKind, complete bool) (map[schema.GroupVersionKind]*metrics.KindSeries, []error) {
	var errs []error
	byKind := map[schema.GroupVersionKind]*metrics.KindSeries{}
	if complete {
		// The informers of the kinds no longer served (a CRD deleted) stop.
		if err := r.Kinds.Retain(ctx, gvks); err != nil {
			errs = append(errs, err)
		}
	}
	r.Kinds.Start(ctx, gvks)
	for _, gvk := range gvks {
		// The keys changed before this read are in it; those changed
		// after are in the next Drain.
		r.Kinds.Drain(ctx, gvk)
		objs, err := r.Kinds.Objects(ctx, gvk, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("failed to list %s (%s), keeping its previous series: %w", gvk.Kind, gvk.GroupVersion(), err))
			if prev, ok := r.last[gvk]; ok {
				byKind[gvk] = r.Builder.BuildObjects(prev.All(), prev)
			}
			continue
		}
		byKind[gvk] = r.Builder.BuildObjects(objs, r.last[gvk])
	}
	if !complete {
		for gvk, ks := range r.last {
			if _, ok := byKind[gvk]; !ok {
				byKind[gvk] = r.Builder.BuildObjects(ks.All(), ks)
			}
		}
	}
	return byKind, errs
}

// swap serves the report gauges and the series of byKind, keeps byKind's
// objects and times for the next build, and returns the number of series.
func (r *ReportReconciler) swap(fr *apiv1.FluxReport, byKind map[schema.GroupVersionKind]*metrics.KindSeries, listed bool) (int, error) {
	total := 0
	for _, ks := range byKind {
		total += len(ks.Series)
	}
	all := make([]metrics.Series, 0, total)
	for _, ks := range byKind {
		all = append(all, ks.Series...)
		ks.Series = nil // rendered below; only the objects and times are kept
	}
	if r.rendered == nil {
		r.rendered = metrics.NewRendered()
	}
	r.rendered.Reset(all)
	segs, n := r.rendered.Segments()
	if err := r.Resources.SwapSegments(metrics.Report(fr), segs, n); err != nil {
		return 0, err
	}
	if listed {
		fluxobj.ReleaseMemory()
		fluxobj.ReleaseInitialList() // once: also the pages of the start
	}
	r.last = byKind
	return total, nil
}

// InstanceReconciler keeps flux_instance_info in step with the FluxInstance
// objects of Namespace: every change to one rebuilds the set, so a deleted
// instance's series disappears.
type InstanceReconciler struct {
	Reader    client.Reader
	Namespace string
	Set       *metrics.Snapshot
}

// SetupWithManager registers the reconciler.
func (r *InstanceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("flux-metrics-instance").
		For(&apiv1.FluxInstance{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == r.Namespace
		}))).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: ptr.To(false)}).
		Complete(bootstrap.Interruptible(r))
}

// Reconcile rebuilds flux_instance_info.
func (r *InstanceReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var list apiv1.FluxInstanceList
	if err := r.Reader.List(ctx, &list, client.InNamespace(r.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("failed to list FluxInstances: %w", err)
	}
	set := make([]prometheus.Metric, 0, len(list.Items))
	for i := range list.Items {
		set = append(set, metrics.Instance(&list.Items[i]))
	}
	r.Set.Swap(set)
	return ctrl.Result{}, nil
}
