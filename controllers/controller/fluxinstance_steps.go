package controller

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// takeover are the field managers of other install tools whose fields the
// installer takes over, so that a Flux installed with kubectl, Helm, flux
// bootstrap or the Flux Operator's kustomize-controller sync is adopted
// without duplicates or fights.
var takeover = []ssa.FieldManager{
	{Name: "kustomize-controller", OperationType: metav1.ManagedFieldsOperationApply, ExactMatch: true},
	{Name: "flux", OperationType: metav1.ManagedFieldsOperationApply, ExactMatch: true},
	{Name: "flux", OperationType: metav1.ManagedFieldsOperationUpdate, ExactMatch: true},
	{Name: "helm", OperationType: metav1.ManagedFieldsOperationUpdate, ExactMatch: true},
	{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
	{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
	{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
}

// applyOptions apply with drift detection, strip what other install tools
// left behind, and never delete and recreate an object behind the user's
// back (an immutable field change is a failure that says so).
func applyOptions() ssa.ApplyOptions {
	o := ssa.DefaultApplyOptions()
	// CRDs and namespaces are usually established within a second: poll
	// for them often rather than every two seconds.
	o.WaitInterval = 500 * time.Millisecond
	o.Cleanup = ssa.ApplyCleanupOptions{
		Annotations:   []string{corev1.LastAppliedConfigAnnotation, "meta.helm.sh/release-name", "meta.helm.sh/release-namespace"},
		Labels:        []string{"kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"},
		FieldManagers: takeover,
		Exclusions:    map[string]string{builder.PruneAnnotation: "disabled"},
	}
	return o
}

// run is the pipeline of one reconciliation: fetch, build, apply, prune,
// health check. It fills in the status as it goes.
func (r *FluxInstanceReconciler) run(ctx context.Context, obj *apiv1.FluxInstance) *outcome {
	dist, artifactDigest, err := r.fetch(ctx, obj)
	if err != nil {
		return failure(apiv1.ArtifactFailedReason, false, err)
	}
	last := ""
	if v, _, ok := strings.Cut(obj.Status.LastAppliedRevision, "@"); ok {
		last = v
	}
	distID := artifactDigest
	if obj.Spec.Distribution.Artifact == "" && r.embedded {
		distID = "embedded"
	}
	res, err := r.builds.build(ctx, obj.UID, distID, builder.Request{Spec: &obj.Spec, Name: obj.Name, Namespace: obj.Namespace,
		Distribution: dist, LastAppliedVersion: last})
	if err != nil {
		return failure(apiv1.BuildFailedReason, true, fmt.Errorf("build failed: %w", err))
	}
	for _, w := range res.Warnings {
		log.FromContext(ctx).Info("build warning", "warning", w)
	}
	// Progress and an outdated version are told once per new revision, so
	// that a reconciliation with nothing to do records nothing.
	if res.Revision != obj.Status.LastAttemptedRevision {
		verb := "Upgrading to"
		if obj.Status.LastAppliedRevision == "" {
			verb = "Installing"
		}
		r.event(ctx, obj, corev1.EventTypeNormal, apiv1.ProgressingReason, res.Revision, fmt.Sprintf("%s revision %s", verb, res.Revision))
		if res.Outdated {
			r.event(ctx, obj, corev1.EventTypeNormal, apiv1.OutdatedVersionReason, res.Revision,
				fmt.Sprintf("Flux %s is outdated, the latest stable version is %s", res.Version, res.Newest))
		}
	}
	obj.Status.LastAttemptedRevision = res.Revision
	fail := func(reason string, stalled bool, err error) *outcome {
		o := failure(reason, stalled, err)
		o.revision = res.Revision
		return o
	}

	objects := res.Objects
	r.Manager.SetOwnerLabels(objects, obj.Name, obj.Namespace)
	var migrated []string
	if obj.GetMigrateResources() && (last != res.Version || forced(obj)) {
		if migrated, err = r.migrateStoredVersions(ctx, objects); err != nil {
			return fail(apiv1.ReconciliationFailedReason, false, fmt.Errorf("storage version migration failed: %w", err))
		}
	}
	changeSet, healthy, applyErr := r.apply(ctx, obj, res.Revision, objects)
	old := inventoryObjects(obj.Status.Inventory)
	if applyErr != nil {
		// What was applied stays in the inventory with what was there, so
		// the next reconciliation prunes nothing it should not.
		obj.Status.Inventory = mergeInventory(obj.Status.Inventory, changeSet)
		return fail(apiv1.ReconciliationFailedReason, false, fmt.Errorf("apply failed: %w", applyErr))
	}
	newInv := inventoryOf(changeSet)
	obj.Status.Inventory = newInv
	changes := changeLines(changeSet)
	for _, m := range migrated {
		changes = append(changes, "CustomResourceDefinition/"+m+" migrated")
	}

	stale := staleObjects(old, newInv)
	if len(stale) > 0 {
		deleted, err := r.Manager.DeleteAll(ctx, stale, ssa.DeleteOptions{
			PropagationPolicy: metav1.DeletePropagationBackground,
			Inclusions:        r.Manager.GetOwnerLabels(obj.Name, obj.Namespace),
			Exclusions:        map[string]string{builder.PruneAnnotation: "disabled"},
		})
		if err != nil {
			return fail(apiv1.ReconciliationFailedReason, false, fmt.Errorf("prune failed: %w", err))
		}
		changes = append(changes, changeLines(deleted)...)
	}
	obj.Status.Components = res.Components
	obj.Status.LastArtifactRevision = artifactDigest

	if obj.GetWait() && !healthy {
		wctx, cancel := context.WithTimeoutCause(ctx, obj.GetTimeout(), errHealthTimeout)
		defer cancel()
		canceled := r.cancelOnChange(wctx, cancel, obj)
		if err := r.Manager.WaitForSetWithContext(wctx, changeSet.ToObjMetadataSet(), ssa.WaitOptions{
			Interval: time.Second, Timeout: obj.GetTimeout()}); err != nil {
			if by := canceled(); by != "" {
				o := fail(apiv1.HealthCheckCanceledReason, false,
					fmt.Errorf("health checks canceled due to a new reconciliation triggered by %s", by))
				o.restart = true
				return o
			}
			return fail(apiv1.HealthCheckFailedReason, false, fmt.Errorf("health check failed after %s: %w", obj.GetTimeout(), err))
		}
	}
	obj.Status.LastAppliedRevision = res.Revision
	return &outcome{changes: changes, version: res.Version, revision: res.Revision, firstInstall: len(old) == 0}
}

// apply applies objects. When the installer applied the same revision of
// the instance before and this is not a forced reconciliation, only the
// objects that changed since (see applied.go) are applied; the others are
// unchanged entries of the change set. healthy says that nothing was
// applied and every workload was Current when listed, so the health check
// has nothing to wait for.
func (r *FluxInstanceReconciler) apply(ctx context.Context, obj *apiv1.FluxInstance, revision string,
	objects []*unstructured.Unstructured) (cs *ssa.ChangeSet, healthy bool, err error) {
	logger := log.FromContext(ctx)
	c := r.Manager.Client()
	owner := r.Manager.GetOwnerLabels(obj.Name, obj.Namespace)
	var rec *appliedSet
	if !forced(obj) {
		rec = r.applied.get(obj.UID, revision)
	}
	// What is live before the apply: the comparison of the fast path, and
	// the resourceVersions the record's rules need.
	before, err := readLive(ctx, c, groupsOf(objects), owner)
	if err != nil {
		logger.Info("listing the installed objects failed, applying everything without recording it", "error", err.Error())
		rec, before = nil, nil
	}
	toApply := objects
	var keep map[object.ObjMetadata]string
	cs = ssa.NewChangeSet()
	if rec != nil {
		var unchanged []ssa.ChangeSetEntry
		unchanged, toApply, healthy = splitByRecord(objects, rec, before)
		cs.Append(unchanged)
		if len(toApply) == 0 {
			logger.V(1).Info("nothing changed since the last apply", "objects", len(objects))
			return cs, healthy, nil
		}
		logger.V(1).Info("applying the objects that changed since the last apply", "objects", len(toApply))
		keep = map[object.ObjMetadata]string{}
		for _, e := range unchanged {
			keep[e.ObjMetadata] = rec.prints[e.ObjMetadata]
		}
	}
	r.applied.forget(obj.UID)
	// The objects are the build cache's: ssa sorts and changes what it
	// applies.
	copies := make([]*unstructured.Unstructured, len(toApply))
	for i, o := range toApply {
		copies[i] = o.DeepCopy()
	}
	applied, err := r.Manager.ApplyAllStaged(ctx, copies, applyOptions())
	if applied != nil {
		cs.Append(applied.Entries)
	}
	if err != nil || before == nil {
		return cs, false, err
	}
	after, err := readLive(ctx, c, groupsOf(toApply), owner)
	if err != nil {
		logger.Info("listing what was applied failed, the next reconciliation applies everything", "error", err.Error())
		return cs, false, nil
	}
	r.applied.set(obj.UID, record(revision, keep, applied, before, after))
	return cs, false, nil
}

// forced says whether the instance asks for a forced reconciliation:
// reconcile.fluxcd.io/forceAt equal to a requestedAt not handled yet.
func forced(obj *apiv1.FluxInstance) bool {
	a := obj.GetAnnotations()
	req := a[apiv1.ReconcileRequestAnnotation]
	return req != "" && a[apiv1.ForceRequestAnnotation] == req && obj.Status.LastHandledReconcileAt != req
}

var errHealthTimeout = fmt.Errorf("health check timed out")

// cancelOnChange cancels the health check when the instance changes while
// it waits (a new generation, or a new requestedAt or reconcile annotation):
// the reconciliation starts over with the new spec at once instead of
// waiting out the old one. It returns a function that says what changed, or
// "" when the wait ended for another reason.
func (r *FluxInstanceReconciler) cancelOnChange(ctx context.Context, cancel context.CancelFunc, obj *apiv1.FluxInstance) func() string {
	var by atomic.Value
	by.Store("")
	gen, req := obj.Generation, obj.GetAnnotations()[apiv1.ReconcileRequestAnnotation]
	disabled := obj.IsDisabled()
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur := &apiv1.FluxInstance{}
			if err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
				continue
			}
			switch {
			case cur.Generation != gen:
				by.Store(fmt.Sprintf("a new spec (generation %d)", cur.Generation))
			case cur.GetAnnotations()[apiv1.ReconcileRequestAnnotation] != req:
				by.Store(fmt.Sprintf("%s=%s", apiv1.ReconcileRequestAnnotation, cur.GetAnnotations()[apiv1.ReconcileRequestAnnotation]))
			case cur.IsDisabled() != disabled || !cur.DeletionTimestamp.IsZero():
				by.Store("a suspend or delete of the instance")
			default:
				continue
			}
			cancel()
			return
		}
	}()
	return func() string { return by.Load().(string) }
}

