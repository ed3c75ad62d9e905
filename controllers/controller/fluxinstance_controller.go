// Package controller holds the FluxInstance reconciler of
// flux-operator-installer: it builds the Flux distribution of the instance,
// applies it with server-side apply, prunes what the build no longer has,
// waits for it to be healthy and writes what it did to the status.
package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
	"github.com/fluxops/flux-operator/internal/bootstrap"
)

// FieldManager owns every field the installer applies, as the Flux
// Operator's does, so either can take over from the other.
const FieldManager = builder.FieldManager

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
	// applied is what was applied last, to compare a reconciliation of the
	// same revision with (applied.go).
	applied appliedRecords
	// builds is the last build of each instance; embedded says that
	// Distribution is the embedded tree, which never changes.
	builds   buildCache
	embedded bool
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

// Reconcile runs one reconciliation of the instance. Whatever path it takes
// (install, suspended, uninstall, failure), what it changes on the instance
// (the finalizer, the conditions, the history) is written by one deferred
// patch at its end; only the in-progress conditions are written before the
// run, so that a long one shows as Reconciling.
func (r *FluxInstanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
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

	sp := newInstancePatcher(r.Client, obj)
	finished := false // a run that ended (not canceled): the reporter is asked for a fresh report
	defer func() {
		// A stopping manager writes nothing: a run cut short did not fail,
		// and no condition may say it did.
		if ctx.Err() == nil {
			err := sp.patch(ctx, obj)
			if err != nil && !obj.DeletionTimestamp.IsZero() && apierrors.IsNotFound(err) {
				err = nil // gone with its finalizer
			}
			if err != nil {
				result, retErr = ctrl.Result{}, errors.Join(retErr, err)
			} else if finished {
				r.requestReport(ctx)
			}
		}
		if bootstrap.Interrupted(ctx, retErr) {
			result, retErr = ctrl.Result{}, nil
		}
	}()

	if !obj.DeletionTimestamp.IsZero() {
		r.uninstall(ctx, obj)
		return ctrl.Result{}, nil
	}
	controllerutil.AddFinalizer(obj, apiv1.Finalizer)
	if obj.IsDisabled() {
		r.suspended(ctx, obj)
		return ctrl.Result{}, nil
	}

	start := time.Now()
	reason := apiv1.ProgressingReason
	if c := obj.GetReadyCondition(); c != nil && c.Status == metav1.ConditionFalse {
		reason = apiv1.ProgressingWithRetryReason
	}
	setCondition(obj, apiv1.ReconcilingCondition, metav1.ConditionTrue, reason, "Reconciliation in progress")
	setCondition(obj, apiv1.ReadyCondition, metav1.ConditionUnknown, reason, "Reconciliation in progress")
	if err := sp.patch(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	o := r.run(ctx, obj)
	if ctx.Err() != nil && o.err != nil {
		return ctrl.Result{}, o.err // cut short: no failure to record
	}
	result, retErr = r.finish(ctx, obj, o, time.Since(start))
	finished = !o.restart
	return result, retErr
}

// instancePatcher writes what a reconcile changed on the instance since the
// last write: its finalizers (a metadata patch) and its status (one status
// patch, conditions and all, so no reader sees Ready before the inventory and
// history it goes with), each only when changed. It is the installer's
// SerialPatcher: one per reconcile, called mid-way and once at the end.
type instancePatcher struct {
	client client.Client
	base   *apiv1.FluxInstance
}

func newInstancePatcher(c client.Client, obj *apiv1.FluxInstance) *instancePatcher {
	return &instancePatcher{client: c, base: obj.DeepCopy()}
}

// patch writes obj's changes. The patches are of copies: the API server's
// answer to one would overwrite obj's changes to the other.
func (p *instancePatcher) patch(ctx context.Context, obj *apiv1.FluxInstance) error {
	if !slices.Equal(p.base.Finalizers, obj.Finalizers) {
		if err := p.client.Patch(ctx, obj.DeepCopy(), client.MergeFrom(p.base)); err != nil {
			return fmt.Errorf("failed to write the FluxInstance finalizers: %w", err)
		}
		p.base.Finalizers = slices.Clone(obj.Finalizers)
	}
	if !equality.Semantic.DeepEqual(p.base.Status, obj.Status) {
		if err := p.client.Status().Patch(ctx, obj.DeepCopy(), client.MergeFrom(p.base)); err != nil {
			return fmt.Errorf("failed to write the FluxInstance status: %w", err)
		}
	}
	p.base = obj.DeepCopy()
	return nil
}

func setCondition(obj *apiv1.FluxInstance, typ string, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: obj.Generation})
}

