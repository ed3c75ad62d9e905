package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// Labels and names a Flux installation carries.
const (
	PartOfFlux      = "flux"
	BootstrapLabel  = "kustomize.toolkit.fluxcd.io/name"
	BootstrapTool   = "flux bootstrap"
	DistributionCRD = "gitrepositories.source.toolkit.fluxcd.io"
	// DependencyNotReadyReason is the Ready reason of Flux objects waiting on
	// a dependency; they are not counted as failing.
	DependencyNotReadyReason = "DependencyNotReady"
)

// ServerVersioner returns the API server version; discovery clients are one.
type ServerVersioner interface {
	ServerVersion() (*version.Info, error)
}

// Computer computes FluxReport specs.
type Computer struct {
	// Cache serves every list and get; it is the manager's cache.
	Cache cache.Cache
	// APIReader reads straight from the API server; it probes each Flux kind
	// once before an informer is started for it.
	APIReader client.Reader
	// Versioner reports the API server version.
	Versioner ServerVersioner
	// Namespace is where Flux and the operator run.
	Namespace string
	// SyncName names the sync Kustomization explicitly (flag or env); the
	// FluxReport annotation wins over it.
	SyncName string
	// OperatorVersion and OperatorPlatform describe the binary.
	OperatorVersion, OperatorPlatform string

	once   sync.Once
	lister *fluxobj.KindLister
}

// Result is a computed report and what could not be computed.
type Result struct {
	Spec apiv1.FluxReportSpec
	// Errors name each part of the report that failed; the rest of Spec is
	// still filled in.
	Errors []*PartError
}

// PartError is one part of the report that could not be computed: which part,
// why (one of the fluxobj.Reason* constants) and the error itself.
type PartError struct {
	// Part says what failed, as a phrase after "failed to", e.g.
	// "list HelmRelease (helm.toolkit.fluxcd.io/v2)".
	Part string
	// Reason classifies Err.
	Reason string
	// Err is the cause.
	Err error
}

func (e *PartError) Error() string { return "failed to " + e.Part + ": " + e.Err.Error() }

func (e *PartError) Unwrap() error { return e.Err }

// Err joins the errors in a stable, human-readable sentence, or nil.
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	msgs := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		msgs[i] = e.Error()
	}
	sort.Strings(msgs)
	return errors.New(strings.Join(msgs, "; "))
}

// Failures returns the failing parts with their reasons, sorted: two reports
// that fail the same way have equal Failures even when the error texts differ
// in details such as timings.
func (r *Result) Failures() []string {
	out := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		out[i] = e.Part + " (" + e.Reason + ")"
	}
	sort.Strings(out)
	return out
}

func (r *Result) fail(err error, format string, args ...any) {
	r.Errors = append(r.Errors, &PartError{Part: fmt.Sprintf(format, args...), Reason: fluxobj.Reason(err), Err: err})
}

// fluxKind is a Flux API kind found from its CRD.
type fluxKind struct {
	gvk    schema.GroupVersionKind // stored version
	crd    *apiextensionsv1.CustomResourceDefinition
	plural string
}

// Compute builds the report spec. report is the current FluxReport (for its
// sync annotation); it may be nil.
func (c *Computer) Compute(ctx context.Context, report *apiv1.FluxReport) *Result {
	res := &Result{}
	res.Spec.Distribution = apiv1.FluxDistributionStatus{
		Entitlement: apiv1.DistributionUnknown,
		Status:      apiv1.DistributionUnknown,
	}
	res.Spec.Operator = &apiv1.OperatorInfo{
		APIVersion: apiv1.GroupVersion.String(),
		Version:    c.OperatorVersion,
		Platform:   c.OperatorPlatform,
	}
	res.Spec.Cluster = c.cluster(ctx, res)
	res.Spec.ComponentsStatus = c.components(ctx, res)

	kinds, err := c.fluxKinds(ctx)
	if err != nil {
		res.fail(err, "list Flux CRDs")
	} else {
		res.Spec.Distribution = distribution(kinds)
		res.Spec.ReconcilersStatus = c.reconcilers(ctx, kinds, res)
		res.Spec.SyncStatus = c.sync(ctx, kinds, report, res)
	}
	res.Spec.ReconcilersStatus = append(res.Spec.ReconcilersStatus, c.instanceStats(ctx, res)...)
	sortReconcilers(res.Spec.ReconcilersStatus)
	return res
}