// fetch returns the distribution tree: the instance's OCI artifact (and its
// digest), else the installer's own.
func (r *FluxInstanceReconciler) fetch(ctx context.Context, obj *apiv1.FluxInstance) (fs.FS, string, error) {
	d := obj.Spec.Distribution
	if d.Artifact == "" {
		return r.Distribution, "", nil
	}
	o, err := artifactOptions(ctx, r.secrets, r.Client, obj, r.ArtifactOptions)
	if err != nil {
		return nil, "", err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	a, err := distribution.PullArtifact(pctx, d.Artifact, o)
	if err != nil {
		return nil, "", fmt.Errorf("fetch failed: %w", err)
	}
	return a.FS, a.Digest, nil
}

// artifactOptions adds the credentials of the instance's artifact pull
// secret, read with secrets (or fallback when nil), to base.
func artifactOptions(ctx context.Context, secrets, fallback client.Reader, obj *apiv1.FluxInstance,
	base distribution.ArtifactOptions) (distribution.ArtifactOptions, error) {
	name := obj.Spec.Distribution.ArtifactPullSecret
	if name == "" {
		return base, nil
	}
	if secrets == nil {
		secrets = fallback
	}
	kc, err := distribution.PullSecretKeychain(ctx, secrets, obj.Namespace, name)
	if err != nil {
		return base, err
	}
	base.Keychain = kc
	return base, nil
}

// inventoryOf lists the objects of a change set as inventory entries.
func inventoryOf(cs *ssa.ChangeSet) *apiv1.ResourceInventory {
	inv := &apiv1.ResourceInventory{Entries: []apiv1.ResourceRef{}}
	if cs == nil {
		return inv
	}
	for _, e := range cs.Entries {
		gv, _ := schema.ParseGroupVersion(e.GroupVersion)
		inv.Entries = append(inv.Entries, apiv1.ResourceRef{ID: e.ObjMetadata.String(), Version: gv.Version})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	return inv
}

func mergeInventory(inv *apiv1.ResourceInventory, cs *ssa.ChangeSet) *apiv1.ResourceInventory {
	out := inventoryOf(cs)
	if inv == nil {
		return out
	}
	seen := map[string]bool{}
	for _, e := range out.Entries {
		seen[e.ID] = true
	}
	for _, e := range inv.Entries {
		if !seen[e.ID] {
			out.Entries = append(out.Entries, e)
		}
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].ID < out.Entries[j].ID })
	return out
}

