package v1

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// DefaultName is the only name accepted for a FluxInstance or a FluxReport:
	// both are singletons per namespace.
	DefaultName = "flux"

	// DefaultNamespace is the namespace the operator and the Flux controllers run in
	// unless RUNTIME_NAMESPACE says otherwise.
	DefaultNamespace = "flux-system"
)

// Finalizer keeps a FluxInstance until the installer has uninstalled Flux.
const Finalizer = "fluxcd.controlplane.io/finalizer"

// Annotations understood by the operator on its own kinds.
const (
	// ReconcileRequestAnnotation asks for an immediate reconciliation when its
	// value changes; the handled value is echoed in status.lastHandledReconcileAt.
	ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"

	// ForceRequestAnnotation, set to the same value as
	// ReconcileRequestAnnotation, forces the steps a reconciliation otherwise
	// skips when the version does not change, such as the storage-version
	// migration of Flux custom resources.
	ForceRequestAnnotation = "reconcile.fluxcd.io/forceAt"

	// ReconcileAnnotation set to DisabledValue suspends reconciliation.
	ReconcileAnnotation = "fluxcd.controlplane.io/reconcile"

	// ReconcileEveryAnnotation overrides the reconciliation interval (a Go duration).
	ReconcileEveryAnnotation = "fluxcd.controlplane.io/reconcileEvery"

	// ReconcileTimeoutAnnotation overrides the reconciliation timeout (a Go duration).
	ReconcileTimeoutAnnotation = "fluxcd.controlplane.io/reconcileTimeout"

	// EnabledValue is the value of ReconcileAnnotation that keeps reconciliation on.
	EnabledValue = "enabled"

	// DisabledValue is the value of ReconcileAnnotation that suspends reconciliation.
	DisabledValue = "disabled"
)

// Condition types.
const (
	// ReadyCondition says whether the last reconciliation of the object succeeded.
	ReadyCondition = "Ready"

	// ReconcilingCondition says a reconciliation is in progress.
	ReconcilingCondition = "Reconciling"

	// StalledCondition says reconciliation cannot go on until the spec changes.
	StalledCondition = "Stalled"
)

// Condition reasons.
const (
	// ReconciliationSucceededReason: the last reconciliation finished without error.
	ReconciliationSucceededReason = "ReconciliationSucceeded"

	// ReconciliationFailedReason: the last reconciliation failed; the message says why.
	ReconciliationFailedReason = "ReconciliationFailed"

	// ProgressingReason: a reconciliation is under way.
	ProgressingReason = "Progressing"

	// BuildFailedReason: the distribution manifests could not be built.
	BuildFailedReason = "BuildFailed"

	// HealthCheckFailedReason: the applied workloads did not become ready in time.
	HealthCheckFailedReason = "HealthCheckFailed"

	// HealthCheckCanceledReason: a new change to the instance stopped the
	// health check of the previous one, whose reconciliation starts over.
	HealthCheckCanceledReason = "HealthCheckCanceled"

	// ReportPartialReason: part of a FluxReport could not be computed; the message names what.
	ReportPartialReason = "ReportPartial"

	// ArtifactFailedReason: the distribution artifact could not be pulled.
	ArtifactFailedReason = "ArtifactFailed"

	// ReconciliationDisabledReason: reconciliation is suspended by the
	// fluxcd.controlplane.io/reconcile: disabled annotation.
	ReconciliationDisabledReason = "ReconciliationDisabled"

	// ProgressingWithRetryReason: a reconciliation is under way after a failed one.
	ProgressingWithRetryReason = "ProgressingWithRetry"

	// OutdatedVersionReason: the version built is not the newest available.
	OutdatedVersionReason = "OutdatedVersion"
)

// annotatedObject is the part of metav1.Object the annotation helpers need.
type annotatedObject interface {
	GetAnnotations() map[string]string
}

// reconcileDisabled reports whether obj carries `fluxcd.controlplane.io/reconcile: disabled`.
func reconcileDisabled(obj annotatedObject) bool {
	return strings.EqualFold(obj.GetAnnotations()[ReconcileAnnotation], DisabledValue)
}

// durationAnnotation parses a duration annotation of obj, returning zero when it
// is absent, malformed or not positive.
func durationAnnotation(obj annotatedObject, key string) time.Duration {
	v, ok := obj.GetAnnotations()[key]
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0
	}
	return d
}

// findCondition returns the condition of the given type, or nil.
func findCondition(conditions []metav1.Condition, conditionType string) *metav1.Condition {
	for i := range conditions {
		if conditions[i].Type == conditionType {
			return &conditions[i]
		}
	}
	return nil
}

// SyncNameAnnotation on a FluxReport names the cluster-sync Kustomization in
// the report's namespace, for clusters whose root Kustomization is not named
// after the namespace. It wins over the reporter's --sync-name flag.
const SyncNameAnnotation = "fluxcd.controlplane.io/syncName"

// The recommended Kubernetes labels a Flux installation carries: the
// installer's build puts them on every object, the reporter reads them.
const (
	PartOfLabel    = "app.kubernetes.io/part-of"
	VersionLabel   = "app.kubernetes.io/version"
	ManagedByLabel = "app.kubernetes.io/managed-by"
	InstanceLabel  = "app.kubernetes.io/instance"
)