func (c *Computer) cluster(ctx context.Context, res *Result) *apiv1.ClusterInfo {
	info := &apiv1.ClusterInfo{}
	if v, err := c.Versioner.ServerVersion(); err != nil {
		res.fail(err, "get the server version")
	} else {
		info.ServerVersion, info.Platform = v.GitVersion, v.Platform
	}
	var nodes metav1.PartialObjectMetadataList
	nodes.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "NodeList"})
	if err := c.list(ctx, &nodes); err != nil {
		res.fail(err, "list Nodes")
	} else {
		info.Nodes = len(nodes.Items)
	}
	return info
}

// fluxKinds returns the kinds of the CRDs labelled part-of=flux, by kind name.
func (c *Computer) fluxKinds(ctx context.Context) ([]fluxKind, error) {
	var crds apiextensionsv1.CustomResourceDefinitionList
	if err := c.Cache.List(ctx, &crds, client.MatchingLabels{apiv1.PartOfLabel: PartOfFlux}); err != nil {
		return nil, err
	}
	kinds := make([]fluxKind, 0, len(crds.Items))
	for i := range crds.Items {
		crd := &crds.Items[i]
		stored := ""
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				stored = v.Name
			}
		}
		if stored == "" {
			continue
		}
		kinds = append(kinds, fluxKind{
			gvk:    schema.GroupVersionKind{Group: crd.Spec.Group, Version: stored, Kind: crd.Spec.Names.Kind},
			crd:    crd,
			plural: crd.Spec.Names.Plural,
		})
	}
	sort.Slice(kinds, func(i, j int) bool {
		if kinds[i].gvk.Kind != kinds[j].gvk.Kind {
			return kinds[i].gvk.Kind < kinds[j].gvk.Kind
		}
		return kinds[i].gvk.Group < kinds[j].gvk.Group
	})
	return kinds, nil
}

func distribution(kinds []fluxKind) apiv1.FluxDistributionStatus {
	d := apiv1.FluxDistributionStatus{Entitlement: apiv1.DistributionUnknown, Status: apiv1.DistributionNotInstalled}
	for _, k := range kinds {
		if k.crd.Name != DistributionCRD {
			continue
		}
		labels := k.crd.Labels
		d.Status = apiv1.DistributionInstalled
		d.Version = labels[apiv1.VersionLabel]
		switch {
		case labels[apiv1.ManagedByLabel] != "":
			d.ManagedBy = labels[apiv1.ManagedByLabel]
		case labels[BootstrapLabel] != "":
			d.ManagedBy = BootstrapTool
		}
	}
	return d
}

// StartInformers starts the informers of the Flux kinds the cluster serves,
// without waiting for them: called as the manager starts, their initial
// lists run while the controller waits for its own caches, and the first
// report finds them read or being read. What fails is for the report to say.
func (c *Computer) StartInformers(ctx context.Context) {
	kinds, err := c.fluxKinds(ctx)
	if err != nil {
		return
	}
	gvks := make([]schema.GroupVersionKind, len(kinds))
	for i, k := range kinds {
		gvks[i] = k.gvk
	}
	c.kinds().Start(ctx, gvks)
}