// inventoryObjects turns inventory entries into objects that identify them.
func inventoryObjects(inv *apiv1.ResourceInventory) []*unstructured.Unstructured {
	if inv == nil {
		return nil
	}
	var out []*unstructured.Unstructured
	for _, e := range inv.Entries {
		m, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: m.GroupKind.Group, Version: e.Version, Kind: m.GroupKind.Kind})
		u.SetName(m.Name)
		u.SetNamespace(m.Namespace)
		out = append(out, u)
	}
	return out
}

// staleObjects are the objects of old not in the new inventory.
func staleObjects(old []*unstructured.Unstructured, inv *apiv1.ResourceInventory) []*unstructured.Unstructured {
	keep := map[string]bool{}
	for _, e := range inv.Entries {
		keep[e.ID] = true
	}
	var out []*unstructured.Unstructured
	for _, o := range old {
		if !keep[object.UnstructuredToObjMetadata(o).String()] {
			out = append(out, o)
		}
	}
	sort.Sort(sort.Reverse(ssa.SortableUnstructureds(out)))
	return out
}

// changeLines are the entries of a change set that changed something, as
// "Kind/namespace/name created|configured|deleted".
func changeLines(cs *ssa.ChangeSet) []string {
	if cs == nil {
		return nil
	}
	var out []string
	for _, e := range cs.Entries {
		switch e.Action {
		case ssa.CreatedAction, ssa.ConfiguredAction, ssa.DeletedAction:
			out = append(out, e.String())
		}
	}
	return out
}

