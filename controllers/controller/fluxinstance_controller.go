// Package controller holds the FluxInstance reconciler of
// flux-operator-installer: it builds the Flux distribution of the instance,
// applies it with server-side apply, prunes what the build no longer has,
// waits for it to be healthy and writes what it did to the status.
package controller

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlbuilder "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
	"github.com/fluxops/flux-operator/internal/bootstrap"
)

// FieldManager owns every field the installer applies, as the Flux
// Operator's does, so either can take over from the other.
const FieldManager = "flux-operator"

// RBAC of the installer for its own kinds. Installing Flux needs more (CRDs,
// ClusterRoles, bindings to cluster-admin): the installer is bound to
// cluster-admin (config/rbac/installer/role_binding.yaml, see docs/operator.md).
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxinstances,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxinstances/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxreports,verbs=get;patch,namespace=flux-system
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,namespace=flux-system

// FluxInstanceReconciler installs and supervises Flux from the FluxInstance
// named flux in Namespace.
type FluxInstanceReconciler struct {
	Client client.Client
	// Manager applies, prunes and waits; its owner is FieldManager.
	Manager *ssa.ResourceManager
	// Namespace is the runtime namespace; an instance anywhere else is
	// ignored.
	Namespace string
	// Distribution is the tree used when the instance names no artifact:
	// the embedded one, or --manifests-path.
	Distribution fs.FS
	// ArtifactOptions reach the registries of distribution artifacts (CA
	// bundle, plain-HTTP mirrors); the keychain comes from the instance.
	ArtifactOptions distribution.ArtifactOptions
	// Notifier records events on the instance and forwards them to
	// notification-controller; nil records none.
	Notifier *Notifier
	// secrets reads artifact pull secrets from the API server, so that no
	// Secret is ever cached; the client when nil.
	secrets client.Reader
}

// SetupWithManager registers the reconciler: changes to the instance's
// spec (generation) or annotations trigger it.
func (r *FluxInstanceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("fluxinstance").
		For(&apiv1.FluxInstance{}, ctrlbuilder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}),
		)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
}

// Reconcile runs one reconciliation of the instance.
func (r *FluxInstanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	obj := &apiv1.FluxInstance{}
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.Namespace != r.Namespace {
		logger.Info("ignoring a FluxInstance outside the runtime namespace", "namespace", obj.Namespace,
			"runtimeNamespace", r.Namespace)
		return ctrl.Result{}, nil
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.uninstall(ctx, obj)
	}
	if !controllerutil.ContainsFinalizer(obj, apiv1.Finalizer) {
		patch := client.MergeFrom(obj.DeepCopy())
		controllerutil.AddFinalizer(obj, apiv1.Finalizer)
		if err := r.Client.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("failed to add the finalizer: %w", err)
		}
	}
	if obj.IsDisabled() {
		return ctrl.Result{}, r.suspended(ctx, obj)
	}

	start := time.Now()
	orig := obj.DeepCopy()
	failedBefore := func() bool { c := obj.GetReadyCondition(); return c != nil && c.Status == metav1.ConditionFalse }()
	reason := apiv1.ProgressingReason
	if failedBefore {
		reason = apiv1.ProgressingWithRetryReason
	}
	setCondition(obj, apiv1.ReconcilingCondition, metav1.ConditionTrue, reason, "Reconciliation in progress")
	setCondition(obj, apiv1.ReadyCondition, metav1.ConditionUnknown, reason, "Reconciliation in progress")
	if err := r.patchStatus(ctx, orig, obj); err != nil {
		return ctrl.Result{}, err
	}

	// The status as stored now: finish patches the difference.
	stored := obj.DeepCopy()
	outcome := r.run(ctx, obj)
	return r.finish(ctx, stored, obj, outcome, time.Since(start))
}

func setCondition(obj *apiv1.FluxInstance, typ string, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: obj.Generation})
}