func (c *Computer) reconcilers(ctx context.Context, kinds []fluxKind, res *Result) []apiv1.FluxReconcilerStatus {
	out := make([]apiv1.FluxReconcilerStatus, 0, len(kinds))
	gvks := make([]schema.GroupVersionKind, len(kinds))
	for i, k := range kinds {
		gvks[i] = k.gvk
	}
	// The informers of kinds whose CRD is gone stop before they log
	// failed watches; a failure to stop one is reported with the others.
	if err := c.kinds().Retain(ctx, gvks); err != nil {
		res.fail(err, "stop the informers of removed Flux kinds")
	}
	c.kinds().Start(ctx, gvks)
	defer fluxobj.ReleaseInitialList()
	for _, k := range kinds {
		objs, err := c.kinds().Objects(ctx, k.gvk, "")
		if err != nil {
			res.fail(err, "list %s (%s)", k.gvk.Kind, k.gvk.GroupVersion())
			continue
		}
		out = append(out, apiv1.FluxReconcilerStatus{
			APIVersion: k.gvk.GroupVersion().String(),
			Kind:       k.gvk.Kind,
			Stats:      StatsOf(objs),
		})
	}
	return out
}

// sortReconcilers orders the reconciler stats by apiVersion and kind, as the
// Flux Operator orders them (on the two strings joined), so the two reports
// compare line by line.
func sortReconcilers(rs []apiv1.FluxReconcilerStatus) {
	slices.SortStableFunc(rs, func(a, b apiv1.FluxReconcilerStatus) int {
		return cmp.Compare(a.APIVersion+a.Kind, b.APIVersion+b.Kind)
	})
}

// StatsOf counts running, failing and suspended objects and sums their
// artifact sizes. Suspended objects are neither running nor failing, but
// their artifacts still use storage and count in the size; objects whose
// Ready reason is DependencyNotReady are not failing.
func StatsOf(objs []*fluxobj.Object) apiv1.FluxReconcilerStats {
	var s apiv1.FluxReconcilerStats
	var size int64
	for _, o := range objs {
		if o.Suspended {
			s.Suspended++
		} else if o.HasReady && o.Ready.Status == string(metav1.ConditionFalse) && o.Ready.Reason != DependencyNotReadyReason {
			s.Failing++
		}
		if o.HasArtifactSize {
			size += o.ArtifactSize
		}
	}
	s.Running = len(objs) - s.Suspended
	if size > 0 {
		s.TotalSize = humanSize(size)
	}
	return s
}

// instanceStats counts the operator's own FluxInstance objects; suspension is
// the `fluxcd.controlplane.io/reconcile: disabled` annotation.
func (c *Computer) instanceStats(ctx context.Context, res *Result) []apiv1.FluxReconcilerStatus {
	var list apiv1.FluxInstanceList
	if err := c.list(ctx, &list); err != nil {
		res.fail(err, "list FluxInstance (%s)", apiv1.GroupVersion)
		return nil
	}
	var s apiv1.FluxReconcilerStats
	for i := range list.Items {
		fi := &list.Items[i]
		if fi.IsDisabled() {
			s.Suspended++
			continue
		}
		if c := fi.GetReadyCondition(); c != nil && c.Status == metav1.ConditionFalse {
			s.Failing++
		}
	}
	s.Running = len(list.Items) - s.Suspended
	return []apiv1.FluxReconcilerStatus{{APIVersion: apiv1.GroupVersion.String(), Kind: apiv1.FluxInstanceKind, Stats: s}}
}

// list reads from the cache with a bounded wait for the informer to sync.
func (c *Computer) list(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	ctx, cancel := context.WithTimeout(ctx, fluxobj.ListTimeout)
	defer cancel()
	return c.Cache.List(ctx, list, opts...)
}

// get reads one object from the cache with a bounded wait for the informer to
// sync.
func (c *Computer) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	ctx, cancel := context.WithTimeout(ctx, fluxobj.ListTimeout)
	defer cancel()
	return c.Cache.Get(ctx, key, obj)
}

// kinds returns the lister of Flux kinds, created on first use.
func (c *Computer) kinds() *fluxobj.KindLister {
	c.once.Do(func() {
		c.lister = &fluxobj.KindLister{Cache: c.Cache, APIReader: c.APIReader, Component: "flux-operator-reporter"}
	})
	return c.lister
}