// uninstall removes what the instance installed, then the finalizer (written
// by the deferred patch of Reconcile). A suspended instance or one with
// nothing applied only loses its finalizer: that hands Flux over to whoever
// manages it next. Errors are logged and never keep the finalizer.
func (r *FluxInstanceReconciler) uninstall(ctx context.Context, obj *apiv1.FluxInstance) {
	if !controllerutil.ContainsFinalizer(obj, apiv1.Finalizer) {
		return
	}
	r.applied.forget(obj.UID)
	r.builds.forget(obj.UID)
	start := time.Now()
	objects := inventoryObjects(obj.Status.Inventory)
	if !obj.IsDisabled() && len(objects) > 0 {
		r.removeFlux(ctx, obj, objects)
		log.FromContext(ctx).Info("uninstalled Flux", "duration", time.Since(start).Round(time.Millisecond).String())
	}
	controllerutil.RemoveFinalizer(obj, apiv1.Finalizer)
}

// removeFlux stops the controllers, strips the finalizers of every Flux
// object (their controllers are gone and would never remove them), and
// deletes the inventory, CRDs last; objects marked prune-disabled, the
// namespace among them, stay.
func (r *FluxInstanceReconciler) removeFlux(ctx context.Context, obj *apiv1.FluxInstance, objects []*unstructured.Unstructured) {
	logger := log.FromContext(ctx)
	opts := ssa.DeleteOptions{
		PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions:        r.Manager.GetOwnerLabels(obj.Name, obj.Namespace),
		Exclusions:        map[string]string{builder.PruneAnnotation: "disabled"},
	}
	var deployments, crds []*unstructured.Unstructured
	for _, o := range objects {
		switch o.GetKind() {
		case "Deployment":
			deployments = append(deployments, o)
		case "CustomResourceDefinition":
			crds = append(crds, o)
		}
	}
	pods := r.podSelectors(ctx, deployments)
	if cs, err := r.Manager.DeleteAll(ctx, deployments, opts); err != nil {
		logger.Error(err, "failed to delete the Flux controllers")
	} else if err := r.Manager.WaitForSetTermination(cs, ssa.WaitOptions{Interval: 2 * time.Second, Timeout: time.Minute}); err != nil {
		logger.Error(err, "the Flux controllers did not stop in time")
	} else if err := r.waitPodsGone(ctx, pods, time.Minute); err != nil {
		logger.Error(err, "the Flux controllers did not stop in time")
	}
	for _, crd := range crds {
		r.stripFinalizers(ctx, crd.GetName(), opts.Inclusions)
	}
	sorted := append([]*unstructured.Unstructured(nil), objects...)
	sort.Sort(sort.Reverse(ssa.SortableUnstructureds(sorted)))
	if _, err := r.Manager.DeleteAll(ctx, sorted, opts); err != nil {
		logger.Error(err, "failed to delete the Flux objects")
	}
}

