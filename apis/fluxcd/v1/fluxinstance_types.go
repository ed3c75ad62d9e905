package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FluxInstanceKind is the kind name of FluxInstance.
const FluxInstanceKind = "FluxInstance"

// DefaultInstanceInterval is how often a FluxInstance is reconciled when
// `fluxcd.controlplane.io/reconcileEvery` is not set.
const DefaultInstanceInterval = time.Hour

// DefaultInstanceTimeout bounds one FluxInstance reconciliation when
// `fluxcd.controlplane.io/reconcileTimeout` is not set.
const DefaultInstanceTimeout = 5 * time.Minute

// Limits of a FluxInstance spec. The CRD's markers below carry the same
// numbers (a test compares them) and the installer's build checks them too,
// for instances built offline.
const (
	// MaxShards bounds spec.sharding.shards.
	MaxShards = 64
	// MaxShardNameLength bounds a shard name: the name becomes the suffix
	// of Deployments, Services and label values of at most 63 characters.
	MaxShardNameLength = 32
	// MaxPatches bounds spec.kustomize.patches.
	MaxPatches = 100
)

// FluxInstanceSpec declares the Flux installation the installer keeps in place.
// +kubebuilder:validation:XValidation:rule="!has(self.sharding) || !has(self.sharding.storage) || self.sharding.storage != 'persistent' || has(self.storage)",message="spec.storage must be set when spec.sharding.storage is 'persistent'"
type FluxInstanceSpec struct {
	// Distribution selects the Flux version, registry and manifests.
	// +required
	Distribution Distribution `json:"distribution"`

	// Components lists the controllers to install. Defaults to source-controller,
	// kustomize-controller, helm-controller and notification-controller.
	// +listType=set
	// +optional
	Components []Component `json:"components,omitempty"`

	// CommonMetadata holds labels and annotations applied to every installed object.
	// +optional
	CommonMetadata *CommonMetadata `json:"commonMetadata,omitempty"`

	// Cluster describes the cluster Flux is installed on.
	// +optional
	Cluster *Cluster `json:"cluster,omitempty"`

	// Sharding configures controller shards.
	// +optional
	Sharding *Sharding `json:"sharding,omitempty"`

	// Storage configures a persistent volume for source-controller.
	// +optional
	Storage *Storage `json:"storage,omitempty"`

	// Kustomize holds patches applied to the Flux manifests.
	// +optional
	Kustomize *Kustomize `json:"kustomize,omitempty"`

	// Wait makes the installer wait for every applied workload to be ready. Defaults to true.
	// +kubebuilder:default:=true
	// +optional
	Wait *bool `json:"wait,omitempty"`

	// MigrateResources migrates Flux objects to the stored version of each CRD on upgrades. Defaults to true.
	// +kubebuilder:default:=true
	// +optional
	MigrateResources *bool `json:"migrateResources,omitempty"`

	// Sync creates a Flux source and Kustomization that sync the cluster from a repository.
	// +optional
	Sync *Sync `json:"sync,omitempty"`
}

