package controller

import (
	"context"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

func managedEntry(manager, subresource string, at time.Time, fields string) metav1.ManagedFieldsEntry {
	t := metav1.NewTime(at)
	op := metav1.ManagedFieldsOperationUpdate
	if manager == FieldManager {
		op = metav1.ManagedFieldsOperationApply
	}
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "apps/v1", Time: &t,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields), Subresource: subresource}
}

func deploymentMeta(entries ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "source-controller", Namespace: "flux-system",
		UID: "uid-1", Generation: 1, Labels: map[string]string{"fluxcd.controlplane.io/name": "flux"},
		ManagedFields: entries}}
}

// The fingerprint changes with every write but a status write.
func TestFingerprintChangesWithAnyWriteButStatus(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ours := managedEntry(FieldManager, "", t0, `{"f:spec":{}}`)
	base := fingerprint(deploymentMeta(ours))

	status := deploymentMeta(ours, managedEntry("kube-controller-manager", "status", t0.Add(time.Minute), `{"f:status":{}}`))
	if fingerprint(status) != base {
		t.Error("a status write changed the fingerprint")
	}
	for name, o := range map[string]*metav1.PartialObjectMetadata{
		"another manager's update": deploymentMeta(ours, managedEntry("kubectl-edit", "", t0.Add(time.Minute), `{"f:spec":{"f:replicas":{}}}`)),
		"the scale subresource":    deploymentMeta(ours, managedEntry("kubectl-scale", "scale", t0.Add(time.Minute), `{"f:spec":{"f:replicas":{}}}`)),
		"our entry rewritten":      deploymentMeta(managedEntry(FieldManager, "", t0.Add(time.Second), `{"f:spec":{}}`)),
		"managedFields cleared":    deploymentMeta(),
	} {
		if fingerprint(o) == base {
			t.Errorf("%s: the fingerprint did not change", name)
		}
	}
	relabelled := deploymentMeta(ours)
	relabelled.Labels = nil
	recreated := deploymentMeta(ours)
	recreated.UID = "uid-2"
	spec := deploymentMeta(ours)
	spec.Generation = 2
	deleting := deploymentMeta(ours)
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	for name, o := range map[string]*metav1.PartialObjectMetadata{"labels": relabelled, "UID": recreated,
		"generation": spec, "deletion": deleting} {
		if fingerprint(o) == base {
			t.Errorf("%s: the fingerprint did not change", name)
		}
	}
}

// What is listed after an apply is recorded only when nobody else can have
// written the object since the apply read it.
func TestRecordableOnlyWhenNobodyElseWroteInBetween(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name          string
		action        ssa.Action
		before, after liveObject
		listed        bool
		want          bool
	}{
		{"unchanged, same resourceVersion", ssa.UnchangedAction, liveObject{resourceVersion: "5"}, liveObject{resourceVersion: "5"}, true, true},
		{"unchanged, written in between", ssa.UnchangedAction, liveObject{resourceVersion: "5"}, liveObject{resourceVersion: "6"}, true, false},
		{"unchanged, not listed before", ssa.UnchangedAction, liveObject{}, liveObject{resourceVersion: "5"}, false, false},
		{"configured, others older", ssa.ConfiguredAction, liveObject{}, liveObject{ours: t0, othersLatest: t0.Add(-time.Second)}, true, true},
		{"configured, another write in the same second", ssa.ConfiguredAction, liveObject{}, liveObject{ours: t0, othersLatest: t0}, true, false},
		{"configured, another write after", ssa.ConfiguredAction, liveObject{}, liveObject{ours: t0, othersLatest: t0.Add(time.Second)}, true, false},
		{"created, no entry of ours", ssa.CreatedAction, liveObject{}, liveObject{}, false, false},
		{"created, only ours", ssa.CreatedAction, liveObject{}, liveObject{ours: t0}, false, true},
		{"deleted", ssa.DeletedAction, liveObject{}, liveObject{ours: t0}, true, false},
	}
	for _, c := range cases {
		if got := recordable(c.action, c.before, c.after, c.listed); got != c.want {
			t.Errorf("%s: recordable = %v, want %v", c.name, got, c.want)
		}
	}
}

func builtObject(kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind})
	u.SetNamespace("flux-system")
	u.SetName(name)
	return u
}

// Objects whose live fingerprint is the recorded one are unchanged; the
// others, missing or unrecorded ones included, are applied; a workload that
// is not Current calls for the health check.
func TestSplitByRecord(t *testing.T) {
	a, b, c, d := builtObject("Deployment", "a"), builtObject("Deployment", "b"), builtObject("Deployment", "c"),
		builtObject("Deployment", "d")
	id := object.UnstructuredToObjMetadata
	rec := &appliedSet{prints: map[object.ObjMetadata]string{id(a): "pa", id(b): "pb", id(c): "pc"}}
	live := map[object.ObjMetadata]liveObject{
		id(a): {print: "pa", current: true},
		id(b): {print: "pb-changed", current: true},
		id(d): {print: "pd", current: true},
		// c is missing
	}
	unchanged, suspects, healthy := splitByRecord([]*unstructured.Unstructured{a, b, c, d}, rec, live)
	if len(unchanged) != 1 || unchanged[0].ObjMetadata != id(a) || unchanged[0].Action != ssa.UnchangedAction ||
		unchanged[0].Subject != "Deployment/flux-system/a" {
		t.Errorf("unchanged = %+v", unchanged)
	}
	if len(suspects) != 3 || suspects[0] != b || suspects[1] != c || suspects[2] != d {
		t.Errorf("suspects = %v", suspects)
	}
	if !healthy {
		t.Error("healthy = false with every unchanged workload Current")
	}
	live[id(a)] = liveObject{print: "pa", current: false}
	if _, _, healthy := splitByRecord([]*unstructured.Unstructured{a}, rec, live); healthy {
		t.Error("healthy = true with a workload not Current")
	}
}

// A build is reused while its inputs are the same, and made again when one
// changes or when the distribution has no identity (--manifests-path).
func TestBuildCacheReusesABuildOfTheSameInputs(t *testing.T) {
	ctx := context.Background()
	var bc buildCache
	spec := apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}}
	req := func(s apiv1.FluxInstanceSpec) builder.Request {
		return builder.Request{Spec: &s, Name: "flux", Namespace: "flux-system", Distribution: distribution.Embedded(),
			LastAppliedVersion: "v2.9.5"}
	}
	first, err := bc.build(ctx, "uid", "embedded", req(spec))
	if err != nil {
		t.Fatal(err)
	}
	again, err := bc.build(ctx, "uid", "embedded", req(spec))
	if err != nil {
		t.Fatal(err)
	}
	if again.Revision != first.Revision || len(again.Objects) != len(first.Objects) || again.Objects[0] != first.Objects[0] {
		t.Error("the same inputs were built again")
	}
	if &again.Objects[0] == &first.Objects[0] {
		t.Error("the cached result's slice is shared with the caller")
	}
	changed := spec
	changed.Components = []apiv1.Component{"source-controller"}
	other, err := bc.build(ctx, "uid", "embedded", req(changed))
	if err != nil {
		t.Fatal(err)
	}
	if other.Revision == first.Revision || len(other.Objects) >= len(first.Objects) {
		t.Errorf("a changed spec was not built again: %d objects, revision %s", len(other.Objects), other.Revision)
	}
	noID, err := bc.build(ctx, "uid", "", req(changed))
	if err != nil {
		t.Fatal(err)
	}
	if noID.Objects[0] == other.Objects[0] {
		t.Error("a distribution without identity was served from the cache")
	}
}