// podSelector is the namespace and the pod selector of a Deployment.
type podSelector struct {
	namespace string
	labels    map[string]string
}

// podSelectors reads the pod selector of each Deployment, before it is
// deleted.
func (r *FluxInstanceReconciler) podSelectors(ctx context.Context, deployments []*unstructured.Unstructured) []podSelector {
	var out []podSelector
	for _, d := range deployments {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(d.GroupVersionKind())
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(d), live); err != nil {
			continue
		}
		if m, _, _ := unstructured.NestedStringMap(live.Object, "spec", "selector", "matchLabels"); len(m) > 0 {
			out = append(out, podSelector{namespace: d.GetNamespace(), labels: m})
		}
	}
	return out
}

// waitPodsGone waits until no pod of the deleted Deployments is left. The
// Deployments are deleted in the background, so they are gone while their
// pods may still be terminating; a Flux controller still running would put
// back the finalizer stripped next and then garbage-collect everything its
// objects applied, which an uninstall must leave in place.
func (r *FluxInstanceReconciler) waitPodsGone(ctx context.Context, pods []podSelector, timeout time.Duration) error {
	if len(pods) == 0 {
		return nil
	}
	left := ""
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		for _, p := range pods {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "PodList"})
			if err := r.Client.List(ctx, list, client.InNamespace(p.namespace), client.MatchingLabels(p.labels)); err != nil {
				left = err.Error()
				return false, nil
			}
			if len(list.Items) > 0 {
				left = fmt.Sprintf("pod %s/%s is still there", p.namespace, list.Items[0].GetName())
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", left, err)
	}
	return nil
}

// fluxFinalizer is the finalizer Flux's controllers put on their objects.
const fluxFinalizer = "finalizers.fluxcd.io"

// stripFinalizers removes Flux's finalizer from every object of a Flux CRD
// this instance installed. status.inventory names the CRD, and the status
// is not proof of ownership: a CRD is touched only when it carries the
// instance's owner labels and is of a Flux group, and only Flux's own
// finalizer is removed, never another controller's.
func (r *FluxInstanceReconciler) stripFinalizers(ctx context.Context, crdName string, owner map[string]string) {
	logger := log.FromContext(ctx)
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := r.Client.Get(ctx, client.ObjectKey{Name: crdName}, crd); err != nil {
		return
	}
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	labels := crd.GetLabels()
	for k, v := range owner {
		if labels[k] != v {
			logger.Info("left the finalizers of a CRD the instance did not install", "crd", crdName)
			return
		}
	}
	if !strings.HasSuffix(group, ".fluxcd.io") || group == apiv1.GroupVersion.Group {
		logger.Info("left the finalizers of a CRD that is not Flux's", "crd", crdName)
		return
	}
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	version := storageVersion(crd)
	if version == "" {
		return
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: version, Kind: kind + "List"})
	if err := r.Client.List(ctx, list); err != nil {
		logger.Error(err, "failed to list Flux objects to remove their finalizers", "kind", kind)
		return
	}
	for i := range list.Items {
		item := &list.Items[i]
		if !slices.Contains(item.GetFinalizers(), fluxFinalizer) {
			continue
		}
		patch := client.MergeFrom(item.DeepCopy())
		item.SetFinalizers(slices.DeleteFunc(item.GetFinalizers(), func(f string) bool { return f == fluxFinalizer }))
		if err := r.Client.Patch(ctx, item, patch); err != nil && !apierrors.IsNotFound(err) {
			logger.Error(err, "failed to remove the finalizers", "kind", kind, "name", item.GetName(), "namespace", item.GetNamespace())
		}
	}
}
