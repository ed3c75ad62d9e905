// Package controller holds the FluxReport reconciler of flux-operator-reporter.
package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	fluxv1ac "github.com/fluxops/flux-operator/generated/applyconfiguration/fluxcd/v1"
	"github.com/fluxops/flux-operator/generated/clientset/versioned"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/reporter/report"
)

// FieldManager owns every field the reporter writes.
const FieldManager = "flux-operator-reporter"

// Event reasons.
const (
	ReportPartialReason   = apiv1.ReportPartialReason
	ReportRecoveredReason = apiv1.ReconciliationSucceededReason
)

// RBAC of the reporter: read-only on Flux kinds, CRDs, Deployments and Nodes;
// writes only its FluxReport.
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxreports,verbs=get;list;watch;create;patch,namespace=flux-system
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxreports/status,verbs=get;patch,namespace=flux-system
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxinstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io;kustomize.toolkit.fluxcd.io;helm.toolkit.fluxcd.io;notification.toolkit.fluxcd.io;image.toolkit.fluxcd.io;source.extensions.fluxcd.io,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch,namespace=flux-system

// FluxReportReconciler keeps the FluxReport named flux in Namespace current.
type FluxReportReconciler struct {
	Client    client.Client
	Clientset versioned.Interface
	Computer  *report.Computer
	Recorder  events.EventRecorder
	Namespace string
	// Interval from the start of one report to the next unless the report's
	// fluxcd.controlplane.io/reconcileEvery annotation says otherwise.
	Interval time.Duration

	// failures are the failing parts of the last report this process wrote
	// (Result.Failures), nil before the first; only Reconcile touches them,
	// with one worker.
	failures *[]string
}

// SetupWithManager registers the reconciler and a start-up step that creates
// the report when it does not exist.
func (r *FluxReportReconciler) SetupWithManager(mgr ctrl.Manager) error {
	isOurs := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace && o.GetName() == apiv1.DefaultName
	})
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("fluxreport").
		For(&apiv1.FluxReport{}, builder.WithPredicates(isOurs, predicate.Funcs{
			// Our own spec and status writes must not trigger a new report:
			// only annotations (requestedAt, reconcile, reconcileEvery) do.
			UpdateFunc: func(e event.UpdateEvent) bool {
				return !maps.Equal(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations())
			},
		})).
		// A Flux CRD deleted: report at once, which also stops the kind's
		// informer, instead of letting it fail to watch until the next
		// report. A new CRD waits for the next report, once it is served.
		Watches(&apiextensionsv1.CustomResourceDefinition{},
			handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: apiv1.DefaultName}}}
			}),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
				DeleteFunc: func(e event.DeleteEvent) bool {
					return e.Object.GetLabels()[apiv1.PartOfLabel] == report.PartOfFlux
				},
			})).
		// One singleton object: one worker is all there is to do.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(bootstrap.Interruptible(r)); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// The Flux kinds' initial lists start now, while the controller
		// waits for its sources, rather than in the first report.
		go r.Computer.StartInformers(ctx)
		// Leader only (a RunnableFunc needs leader election): create the
		// report so that the watch above picks it up, retrying until it works.
		_ = wait.PollUntilContextCancel(ctx, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := r.ensureReport(ctx); err != nil {
				log.FromContext(ctx).Error(err, "failed to create the FluxReport; retrying in 10s")
				return false, nil
			}
			return true, nil
		})
		<-ctx.Done()
		return nil
	}))
}

// ensureReport creates the FluxReport with an Unknown distribution when it is
// absent. An existing report is left alone.
func (r *FluxReportReconciler) ensureReport(ctx context.Context) error {
	var existing apiv1.FluxReport
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: apiv1.DefaultName}, &existing)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	ac := fluxv1ac.FluxReport(apiv1.DefaultName, r.Namespace).WithSpec(fluxv1ac.FluxReportSpec().
		WithDistribution(fluxv1ac.FluxDistributionStatus().
			WithEntitlement(apiv1.DistributionUnknown).WithStatus(apiv1.DistributionUnknown)))
	_, err = r.Clientset.FluxcdV1().FluxReports(r.Namespace).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("failed to create FluxReport %s/%s: %w", r.Namespace, apiv1.DefaultName, err)
	}
	log.FromContext(ctx).Info("created FluxReport", "namespace", r.Namespace)
	return nil
}

