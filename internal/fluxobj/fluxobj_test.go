package fluxobj

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestSafeURLDropsCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"https://github.com/org/repo": "https://github.com/org/repo",
		"https://x-access-token:s3cret@github.com/o/r": "https://github.com/o/r",
		"https://ghp_token@github.com/o/r":             "https://github.com/o/r",
		"ssh://git:pw@example.com/fleet":               "ssh://git@example.com/fleet",
		"oci://ghcr.io/org/manifests?token=abc#frag":   "oci://ghcr.io/org/manifests",
		"user:pass@minio.example.com":                  "minio.example.com",
		"minio.example.com:9000":                       "minio.example.com:9000",
	} {
		if got := SafeURL(in); got != want {
			t.Errorf("SafeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompactorKeepsWhatTheBinariesRead(t *testing.T) {
	c := &Compactor{
		Labels: []string{"team", "absent"},
		Static: func(kind string, _ map[string]any) bool { return kind == "Alert" },
		Extract: func(kind string, obj map[string]any) []string {
			tag, _, _ := unstructured.NestedString(obj, "spec", "ref", "tag")
			return []string{kind, tag}
		},
	}
	in := map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
		"metadata": map[string]any{"name": "a", "namespace": "b", "uid": "u", "resourceVersion": "7",
			"generation": int64(3), "creationTimestamp": "2026-01-02T03:04:05Z",
			"labels":        map[string]any{"team": "x", "other": "y"},
			"annotations":   map[string]any{"big": "value"},
			"managedFields": []any{map[string]any{"manager": "m"}}},
		"spec": map[string]any{"suspend": true, "ref": map[string]any{"tag": "v1", "semver": "1.x"},
			"secretRef": map[string]any{"name": "s"}},
		"status": map[string]any{
			"conditions": []any{
				map[string]any{"type": "Reconciling", "status": "True"},
				map[string]any{"type": "Ready", "status": "False", "reason": "Failed", "message": "long text",
					"lastTransitionTime": "2026-01-02T03:05:00Z"},
			},
			"artifact": map[string]any{"size": int64(3), "url": "http://x"},
			"history":  []any{"h"},
		},
	}
	o := c.Compact(in)
	if o.Kind != "OCIRepository" || o.APIVersion != "source.toolkit.fluxcd.io/v1" || o.Name != "a" || o.Namespace != "b" ||
		o.UID != "u" || o.ResourceVersion != "7" || o.Generation != 3 || o.CreationTimestamp.UTC().Format(time.RFC3339) != "2026-01-02T03:04:05Z" {
		t.Errorf("identity not kept: %+v", o.ObjectMeta)
	}
	if len(o.Labels) != 1 || o.Labels["team"] != "x" {
		t.Errorf("labels = %v, want only team=x", o.Labels)
	}
	if o.Annotations != nil || o.ManagedFields != nil {
		t.Errorf("annotations or managed fields kept: %v %v", o.Annotations, o.ManagedFields)
	}
	if !o.Suspended || o.Static || !o.HasReady || o.Ready.Status != "False" || o.Ready.Reason != "Failed" ||
		o.Ready.LastTransitionTime.UTC().Format(time.RFC3339) != "2026-01-02T03:05:00Z" {
		t.Errorf("suspension or Ready not kept: %+v", o)
	}
	if !o.HasArtifactSize || o.ArtifactSize != 3 {
		t.Errorf("artifact size = %v %d, want 3", o.HasArtifactSize, o.ArtifactSize)
	}
	if len(o.Values) != 2 || o.Values[0] != "OCIRepository" || o.Values[1] != "v1" {
		t.Errorf("values = %v", o.Values)
	}

	// The generic view holds the same facts, for code that reads unstructured.
	u := o.Unstructured()
	if status, reason, _ := ReadyOf(u.Object); status != "False" || reason != "Failed" {
		t.Errorf("Unstructured() Ready = %s/%s", status, reason)
	}
	if s, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); !s {
		t.Errorf("Unstructured() lost spec.suspend: %v", u.Object)
	}
	if n, _, _ := unstructured.NestedInt64(u.Object, "status", "artifact", "size"); n != 3 {
		t.Errorf("Unstructured() artifact size = %d", n)
	}
	if u.GetLabels()["team"] != "x" || u.GetUID() != "u" || u.GetNamespace() != "b" {
		t.Errorf("Unstructured() identity = %v", u.Object["metadata"])
	}

	// A copy shares nothing a reader could change.
	cp := o.DeepCopyObject().(*Object)
	cp.Labels["team"], cp.Values[0] = "changed", "changed"
	if o.Labels["team"] != "x" || o.Values[0] != "OCIRepository" {
		t.Errorf("DeepCopyObject shares labels or values")
	}

	// Objects without a Ready condition, static kinds, and the transform.
	out, ok := c.Transform(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
		"kind": "Alert", "metadata": map[string]any{"name": "n", "namespace": "b"}}})
	alert, isObj := out.(*Object)
	if !ok || !isObj || !alert.Static || alert.HasReady || alert.Suspended || alert.HasArtifactSize {
		t.Errorf("Transform(Alert) = %+v, %v", out, ok)
	}
	if alert.Namespace != o.Namespace {
		t.Errorf("namespaces differ")
	}
	if _, ok := c.Transform("not an object"); ok {
		t.Errorf("Transform of another type reported ok")
	}
}

func TestReasonClassifiesReadErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "helm.toolkit.fluxcd.io", Resource: "helmreleases"}
	for want, err := range map[string]error{
		ReasonForbidden: fmt.Errorf("wrapped: %w", apierrors.NewForbidden(gr, "", errors.New("no"))),
		ReasonNotServed: &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "HelmRelease"}},
		ReasonTimeout:   fmt.Errorf("informer: %w", context.DeadlineExceeded),
		ReasonFailed:    errors.New("connection refused"),
		"":              nil,
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}