// suspended records, once, that reconciliation is disabled.
func (r *FluxInstanceReconciler) suspended(ctx context.Context, obj *apiv1.FluxInstance) {
	if c := obj.GetReadyCondition(); c != nil && c.Reason == apiv1.ReconciliationDisabledReason {
		log.FromContext(ctx).V(1).Info("reconciliation is disabled by annotation", apiv1.ReconcileAnnotation, apiv1.DisabledValue)
		return
	}
	msg := "Reconciliation is disabled"
	setCondition(obj, apiv1.ReadyCondition, metav1.ConditionTrue, apiv1.ReconciliationDisabledReason, msg)
	apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.ReconcilingCondition)
	r.event(ctx, obj, corev1.EventTypeWarning, apiv1.ReconciliationDisabledReason, obj.Status.LastAppliedRevision, msg)
}

// event logs msg and records it as an event on the instance about revision
// (may be empty), forwarded to notification-controller: the one call for
// both, so the log and the events never tell different stories. A Warning
// is logged as an error.
func (r *FluxInstanceReconciler) event(ctx context.Context, obj *apiv1.FluxInstance, typ, reason, revision, msg string) {
	logger := log.FromContext(ctx).WithValues("reason", reason)
	if revision != "" {
		logger = logger.WithValues("revision", revision)
	}
	if typ == corev1.EventTypeWarning {
		logger.Error(errors.New(msg), "reconciliation failed")
	} else {
		logger.Info(msg)
	}
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

// finish is the one place that turns an outcome into conditions, events and
// the history; the deferred patch of Reconcile writes them.
func (r *FluxInstanceReconciler) finish(ctx context.Context, obj *apiv1.FluxInstance, o *outcome, took time.Duration) (ctrl.Result, error) {
	apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.ReconcilingCondition)
	if v := obj.GetAnnotations()[apiv1.ReconcileRequestAnnotation]; v != "" {
		obj.Status.LastHandledReconcileAt = v
		if obj.GetAnnotations()[apiv1.ForceRequestAnnotation] == v {
			obj.Status.LastHandledForceAt = v
		}
	}
	switch {
	case o.err == nil:
		msg := fmt.Sprintf("Reconciliation finished in %s", took.Round(time.Millisecond))
		setCondition(obj, apiv1.ReadyCondition, metav1.ConditionTrue, apiv1.ReconciliationSucceededReason, msg)
		apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.StalledCondition)
		if len(o.changes) > 0 {
			verb := "updated"
			if o.firstInstall {
				verb = "installed"
			}
			r.event(ctx, obj, corev1.EventTypeNormal, apiv1.ReconciliationSucceededReason, o.revision,
				fmt.Sprintf("Flux %s %s\n%s", o.version, verb, strings.Join(o.changes, "\n")))
		} else {
			log.FromContext(ctx).V(1).Info(msg, "revision", o.revision)
		}
		recordHistory(obj, "Succeeded", took)
		return ctrl.Result{RequeueAfter: requeueAfter(obj)}, nil
	case o.restart:
		// Not a failure: the change that canceled the wait is queued and
		// runs next, without backoff.
		msg := o.err.Error()
		setCondition(obj, apiv1.ReadyCondition, metav1.ConditionFalse, o.reason, msg)
		apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.StalledCondition)
		r.event(ctx, obj, corev1.EventTypeNormal, o.reason, o.revision, msg)
		recordHistory(obj, "Canceled", took)
		return ctrl.Result{}, nil
	default:
		msg := o.err.Error()
		setCondition(obj, apiv1.ReadyCondition, metav1.ConditionFalse, o.reason, msg)
		var retErr error
		if o.stalled {
			setCondition(obj, apiv1.StalledCondition, metav1.ConditionTrue, o.reason, msg)
		} else {
			apimeta.RemoveStatusCondition(&obj.Status.Conditions, apiv1.StalledCondition)
			retErr = o.err // retried with backoff
		}
		r.event(ctx, obj, corev1.EventTypeWarning, o.reason, o.revision, msg)
		recordHistory(obj, "Failed", took)
		return ctrl.Result{}, retErr
	}
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