// Distribution selects the Flux version and where its images and manifests come from.
type Distribution struct {
	// Version is a semver range, e.g. '2.x' or '2.7.x'.
	// +kubebuilder:validation:MinLength=1
	// +required
	Version string `json:"version"`

	// Registry is the container registry of the Flux images, e.g. 'ghcr.io/fluxcd'.
	// +kubebuilder:validation:MinLength=1
	// +required
	Registry string `json:"registry"`

	// Variant is the image variant.
	// +kubebuilder:validation:Enum:=upstream-alpine;enterprise-alpine;enterprise-distroless;enterprise-distroless-fips
	// +optional
	Variant string `json:"variant,omitempty"`

	// ImagePullSecret names the Secret used to pull the images.
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`

	// Artifact is the OCI artifact holding the distribution manifests,
	// e.g. 'oci://ghcr.io/controlplaneio-fluxcd/flux-operator-manifests:latest'.
	// +kubebuilder:validation:Pattern="^oci://.*$"
	// +optional
	Artifact string `json:"artifact,omitempty"`

	// ArtifactPullSecret names the Secret used to pull the artifact.
	// +optional
	ArtifactPullSecret string `json:"artifactPullSecret,omitempty"`
}

// Component is the name of a Flux controller.
// +kubebuilder:validation:Enum:=source-controller;kustomize-controller;helm-controller;notification-controller;image-reflector-controller;image-automation-controller;source-watcher
type Component string

// CommonMetadata holds labels and annotations applied to every installed object.
type CommonMetadata struct {
	// Labels added to every object.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations added to every object.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Cluster describes the cluster Flux is installed on.
// +kubebuilder:validation:XValidation:rule="!has(self.multitenantWorkloadIdentity) || !self.multitenantWorkloadIdentity || (has(self.objectLevelWorkloadIdentity) && self.objectLevelWorkloadIdentity)",message="spec.cluster.objectLevelWorkloadIdentity must be true when spec.cluster.multitenantWorkloadIdentity is true"
type Cluster struct {
	// Type is the Kubernetes distribution. Defaults to 'kubernetes'.
	// +kubebuilder:validation:Enum:=kubernetes;openshift;aws;azure;gcp
	// +kubebuilder:default:=kubernetes
	// +optional
	Type string `json:"type,omitempty"`

	// Size is the vertical scaling profile of the controllers.
	// +kubebuilder:validation:Enum:=small;medium;large
	// +optional
	Size string `json:"size,omitempty"`

	// Domain is the cluster DNS domain, a DNS subdomain with an optional
	// trailing dot. Defaults to 'cluster.local'.
	// +kubebuilder:default:=cluster.local
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$`
	// +optional
	Domain string `json:"domain,omitempty"`

	// Multitenant enables the multi-tenancy lockdown. Defaults to false.
	// +optional
	Multitenant bool `json:"multitenant,omitempty"`

	// TenantDefaultServiceAccount is the service account used by default in
	// tenant namespaces when Multitenant is true.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	TenantDefaultServiceAccount string `json:"tenantDefaultServiceAccount,omitempty"`

	// NetworkPolicy restricts network access to the Flux namespace. Defaults to true.
	// +kubebuilder:default:=true
	// +optional
	NetworkPolicy *bool `json:"networkPolicy,omitempty"`

	// ObjectLevelWorkloadIdentity lets Flux objects name the service account
	// whose cloud identity they use (Flux 2.6 and later). When false, the
	// controllers cannot create service account tokens.
	// +optional
	ObjectLevelWorkloadIdentity bool `json:"objectLevelWorkloadIdentity,omitempty"`

	// MultitenantWorkloadIdentity makes the controllers use the tenants'
	// default service accounts for cloud identities (Flux 2.7 and later);
	// it requires ObjectLevelWorkloadIdentity.
	// +optional
	MultitenantWorkloadIdentity bool `json:"multitenantWorkloadIdentity,omitempty"`

	// TenantDefaultDecryptionServiceAccount is the service account
	// kustomize-controller decrypts with by default when
	// MultitenantWorkloadIdentity is true. Defaults to 'default'.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	TenantDefaultDecryptionServiceAccount string `json:"tenantDefaultDecryptionServiceAccount,omitempty"`

	// TenantDefaultKubeConfigServiceAccount is the service account the
	// appliers read remote cluster kubeconfigs with by default when
	// MultitenantWorkloadIdentity is true. Defaults to 'default'.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	TenantDefaultKubeConfigServiceAccount string `json:"tenantDefaultKubeConfigServiceAccount,omitempty"`
}

// Sharding configures controller shards.
type Sharding struct {
	// Key is the label key used to shard objects: a qualified label name
	// ('[prefix/]name').
	// +kubebuilder:default:=sharding.fluxcd.io/key
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	// +optional
	Key string `json:"key,omitempty"`

	// Shards lists the shard names: each a DNS label of at most 32
	// characters, as it becomes the suffix of the shard's Deployments and
	// the value of its label.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +required
	Shards []string `json:"shards"`

	// Storage selects ephemeral or persistent storage for source-controller shards.
	// +kubebuilder:validation:Enum:=ephemeral;persistent
	// +optional
	Storage string `json:"storage,omitempty"`
}

// Storage configures the source-controller persistent volume claim.
type Storage struct {
	// Class is the storage class of the claim.
	// +required
	Class string `json:"class"`

	// Size is the requested size of the claim, e.g. '10Gi'.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`
	// +required
	Size string `json:"size"`
}

// Kustomize holds patches applied to the Flux manifests.
type Kustomize struct {
	// Patches are strategic merge or JSON 6902 patches with optional targets.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Patches []Patch `json:"patches,omitempty"`
}

