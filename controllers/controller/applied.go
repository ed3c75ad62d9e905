package controller

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/controllers/builder"
)

// A reconciliation with nothing to do must not cost a server-side dry-run
// per object (two requests each, 70 for a default instance). The installer
// remembers, per instance and revision, a fingerprint of every object as the
// API server returned it after the apply: its UID, generation, labels,
// annotations, finalizers, owner references, deletion timestamp and every
// managedFields entry but those of the status subresource. A reconciliation
// of the same revision lists the objects' metadata (one request per kind and
// namespace) and compares:
//
//   - a write to an object by any other field manager adds or changes that
//     manager's managedFields entry (its fields and its time), so edits with
//     kubectl, another server-side apply owner, a merge patch or the scale
//     subresource all change the fingerprint, as does a removed label, a
//     deleted or recreated object (no entry, another UID), or a changed
//     generation;
//   - status written through the status subresource (Deployments' rollout,
//     CRDs' conditions) does not, so a running Flux does not look drifted.
//
// Only the objects whose fingerprint differs (suspects) go through the
// server-side apply with its dry-run, takeover cleanup and drift repair;
// the rest are unchanged. A new revision, a forced reconciliation, a failed
// apply and a restart (nothing remembered) take the full path.
//
// What is recorded is listed after the apply, and only when nobody else can
// have written the object between the apply's read of it and that list, so
// that a write racing the apply is compared again next time instead of being
// taken for what was applied. The rule uses no clock of the installer's:
//
//   - an object the apply left unchanged is recorded when its
//     resourceVersion is the one listed before the apply;
//   - an object the apply created or configured is recorded when every other
//     manager's entry is older than the installer's own, both stamped by the
//     API server (in whole seconds, so a write in the same second as the
//     installer's is compared again next time, and then recorded).

// appliedSet is what the installer applied for one revision of an instance.
type appliedSet struct {
	revision string
	prints   map[object.ObjMetadata]string
}

// appliedRecords are the appliedSets of the instances, by UID.
type appliedRecords struct {
	mu sync.Mutex
	m  map[types.UID]*appliedSet
}

// get returns the record of the instance for revision, or nil.
func (a *appliedRecords) get(uid types.UID, revision string) *appliedSet {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.m[uid]; s != nil && s.revision == revision {
		return s
	}
	return nil
}

func (a *appliedRecords) set(uid types.UID, s *appliedSet) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[types.UID]*appliedSet{}
	}
	a.m[uid] = s
}

func (a *appliedRecords) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, uid)
}

// objectGroup is one list request: the objects of one kind in one namespace
// ("" for cluster-scoped kinds).
type objectGroup struct {
	gvk       schema.GroupVersionKind
	namespace string
}

func groupOf(u *unstructured.Unstructured) objectGroup {
	return objectGroup{gvk: u.GroupVersionKind(), namespace: u.GetNamespace()}
}

// workload kinds are listed whole, not as metadata: their status is the
// health check of a reconciliation with nothing to apply.
func isWorkload(gvk schema.GroupVersionKind) bool {
	if gvk.Group != "apps" {
		return false
	}
	switch gvk.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return true
	}
	return false
}

// liveObject is what a list said of one object.
type liveObject struct {
	print           string
	resourceVersion string
	// ours is the time of the installer's own apply entry, zero when none;
	// othersLatest the newest entry of any other manager (but status).
	ours, othersLatest time.Time
	// current: kstatus Current (workloads only; others are true).
	current bool
}

