package ui

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestTheCacheDecodesWhatThePagesRead checks that the UI's cache, which
// decodes only the fields its Compactor names, makes of every kind the
// Object a full decode and the compactor make: a message, revision or source
// whose field the Paths leave out would come out empty.
func TestTheCacheDecodesWhatThePagesRead(t *testing.T) {
	dec := compactor.Decoder()
	full := func(kind string) map[string]any {
		return map[string]any{
			"apiVersion": "fluxcd.example/v1", "kind": kind,
			"metadata": map[string]any{"name": "a", "namespace": "apps", "uid": "u", "resourceVersion": "9",
				"creationTimestamp": "2026-12-01T00:00:00Z",
				"managedFields":     []any{map[string]any{"manager": "m", "fieldsV1": map[string]any{"f:spec": map[string]any{}}}}},
			"spec": map[string]any{
				"suspend": true, "type": "oci", "interval": "1m",
				"sourceRef":          map[string]any{"kind": "GitRepository", "name": "src", "namespace": "flux-system"},
				"chartRef":           map[string]any{"kind": "OCIRepository", "name": "chart-ref"},
				"chart":              map[string]any{"spec": map[string]any{"sourceRef": map[string]any{"kind": "HelmRepository", "name": "charts"}}},
				"imageRepositoryRef": map[string]any{"name": "images", "namespace": "img"},
			},
			"status": map[string]any{
				"lastAttemptedRevision": "attempted", "lastAppliedRevision": "applied",
				"artifact": map[string]any{"revision": "artifact", "size": int64(7), "digest": "sha256:00"},
				"conditions": []any{
					map[string]any{"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "working"},
					map[string]any{"type": "Ready", "status": "False", "reason": "Failed",
						"message": "kustomize build failed: \"x\"\nsecond line", "lastTransitionTime": "2026-12-02T00:00:00Z"},
				},
				"inventory": map[string]any{"entries": []any{map[string]any{"id": "x", "v": "v1"}}},
			},
		}
	}
	drops := [][]string{nil, {"status", "lastAttemptedRevision"}, {"status", "lastAppliedRevision"}, {"spec", "chartRef"}}
	for _, kind := range []string{"Kustomization", "HelmRelease", "HelmChart", "ImagePolicy", "ImageUpdateAutomation",
		"GitRepository", "HelmRepository", "Alert"} {
		obj := full(kind)
		for _, drop := range drops {
			if drop != nil {
				unstructured.RemoveNestedField(obj, drop...)
			}
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if _, _, err := unstructured.UnstructuredJSONScheme.Decode(data, nil, u); err != nil {
				t.Fatal(err)
			}
			want, err := NewTransform()(u)
			if err != nil {
				t.Fatal(err)
			}
			decoded, err := dec.Object(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewTransform()(decoded)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s without %v: the cache decodes\n%#v\nwant\n%#v", kind, drop, got, want)
			}
		}
	}
}