// Patch is a strategic merge or JSON 6902 patch and the objects it targets.
type Patch struct {
	// Patch is the patch body, inline YAML.
	// +kubebuilder:validation:MinLength=1
	// +required
	Patch string `json:"patch"`

	// Target selects the objects the patch applies to.
	// +optional
	Target *PatchSelector `json:"target,omitempty"`
}

// PatchSelector selects objects by group, version, kind, name, namespace, labels or annotations.
type PatchSelector struct {
	// +optional
	Group string `json:"group,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// +optional
	AnnotationSelector string `json:"annotationSelector,omitempty"`
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`
}

// Sync declares the source and Kustomization that sync the cluster.
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",message="spec.sync.name is immutable"
// +kubebuilder:validation:XValidation:rule="self.kind != 'OCIRepository' || self.url.startsWith('oci://')",message="an OCIRepository sync url must start with 'oci://'"
// +kubebuilder:validation:XValidation:rule="self.kind != 'GitRepository' || self.url.startsWith('http://') || self.url.startsWith('https://') || self.url.startsWith('ssh://')",message="a GitRepository sync url must start with 'http://', 'https://' or 'ssh://'"
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || self.provider != 'github' || self.kind == 'GitRepository'",message="the 'github' provider is only valid for a GitRepository sync"
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || self.provider != 'gcp' || self.kind != 'GitRepository'",message="the 'gcp' provider is not valid for a GitRepository sync"
type Sync struct {
	// Name of the source and Kustomization. Defaults to the namespace name.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Name string `json:"name,omitempty"`

	// Kind of the source.
	// +kubebuilder:validation:Enum:=GitRepository;OCIRepository;Bucket
	// +required
	Kind string `json:"kind"`

	// URL of the source: a Git HTTP/S or SSH address, an OCI repository or a Bucket endpoint.
	// +kubebuilder:validation:MinLength=1
	// +required
	URL string `json:"url"`

	// Ref is a Git ref (e.g. 'refs/heads/main'), an OCI tag or a bucket name.
	// +kubebuilder:validation:MinLength=1
	// +required
	Ref string `json:"ref"`

	// Path to the directory holding the manifests, relative to the source root.
	// +kubebuilder:validation:MinLength=1
	// +required
	Path string `json:"path"`

	// PullSecret names the Secret with the source credentials.
	// +optional
	PullSecret string `json:"pullSecret,omitempty"`

	// Interval between syncs. Defaults to 1m.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default:="1m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Provider is the OIDC provider used to authenticate to the source.
	// +kubebuilder:validation:Enum:=generic;aws;azure;gcp;github
	// +optional
	Provider string `json:"provider,omitempty"`
}