func (r *FluxInstanceReconciler) patchStatus(ctx context.Context, orig, obj *apiv1.FluxInstance) error {
	if err := r.Client.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("failed to write the FluxInstance status: %w", err)
	}
	return nil
}

// suspended records, once, that reconciliation is disabled.
func (r *FluxInstanceReconciler) suspended(ctx context.Context, obj *apiv1.FluxInstance) error {
	log.FromContext(ctx).Info("reconciliation is disabled by annotation", apiv1.ReconcileAnnotation, apiv1.DisabledValue)
	c := obj.GetReadyCondition()
	if c != nil && c.Reason == apiv1.ReconciliationDisabledReason {
		return nil
	}
	orig := obj.DeepCopy()
	msg := "Reconciliation is disabled"
	setCondition(obj, apiv1.ReadyCondition, metav1.ConditionTrue, apiv1.ReconciliationDisabledReason, msg)
	apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.ReconcilingCondition)
	r.event(obj, corev1.EventTypeWarning, apiv1.ReconciliationDisabledReason, obj.Status.LastAppliedRevision, msg)
	return r.patchStatus(ctx, orig, obj)
}

// event records an event on the instance about revision (may be empty).
func (r *FluxInstanceReconciler) event(obj *apiv1.FluxInstance, typ, reason, revision, msg string) {
	r.Notifier.Event(obj, typ, reason, revision, msg)
}

// maxEventMessage is the longest note the API server accepts on an event.
const maxEventMessage = 1024

// eventMessage fits msg into an event: whole lines while they fit, then how
// many lines were left out.
func eventMessage(msg string) string {
	if len(msg) <= maxEventMessage {
		return msg
	}
	lines := strings.Split(msg, "\n")
	var b strings.Builder
	for i, l := range lines {
		more := fmt.Sprintf("\n… and %d more", len(lines)-i)
		if b.Len()+len(l)+1+len(more) > maxEventMessage {
			if i == 0 {
				// The first line does not fit with the count: cut it on a
				// rune boundary and count the other lines.
				rest := ""
				if len(lines) > 1 {
					rest = fmt.Sprintf("\n… and %d more", len(lines)-1)
				}
				return truncateUTF8(l, maxEventMessage-len("…")-len(rest)) + "…" + rest
			}
			b.WriteString(more)
			return b.String()
		}
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(l)
	}
	return b.String()
}

