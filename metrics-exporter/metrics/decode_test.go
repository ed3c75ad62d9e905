package metrics

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestTheCacheDecodesWhatTheSeriesRead checks that the exporter's cache,
// which decodes only the fields its Compactor names, makes of every kind the
// Object a full decode makes: a per-kind label whose field the Compactor's
// Paths do not name would come out empty.
func TestTheCacheDecodesWhatTheSeriesRead(t *testing.T) {
	allow, err := ParseAllowlist("app.kubernetes.io/name,team")
	if err != nil {
		t.Fatal(err)
	}
	c := newCompactor(allow)
	dec := c.Decoder()
	// Every field kindLabel reads, filled, so that each per-kind label has
	// a value to lose; the fields each kind's precedence skips are left
	// out one by one below.
	full := func(kind string) map[string]any {
		return map[string]any{
			"apiVersion": "fluxcd.example/v1", "kind": kind,
			"metadata": map[string]any{
				"name": "a", "namespace": "flux-system", "uid": "u-1", "resourceVersion": "3",
				"labels":        map[string]any{"team": "platform", "app.kubernetes.io/name": "demo", "x": "y"},
				"managedFields": []any{map[string]any{"manager": "m", "fieldsV1": map[string]any{"f:spec": map[string]any{}}}},
			},
			"spec": map[string]any{
				"path": "./apps", "url": "https://user:pw@example.com/repo?token=x", "endpoint": "minio:9000",
				"image": "ghcr.io/org/app", "bucketName": "bucket", "type": "oci",
				"sourceRef":          map[string]any{"kind": "GitRepository", "name": "src"},
				"chartRef":           map[string]any{"kind": "OCIRepository", "name": "chart-ref"},
				"chart":              map[string]any{"spec": map[string]any{"sourceRef": map[string]any{"name": "chart-src"}}},
				"imageRepositoryRef": map[string]any{"name": "images"},
				"ref": map[string]any{"commit": "abc", "name": "refs/heads/x", "semver": "1.x", "tag": "v1",
					"branch": "main", "digest": "sha256:00"},
				"interval": "1m",
			},
			"status": map[string]any{
				"lastAttemptedRevision": "attempted", "lastAppliedRevision": "applied",
				"artifact":    map[string]any{"revision": "artifact", "size": int64(12)},
				"webhookPath": "/hook/123",
				"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "Failed",
					"message": "long message", "lastTransitionTime": "2026-12-01T00:00:00Z"}},
			},
		}
	}
	// Fields removed in turn, so that each later choice of a precedence
	// is read too.
	drops := [][]string{
		nil,
		{"status", "lastAttemptedRevision"},
		{"status", "lastAppliedRevision"},
		{"spec", "chartRef"},
		{"spec", "ref", "commit"}, {"spec", "ref", "digest"},
		{"spec", "ref", "name"}, {"spec", "ref", "semver"},
		{"spec", "ref", "tag"},
	}
	kinds := []string{"Alert", "Provider"}
	for k := range KindLabels {
		kinds = append(kinds, k)
	}
	for _, kind := range kinds {
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
			want := c.Compact(u.Object)
			got, err := dec.Object(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s without %v: the cache decodes\n%#v\nwant\n%#v", kind, drop, got, want)
			}
			if len(KindLabels[kind]) > 0 && len(want.Values) == 0 {
				t.Fatalf("%s has no per-kind values to compare", kind)
			}
		}
	}
}