// ComponentImage is the image a component runs.
type ComponentImage struct {
	// Name of the component.
	// +required
	Name string `json:"name"`

	// Repository of the image.
	// +required
	Repository string `json:"repository"`

	// Tag of the image.
	// +required
	Tag string `json:"tag"`

	// Digest of the image.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// ResourceInventory lists the objects applied by the last reconciliation.
type ResourceInventory struct {
	// Entries of the inventory.
	// +required
	Entries []ResourceRef `json:"entries"`
}

// ResourceRef identifies an applied object.
type ResourceRef struct {
	// ID is '<namespace>_<name>_<group>_<kind>'.
	// +required
	ID string `json:"id"`

	// Version is the object's API version.
	// +required
	Version string `json:"v"`
}

// HistorySnapshot records reconciliations of one distinct desired state.
type HistorySnapshot struct {
	// Digest identifies the desired state.
	// +required
	Digest string `json:"digest"`

	// FirstReconciled is when this state was first reconciled.
	// +required
	FirstReconciled metav1.Time `json:"firstReconciled"`

	// LastReconciled is when this state was last reconciled.
	// +required
	LastReconciled metav1.Time `json:"lastReconciled"`

	// LastReconciledDuration is how long the last reconciliation took.
	// +required
	LastReconciledDuration metav1.Duration `json:"lastReconciledDuration"`

	// LastReconciledStatus is the Ready reason of the last reconciliation.
	// +required
	LastReconciledStatus string `json:"lastReconciledStatus"`

	// TotalReconciliations counts the reconciliations of this state.
	// +required
	TotalReconciliations int64 `json:"totalReconciliations"`

	// Metadata holds extra facts, e.g. the Flux version.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// FluxInstanceStatus is the observed state of a FluxInstance.
type FluxInstanceStatus struct {
	// Conditions holds Ready, Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastHandledReconcileAt is the last handled value of the
	// reconcile.fluxcd.io/requestedAt annotation.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// LastHandledForceAt is the last handled value of the
	// reconcile.fluxcd.io/forceAt annotation: a forced reconciliation,
	// asked for with the same value in reconcile.fluxcd.io/requestedAt.
	// +optional
	LastHandledForceAt string `json:"lastHandledForceAt,omitempty"`

	// LastAttemptedRevision is the '<version>@<digest>' last attempted.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// LastAppliedRevision is the '<version>@<digest>' last applied, e.g. 'v2.7.2@sha256:…'.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastArtifactRevision is the digest of the last pulled distribution artifact.
	// +optional
	LastArtifactRevision string `json:"lastArtifactRevision,omitempty"`

	// Components lists the image of each installed component.
	// +optional
	Components []ComponentImage `json:"components,omitempty"`

	// Inventory lists the objects applied by the last reconciliation.
	// +optional
	Inventory *ResourceInventory `json:"inventory,omitempty"`

	// History holds the last reconciliations, newest first.
	// +optional
	History []HistorySnapshot `json:"history,omitempty"`
}

// FluxInstance declares a Flux installation managed by the operator.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=fi
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message"
// +kubebuilder:printcolumn:name="Revision",type="string",JSONPath=".status.lastAttemptedRevision",priority=10
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'flux'",message="the only accepted name for a FluxInstance is 'flux'"
type FluxInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FluxInstanceSpec   `json:"spec,omitempty"`
	Status FluxInstanceStatus `json:"status,omitempty"`
}

// FluxInstanceList is a list of FluxInstance.
//
// +kubebuilder:object:root=true
type FluxInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FluxInstance `json:"items"`
}

// DefaultComponents are installed when spec.components is empty.
var DefaultComponents = []Component{
	"source-controller", "kustomize-controller", "helm-controller", "notification-controller",
}

// GetComponents returns spec.components, or DefaultComponents when empty.
func (in *FluxInstance) GetComponents() []Component { return in.Spec.GetComponents() }

// GetComponents returns the components, or DefaultComponents when empty.
func (in *FluxInstanceSpec) GetComponents() []Component {
	if len(in.Components) == 0 {
		return append([]Component(nil), DefaultComponents...)
	}
	return in.Components
}

// GetWait returns spec.wait, true when unset.
func (in *FluxInstance) GetWait() bool { return in.Spec.Wait == nil || *in.Spec.Wait }

// GetMigrateResources returns spec.migrateResources, true when unset.
func (in *FluxInstance) GetMigrateResources() bool {
	return in.Spec.MigrateResources == nil || *in.Spec.MigrateResources
}

// GetNetworkPolicy returns spec.cluster.networkPolicy, true when unset.
func (in *FluxInstance) GetNetworkPolicy() bool {
	return in.Spec.Cluster == nil || in.Spec.Cluster.NetworkPolicy == nil || *in.Spec.Cluster.NetworkPolicy
}

// GetConditions returns the status conditions.
func (in *FluxInstance) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *FluxInstance) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// IsDisabled reports whether reconciliation is suspended with `fluxcd.controlplane.io/reconcile: disabled`.
func (in *FluxInstance) IsDisabled() bool { return reconcileDisabled(in) }

// GetInterval returns the reconcile interval: the `fluxcd.controlplane.io/reconcileEvery`
// annotation, or DefaultInstanceInterval.
func (in *FluxInstance) GetInterval() time.Duration {
	if d := durationAnnotation(in, ReconcileEveryAnnotation); d > 0 {
		return d
	}
	return DefaultInstanceInterval
}

// GetTimeout returns the reconcile timeout: the `fluxcd.controlplane.io/reconcileTimeout`
// annotation, or DefaultInstanceTimeout.
func (in *FluxInstance) GetTimeout() time.Duration {
	if d := durationAnnotation(in, ReconcileTimeoutAnnotation); d > 0 {
		return d
	}
	return DefaultInstanceTimeout
}

// GetReadyCondition returns the Ready condition, or nil before the first reconciliation.
func (in *FluxInstance) GetReadyCondition() *metav1.Condition {
	return findCondition(in.Status.Conditions, ReadyCondition)
}