// readLive lists the groups' objects carrying the owner labels and
// fingerprints them, a few lists at a time.
func readLive(ctx context.Context, c client.Client, groups []objectGroup, owner map[string]string) (map[object.ObjMetadata]liveObject, error) {
	out := map[object.ObjMetadata]liveObject{}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, group := range groups {
		g.Go(func() error {
			objs, err := listGroup(ctx, c, group, owner)
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(out, objs)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// listGroup lists one group's objects; a kind the API server does not
// serve (yet) has none.
func listGroup(ctx context.Context, c client.Client, g objectGroup, owner map[string]string) (map[object.ObjMetadata]liveObject, error) {
	out := map[object.ObjMetadata]liveObject{}
	opts := []client.ListOption{client.MatchingLabels(owner)}
	if g.namespace != "" {
		opts = append(opts, client.InNamespace(g.namespace))
	}
	add := func(o metav1.Object, current bool) {
		id := object.ObjMetadata{GroupKind: g.gvk.GroupKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
		l := liveObject{print: fingerprint(o), resourceVersion: o.GetResourceVersion(), current: current}
		for _, e := range o.GetManagedFields() {
			if e.Subresource == "status" || e.Time == nil {
				continue
			}
			switch {
			case e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply:
				l.ours = e.Time.Time
			case e.Time.After(l.othersLatest):
				l.othersLatest = e.Time.Time
			}
		}
		out[id] = l
	}
	var list client.ObjectList
	if isWorkload(g.gvk) {
		list = &unstructured.UnstructuredList{}
	} else {
		list = &metav1.PartialObjectMetadataList{}
	}
	list.GetObjectKind().SetGroupVersionKind(g.gvk.GroupVersion().WithKind(g.gvk.Kind + "List"))
	if err := c.List(ctx, list, opts...); err != nil {
		if meta.IsNoMatchError(err) {
			return out, nil // a kind whose CRD the apply creates: nothing of it yet
		}
		return nil, fmt.Errorf("failed to list %s: %w", g.gvk.Kind, err)
	}
	switch l := list.(type) {
	case *unstructured.UnstructuredList:
		for i := range l.Items {
			res, err := status.Compute(&l.Items[i])
			add(&l.Items[i], err == nil && res.Status == status.CurrentStatus)
		}
	case *metav1.PartialObjectMetadataList:
		for i := range l.Items {
			add(&l.Items[i], true)
		}
	}
	return out, nil
}

// groupsOf are the list requests that cover objects, in a stable order.
func groupsOf(objects []*unstructured.Unstructured) []objectGroup {
	var out []objectGroup
	for _, o := range objects {
		if g := groupOf(o); !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// fingerprint hashes what any write to the object but a status write
// changes.
func fingerprint(o metav1.Object) string {
	var managed []metav1.ManagedFieldsEntry
	for _, e := range o.GetManagedFields() {
		if e.Subresource != "status" {
			managed = append(managed, e)
		}
	}
	var deleted string
	if t := o.GetDeletionTimestamp(); t != nil {
		deleted = t.UTC().Format(time.RFC3339)
	}
	data, _ := json.Marshal(struct {
		UID         types.UID
		Generation  int64
		Labels      map[string]string
		Annotations map[string]string
		Finalizers  []string
		Owners      []metav1.OwnerReference
		Deleted     string
		Managed     []metav1.ManagedFieldsEntry
	}{o.GetUID(), o.GetGeneration(), o.GetLabels(), o.GetAnnotations(), o.GetFinalizers(), o.GetOwnerReferences(),
		deleted, managed})
	sum := sha256.Sum256(data)
	return string(sum[:])
}

// splitByRecord divides the objects into those the record says are as
// applied (with their change-set entries) and the suspects to apply. ok is
// false when a workload is not Current: the health check must run.
func splitByRecord(objects []*unstructured.Unstructured, rec *appliedSet,
	live map[object.ObjMetadata]liveObject) (unchanged []ssa.ChangeSetEntry, suspects []*unstructured.Unstructured, healthy bool) {
	healthy = true
	for _, o := range objects {
		id := object.UnstructuredToObjMetadata(o)
		l, found := live[id]
		p, recorded := rec.prints[id]
		if !found || !recorded || l.print != p {
			suspects = append(suspects, o)
			continue
		}
		if !l.current {
			healthy = false
		}
		unchanged = append(unchanged, ssa.ChangeSetEntry{ObjMetadata: id, GroupVersion: o.GroupVersionKind().Version,
			Subject: utils.FmtUnstructured(o), Action: ssa.UnchangedAction})
	}
	return unchanged, suspects, healthy
}

// recordable says whether what after listed of an object is what the
// apply left, by the rules at the top of this file: action is what the
// apply did, before what was listed before it.
func recordable(action ssa.Action, before, after liveObject, listedBefore bool) bool {
	switch action {
	case ssa.UnchangedAction, ssa.SkippedAction:
		return listedBefore && before.resourceVersion == after.resourceVersion
	case ssa.CreatedAction, ssa.ConfiguredAction:
		return !after.ours.IsZero() && after.othersLatest.Before(after.ours)
	}
	return false
}

// record returns the record of revision: the fingerprints of keep (objects
// not applied in this reconciliation, as recorded before) and of the
// applied objects that are recordable.
func record(revision string, keep map[object.ObjMetadata]string, applied *ssa.ChangeSet,
	before, after map[object.ObjMetadata]liveObject) *appliedSet {
	s := &appliedSet{revision: revision, prints: maps.Clone(keep)}
	if s.prints == nil {
		s.prints = map[object.ObjMetadata]string{}
	}
	if applied == nil {
		return s
	}
	for _, e := range applied.Entries {
		a, ok := after[e.ObjMetadata]
		if !ok {
			continue
		}
		b, listed := before[e.ObjMetadata]
		if recordable(e.Action, b, a, listed) {
			s.prints[e.ObjMetadata] = a.print
		}
	}
	return s
}

// buildCache keeps the last build of each instance: building the default
// instance takes about 170 ms and 100 MB of allocations (kustomize), more
// than all the rest of a reconciliation with nothing to do. A build is a
// function of the spec, the instance's name and namespace, the installed
// version and the distribution; it is reused only when the distribution is
// known not to change (the embedded tree, or an artifact by its digest), so
// a --manifests-path directory is built every time.
type buildCache struct {
	mu sync.Mutex
	m  map[types.UID]cachedBuild
}

type cachedBuild struct {
	key string
	res builder.Result
}

// build returns the build of req, from the cache when distID (the
// distribution's identity, "" when it has none) and req are those of the
// last build of the instance. The objects returned are shared with the
// cache: the caller may set the instance's owner labels on them (the same
// every time) and must give copies to anything else that changes them.
func (b *buildCache) build(ctx context.Context, uid types.UID, distID string, req builder.Request) (*builder.Result, error) {
	var key string
	if distID != "" {
		spec, err := json.Marshal(req.Spec)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for _, part := range [][]byte{spec, []byte(req.Name), []byte(req.Namespace), []byte(req.LastAppliedVersion), []byte(distID)} {
			_, _ = fmt.Fprintf(h, "%d:", len(part))
			h.Write(part)
		}
		key = string(h.Sum(nil))
		b.mu.Lock()
		c, ok := b.m[uid]
		b.mu.Unlock()
		if ok && c.key == key {
			return c.res.Copy(), nil
		}
	}
	res, err := builder.Build(ctx, req)
	if err != nil || key == "" {
		return res, err
	}
	kept := *res.Copy()
	kept.YAML = nil // the revision is its digest; nothing reads it again
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[types.UID]cachedBuild{}
	}
	b.m[uid] = cachedBuild{key: key, res: kept}
	return res, nil
}

func (b *buildCache) forget(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, uid)
}