// Reconcile computes the report and writes its spec and status.
func (r *FluxReportReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var obj apiv1.FluxReport
	if err := r.Client.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted: recreate it; its creation triggers the next report.
			return ctrl.Result{}, r.ensureReport(ctx)
		}
		return ctrl.Result{}, err
	}
	if obj.IsDisabled() {
		logger.Info("reporting is disabled by annotation", apiv1.ReconcileAnnotation, apiv1.DisabledValue)
		return ctrl.Result{}, nil
	}

	start := time.Now()
	res := r.Computer.Compute(ctx, &obj)
	applied, err := r.Clientset.FluxcdV1().FluxReports(r.Namespace).Apply(ctx,
		fluxv1ac.FluxReport(apiv1.DefaultName, r.Namespace).WithSpec(specApplyConfiguration(&res.Spec)),
		metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("failed to apply the FluxReport spec: %w", err)
	}

	cond := metav1ac.Condition().
		WithType(apiv1.ReadyCondition).
		WithObservedGeneration(applied.Generation).
		WithLastTransitionTime(metav1.Now())
	failure := res.Err()
	elapsed := time.Since(start).Round(time.Millisecond)
	if failure == nil {
		cond.WithStatus(metav1.ConditionTrue).WithReason(apiv1.ReconciliationSucceededReason).
			WithMessage(fmt.Sprintf("Reporting finished in %s", elapsed))
	} else {
		cond.WithStatus(metav1.ConditionFalse).WithReason(apiv1.ReportPartialReason).
			WithMessage(fmt.Sprintf("Reporting finished in %s with errors: %s", elapsed, failure))
	}
	status := fluxv1ac.FluxReportStatus().WithConditions(cond)
	if v := obj.GetAnnotations()[apiv1.ReconcileRequestAnnotation]; v != "" {
		status.WithLastHandledReconcileAt(v)
	} else if obj.Status.LastHandledReconcileAt != "" {
		status.WithLastHandledReconcileAt(obj.Status.LastHandledReconcileAt)
	}
	if _, err := r.Clientset.FluxcdV1().FluxReports(r.Namespace).ApplyStatus(ctx,
		fluxv1ac.FluxReport(apiv1.DefaultName, r.Namespace).WithStatus(status),
		metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return ctrl.Result{}, fmt.Errorf("failed to apply the FluxReport status: %w", err)
	}
	r.recordTransition(&obj, res)

	next := nextReport(r.interval(&obj), time.Since(start))
	logger.Info("report updated", "duration", elapsed.String(), "errors", len(res.Errors), "next", next.Round(time.Millisecond).String())
	return ctrl.Result{RequeueAfter: next}, nil
}

// interval is the report's reconcileEvery annotation, or --reporting-interval.
func (r *FluxReportReconciler) interval(obj *apiv1.FluxReport) time.Duration {
	if d := obj.GetInterval(); d > 0 {
		return d
	}
	return r.Interval
}

// nextReport is the wait before the next report. Reports start one interval
// apart, however long each takes, so that a change is in a report that
// starts within one interval of it. A report that takes more than half the
// interval is followed by a rest of half the interval, so that a cluster too
// big for the interval is not reported on without a pause.
func nextReport(interval, took time.Duration) time.Duration {
	return max(interval-took, interval/2)
}

// recordTransition emits a Warning when the set of failing parts changes
// (not on every report, so a lasting failure does not flood the events) and
// a Normal event when reporting recovers. The parts are compared by what
// failed and why, not by the error text, which carries details such as
// timings. A new process emits the Warning once for a report that is still
// incomplete.
func (r *FluxReportReconciler) recordTransition(prev *apiv1.FluxReport, res *report.Result) {
	failures := res.Failures()
	var failedBefore bool
	if r.failures == nil {
		// First report of this process: the object says how the last one went.
		c := prev.GetReadyCondition()
		failedBefore = c != nil && c.Status == metav1.ConditionFalse
	} else {
		failedBefore = len(*r.failures) > 0
	}
	unchanged := r.failures != nil && slices.Equal(failures, *r.failures)
	r.failures = &failures
	if r.Recorder == nil || unchanged {
		return
	}
	switch {
	case len(failures) > 0:
		r.Recorder.Eventf(prev, nil, corev1.EventTypeWarning, ReportPartialReason, "Report",
			"Report is incomplete: %s", res.Err())
	case failedBefore:
		r.Recorder.Eventf(prev, nil, corev1.EventTypeNormal, ReportRecoveredReason, "Report",
			"Report is complete again")
	}
}