// truncateUTF8 returns the longest prefix of s of at most n bytes that does
// not split a UTF-8 sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// requeueAfter is the instance's interval with up to 10% jitter, so that
// instances of many clusters started together do not reconcile together.
func requeueAfter(obj *apiv1.FluxInstance) time.Duration {
	d := obj.GetInterval()
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// outcome is what one run did; finish turns it into conditions.
type outcome struct {
	err error
	// reason of the failure (a condition reason); stalled failures are not
	// retried until the spec or an annotation changes.
	reason  string
	stalled bool
	changes []string
	version string
	// revision built, when the build got that far; the events are about it.
	revision string
	// firstInstall: nothing was applied before this reconciliation.
	firstInstall bool
	// restart: start over at once (a new change canceled the health check).
	restart bool
}

func failure(reason string, stalled bool, err error) *outcome {
	return &outcome{err: err, reason: reason, stalled: stalled}
}

// finish is the one place that turns an outcome into conditions, events,
// the history and the request for a fresh report.
func (r *FluxInstanceReconciler) finish(ctx context.Context, orig, obj *apiv1.FluxInstance, o *outcome, took time.Duration) (ctrl.Result, error) {
	if bootstrap.Interrupted(ctx, o.err) {
		return ctrl.Result{}, nil // no condition or event says a run failed that was only cut short
	}
	apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.ReconcilingCondition)
	if v := obj.GetAnnotations()[apiv1.ReconcileRequestAnnotation]; v != "" {
		obj.Status.LastHandledReconcileAt = v
	}
	var result ctrl.Result
	var retErr error
	status := "Succeeded"
	if o.err == nil {
		msg := fmt.Sprintf("Reconciliation finished in %s", took.Round(time.Millisecond))
		setCondition(obj, apiv1.ReadyCondition, metav1.ConditionTrue, apiv1.ReconciliationSucceededReason, msg)
		apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.StalledCondition)
		if len(o.changes) > 0 {
			verb := "updated"
			if o.firstInstall {
				verb = "installed"
			}
			r.event(obj, corev1.EventTypeNormal, apiv1.ReconciliationSucceededReason, o.revision,
				fmt.Sprintf("Flux %s %s\n%s", o.version, verb, strings.Join(o.changes, "\n")))
		}
		result = ctrl.Result{RequeueAfter: requeueAfter(obj)}
	} else {
		status = "Failed"
		msg := o.err.Error()
		setCondition(obj, apiv1.ReadyCondition, metav1.ConditionFalse, o.reason, msg)
		if o.restart {
			// Not a failure: the change that canceled the wait is queued and
			// runs next, without backoff.
			apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.StalledCondition)
			r.event(obj, corev1.EventTypeNormal, o.reason, o.revision, msg)
			recordHistory(obj, "Canceled", took)
			if err := r.patchStatus(ctx, orig, obj); err != nil {
				return ctrl.Result{}, err
			}
			return ctrl.Result{}, nil
		}
		if o.stalled {
			setCondition(obj, apiv1.StalledCondition, metav1.ConditionTrue, o.reason, msg)
		} else {
			apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.StalledCondition)
			retErr = o.err // retried with backoff
		}
		r.event(obj, corev1.EventTypeWarning, o.reason, o.revision, msg)
	}
	recordHistory(obj, status, took)
	if err := r.patchStatus(ctx, orig, obj); err != nil {
		return ctrl.Result{}, err
	}
	r.requestReport(ctx)
	if retErr != nil {
		return ctrl.Result{}, retErr
	}
	return result, nil
}

// recordHistory puts the last reconciliation first in status.history,
// merging it with the previous entry when the revision and outcome repeat;
// at most five entries are kept.
func recordHistory(obj *apiv1.FluxInstance, status string, took time.Duration) {
	rev := obj.Status.LastAttemptedRevision
	digest := rev
	if _, d, ok := strings.Cut(rev, "@"); ok {
		digest = d
	}
	if digest == "" {
		return
	}
	now := metav1.Now()
	h := obj.Status.History
	if len(h) > 0 && h[0].Digest == digest && h[0].LastReconciledStatus == status {
		h[0].LastReconciled, h[0].LastReconciledDuration = now, metav1.Duration{Duration: took}
		h[0].TotalReconciliations++
		return
	}
	version, _, _ := strings.Cut(rev, "@")
	entry := apiv1.HistorySnapshot{Digest: digest, FirstReconciled: now, LastReconciled: now,
		LastReconciledDuration: metav1.Duration{Duration: took}, LastReconciledStatus: status, TotalReconciliations: 1,
		Metadata: map[string]string{"flux": version}}
	obj.Status.History = append([]apiv1.HistorySnapshot{entry}, h...)
	if len(obj.Status.History) > 5 {
		obj.Status.History = obj.Status.History[:5]
	}
}

// requestReport asks the reporter for a fresh FluxReport, so that the report
// and flux_instance_info follow the instance within seconds. A report that
// does not exist (the reporter is not deployed) is not an error.
func (r *FluxInstanceReconciler) requestReport(ctx context.Context) {
	fr := &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Name: apiv1.DefaultName, Namespace: r.Namespace}}
	data := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, apiv1.ReconcileRequestAnnotation, time.Now().Format(time.RFC3339Nano))
	err := r.Client.Patch(ctx, fr, client.RawPatch("application/merge-patch+json", []byte(data)))
	if err != nil && !apierrors.IsNotFound(err) {
		log.FromContext(ctx).Error(err, "failed to ask the reporter for a fresh FluxReport")
	}
}
