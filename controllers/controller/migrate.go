package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// migrateStoredVersions prepares the upgrade of CRDs whose new definition
// drops a version that objects are still stored in (Flux v2.9.5's image
// automation CRDs drop v1beta2, v2.6.4's storage version), which the API
// server refuses until no object is stored in it:
//  1. the new definition is applied with the dropped versions kept, served
//     and not stored;
//  2. every object of the kind is written back, so the API server stores it
//     in the new storage version;
//  3. status.storedVersions is set to the new storage version.
//
// The apply that follows then drops the old versions. It returns the CRDs it
// migrated, as "name: v1beta2 → v1".
func (r *FluxInstanceReconciler) migrateStoredVersions(ctx context.Context, objects []*unstructured.Unstructured) ([]string, error) {
	c := r.Manager.Client()
	var migrated []string
	for _, desired := range objects {
		if desired.GroupVersionKind() != crdGVK {
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(crdGVK)
		if err := c.Get(ctx, client.ObjectKey{Name: desired.GetName()}, live); err != nil {
			if client.IgnoreNotFound(err) == nil {
				continue
			}
			return migrated, fmt.Errorf("failed to read the CRD %s: %w", desired.GetName(), err)
		}
		newVersions := versionNames(desired)
		storage := storageVersion(desired)
		stored, _, _ := unstructured.NestedStringSlice(live.Object, "status", "storedVersions")
		var dropped []string
		for _, v := range stored {
			if !slices.Contains(newVersions, v) {
				dropped = append(dropped, v)
			}
		}
		if len(dropped) == 0 || storage == "" {
			continue
		}
		if err := r.migrateCRD(ctx, desired, live, dropped, storage); err != nil {
			return migrated, fmt.Errorf("failed to migrate the objects of %s from %v to %s: %w", desired.GetName(), dropped, storage, err)
		}
		migrated = append(migrated, fmt.Sprintf("%s: %v → %s", desired.GetName(), dropped, storage))
		log.FromContext(ctx).Info("migrated stored versions", "crd", desired.GetName(), "from", dropped, "to", storage)
	}
	return migrated, nil
}

func (r *FluxInstanceReconciler) migrateCRD(ctx context.Context, desired, live *unstructured.Unstructured, dropped []string, storage string) error {
	c := r.Manager.Client()
	// 1. The new definition plus the dropped versions, served, not stored.
	bridge := desired.DeepCopy()
	versions, _, _ := unstructured.NestedSlice(bridge.Object, "spec", "versions")
	liveVersions, _, _ := unstructured.NestedSlice(live.Object, "spec", "versions")
	for _, lv := range liveVersions {
		m, _ := lv.(map[string]any)
		if name, _ := m["name"].(string); slices.Contains(dropped, name) {
			m = copyMap(m)
			m["served"], m["storage"] = true, false
			versions = append(versions, m)
		}
	}
	if err := unstructured.SetNestedSlice(bridge.Object, versions, "spec", "versions"); err != nil {
		return err
	}
	if _, err := r.Manager.Apply(ctx, bridge, ssa.ApplyOptions{Force: false, WaitInterval: applyOptions().WaitInterval,
		WaitTimeout: applyOptions().WaitTimeout}); err != nil {
		return fmt.Errorf("failed to apply the CRD with its old versions: %w", err)
	}
	if err := r.Manager.Wait([]*unstructured.Unstructured{bridge}, ssa.WaitOptions{Interval: 500 * time.Millisecond, Timeout: time.Minute}); err != nil {
		return fmt.Errorf("the CRD with its old versions is not established: %w", err)
	}
	// 2. Every object written back in the storage version.
	group, _, _ := unstructured.NestedString(desired.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(desired.Object, "spec", "names", "kind")
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: storage, Kind: kind + "List"})
	if err := c.List(ctx, list); err != nil {
		return fmt.Errorf("failed to list %s: %w", kind, err)
	}
	for i := range list.Items {
		if err := c.Update(ctx, &list.Items[i], client.FieldOwner(FieldManager)); err != nil && client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("failed to rewrite %s %s/%s: %w", kind, list.Items[i].GetNamespace(), list.Items[i].GetName(), err)
		}
	}
	// 3. Nothing is stored in the old versions any more.
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"status":{"storedVersions":[%q]}}`, storage))
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	crd.SetName(desired.GetName())
	if err := c.Status().Patch(ctx, crd, patch); err != nil {
		return fmt.Errorf("failed to update status.storedVersions: %w", err)
	}
	return nil
}

func versionNames(crd *unstructured.Unstructured) []string {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []string
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

func storageVersion(crd *unstructured.Unstructured) string {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok {
			if s, _ := m["storage"].(bool); s {
				n, _ := m["name"].(string)
				return n
			}
		}
	}
	return ""
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
