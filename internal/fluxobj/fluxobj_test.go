package fluxobj

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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

func TestPrunerKeepsIdentityLabelsPathsAndReady(t *testing.T) {
	p := &Pruner{
		Labels:      []string{"team"},
		Paths:       [][]string{{"spec", "suspend"}, {"spec", "ref", "tag"}, {"status", "artifact", "size"}},
		ReadyFields: []string{"type", "status", "reason"},
	}
	in := map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
		"metadata": map[string]any{"name": "a", "namespace": "b", "uid": "u", "resourceVersion": "7",
			"labels":        map[string]any{"team": "x", "other": "y"},
			"annotations":   map[string]any{"big": "value"},
			"managedFields": []any{map[string]any{"manager": "m"}}},
		"spec": map[string]any{"suspend": true, "ref": map[string]any{"tag": "v1", "semver": "1.x"},
			"secretRef": map[string]any{"name": "s"}},
		"status": map[string]any{
			"conditions": []any{
				map[string]any{"type": "Reconciling", "status": "True"},
				map[string]any{"type": "Ready", "status": "False", "reason": "Failed", "message": "long text"},
			},
			"artifact": map[string]any{"size": int64(3), "url": "http://x"},
			"history":  []any{"h"},
		},
	}
	got := p.Prune(in)
	want := map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
		"metadata": map[string]any{"name": "a", "namespace": "b", "uid": "u", "resourceVersion": "7",
			"labels": map[string]any{"team": "x"}},
		"spec": map[string]any{"suspend": true, "ref": map[string]any{"tag": "v1"}},
		"status": map[string]any{
			"artifact":   map[string]any{"size": int64(3)},
			"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "Failed"}},
		},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("Prune() =\n%v\nwant\n%v", got, want)
	}
	// nil ReadyFields keeps the whole condition, message included.
	all := (&Pruner{}).Prune(in)
	if _, _, msg := ReadyOf(all); msg != "long text" {
		t.Errorf("Ready message = %q, want it kept", msg)
	}
	if _, ok := all["spec"]; ok {
		t.Errorf("no paths must keep no spec: %v", all["spec"])
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
