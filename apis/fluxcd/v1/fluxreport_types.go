package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FluxReportKind is the kind name of FluxReport.
const FluxReportKind = "FluxReport"

// Values of FluxReport spec.distribution.status and spec.distribution.entitlement.
const (
	DistributionInstalled    = "Installed"
	DistributionNotInstalled = "Not Installed"
	DistributionUnknown      = "Unknown"
)

// FluxReportSpec is the observed state of a Flux installation, written by the reporter.
type FluxReportSpec struct {
	// Distribution describes the installed Flux distribution.
	// +required
	Distribution FluxDistributionStatus `json:"distribution"`

	// Cluster describes the Kubernetes cluster Flux runs on.
	// +optional
	Cluster *ClusterInfo `json:"cluster,omitempty"`

	// Operator describes the operator that wrote the report.
	// +optional
	Operator *OperatorInfo `json:"operator,omitempty"`

	// ComponentsStatus is the status of each Flux controller Deployment, sorted by name.
	// +optional
	ComponentsStatus []FluxComponentStatus `json:"components,omitempty"`

	// ReconcilersStatus holds statistics per Flux API kind.
	// +optional
	ReconcilersStatus []FluxReconcilerStatus `json:"reconcilers,omitempty"`

	// SyncStatus is the status of the cluster sync Kustomization and its source.
	// +optional
	SyncStatus *FluxSyncStatus `json:"sync,omitempty"`
}

// FluxDistributionStatus describes the installed Flux distribution.
type FluxDistributionStatus struct {
	// Entitlement is kept for API compatibility; there is no entitlement service, so it is 'Unknown'.
	// +required
	Entitlement string `json:"entitlement"`

	// Status is 'Installed' when the Flux CRDs exist, 'Not Installed' otherwise,
	// and 'Unknown' before the first report.
	// +required
	Status string `json:"status"`

	// Version is the Flux version, e.g. 'v2.7.2'.
	// +optional
	Version string `json:"version,omitempty"`

	// ManagedBy names the tool that installed Flux, e.g. 'flux-operator', 'Helm', 'flux bootstrap'.
	// +optional
	ManagedBy string `json:"managedBy,omitempty"`
}

// ClusterInfo describes the Kubernetes cluster.
type ClusterInfo struct {
	// ServerVersion is the Kubernetes API server version, e.g. 'v1.37.2'.
	// +required
	ServerVersion string `json:"serverVersion"`

	// Platform is the API server's os/arch, e.g. 'linux/amd64'.
	// +required
	Platform string `json:"platform"`

	// Nodes is the number of nodes in the cluster.
	// +optional
	Nodes int `json:"nodes,omitempty"`
}

// OperatorInfo describes the operator that wrote the report.
type OperatorInfo struct {
	// APIVersion is the operator's API version, e.g. 'fluxcd.controlplane.io/v1'.
	// +required
	APIVersion string `json:"apiVersion"`

	// Version is the operator binary version.
	// +required
	Version string `json:"version"`

	// Platform is the operator's os/arch.
	// +required
	Platform string `json:"platform"`
}

// FluxComponentStatus is the observed state of one Flux controller Deployment.
type FluxComponentStatus struct {
	// Name is the Deployment name.
	// +required
	Name string `json:"name"`

	// Image is the image of the Deployment's first container.
	// +required
	Image string `json:"image"`

	// Ready is true when the Deployment's kstatus is Current.
	// +required
	Ready bool `json:"ready"`

	// Status is the kstatus status followed by its message.
	// +required
	Status string `json:"status"`
}

// FluxReconcilerStatus holds the statistics of one Flux API kind.
type FluxReconcilerStatus struct {
	// APIVersion is the group/version of the kind (the CRD's stored version).
	// +required
	APIVersion string `json:"apiVersion"`

	// Kind is the API kind, e.g. 'Kustomization'.
	// +required
	Kind string `json:"kind"`

	// Stats are the reconcile statistics of the kind.
	// +optional
	Stats FluxReconcilerStats `json:"stats,omitempty"`
}

// FluxReconcilerStats are the reconcile statistics of one kind.
type FluxReconcilerStats struct {
	// Running is the number of objects that are not suspended.
	// +required
	Running int `json:"running"`

	// Failing is the number of objects that are not suspended and whose Ready
	// condition is False for a reason other than DependencyNotReady.
	// +required
	Failing int `json:"failing"`

	// Suspended is the number of suspended objects.
	// +required
	Suspended int `json:"suspended"`

	// TotalSize is the human-readable sum of the objects' artifact sizes.
	// +optional
	TotalSize string `json:"totalSize,omitempty"`
}

// FluxSyncStatus is the status of the cluster sync.
type FluxSyncStatus struct {
	// ID identifies the sync Kustomization, e.g. 'kustomization/flux-system'.
	// +required
	ID string `json:"id"`

	// Path is the Kustomization's spec.path.
	// +optional
	Path string `json:"path,omitempty"`

	// Ready is the Kustomization's readiness, false when its source fails.
	// +required
	Ready bool `json:"ready"`

	// Status is the Ready condition message, followed by the source's when it fails.
	// +required
	Status string `json:"status"`

	// Source is the URL of the sync source.
	// +optional
	Source string `json:"source,omitempty"`
}

// FluxReportStatus is the status of the reporting itself.
type FluxReportStatus struct {
	// Conditions holds the Ready condition of the last report.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastHandledReconcileAt is the last handled value of the
	// reconcile.fluxcd.io/requestedAt annotation.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// FluxReport describes the observed state of the Flux installation in its namespace.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=fr
// +kubebuilder:printcolumn:name="Entitlement",type="string",JSONPath=".spec.distribution.entitlement",priority=10
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message"
// +kubebuilder:printcolumn:name="LastUpdated",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].lastTransitionTime"
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'flux'",message="the only accepted name for a FluxReport is 'flux'"
type FluxReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FluxReportSpec   `json:"spec,omitempty"`
	Status FluxReportStatus `json:"status,omitempty"`
}

// FluxReportList is a list of FluxReport.
//
// +kubebuilder:object:root=true
type FluxReportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FluxReport `json:"items"`
}

// GetConditions returns the status conditions.
func (in *FluxReport) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *FluxReport) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// IsDisabled reports whether reporting is suspended with `fluxcd.controlplane.io/reconcile: disabled`.
func (in *FluxReport) IsDisabled() bool { return reconcileDisabled(in) }

// GetInterval returns the `fluxcd.controlplane.io/reconcileEvery` interval, or zero when unset or invalid.
func (in *FluxReport) GetInterval() time.Duration {
	return durationAnnotation(in, ReconcileEveryAnnotation)
}

// GetReadyCondition returns the Ready condition, or nil before the first report.
func (in *FluxReport) GetReadyCondition() *metav1.Condition {
	return findCondition(in.Status.Conditions, ReadyCondition)
}
