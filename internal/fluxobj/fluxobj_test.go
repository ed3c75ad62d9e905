package fluxobj

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// safeURLCases are URLs as they come, with what SafeURL makes of them.
var safeURLCases = map[string]string{
	"":                            "",
	"https://github.com/org/repo": "https://github.com/org/repo",
	"https://x-access-token:s3cret@github.com/o/r": "https://github.com/o/r",
	"https://ghp_token@github.com/o/r":             "https://github.com/o/r",
	"ssh://git:pw@example.com/fleet":               "ssh://git@example.com/fleet",
	"oci://ghcr.io/org/manifests?token=abc#frag":   "oci://ghcr.io/org/manifests",
	"user:pass@minio.example.com":                  "minio.example.com",
	"minio.example.com:9000":                       "minio.example.com:9000",
}

func TestSafeURLDropsCredentials(t *testing.T) {
	for in, want := range safeURLCases {
		if got := SafeURL(in); got != want {
			t.Errorf("SafeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// safeURLUnparsedCases are values that url.Parse refuses or parses without a
// host, and URLs that carry a credential where url.Parse does not look.
var safeURLUnparsedCases = []struct{ name, in, want string }{
	{"a path with a bad escape loses its query",
		"https://host/path%zz?token=abc", "https://host/path%zz"},
	{"a path with a bad escape loses its fragment",
		"https://host/path%zz#access_token=abc", "https://host/path%zz"},
	{"a port out of range loses its query",
		"https://host:99999999/x?sig=abc", "https://host:99999999/x"},
	{"a port that is not a number loses its query",
		"https://host:99a/x?sig=abc", "https://host:99a/x"},
	{"a port that is not a number loses its user info and query",
		"https://user:s3cret@host:99a/x?token=abc", "https://host:99a/x"},
	{"a Bucket endpoint loses a presigned query",
		"minio.example.com:9000?X-Amz-Credential=AKIA&X-Amz-Signature=abc", "minio.example.com:9000"},
	{"a Bucket endpoint joined with its bucket name loses a presigned query",
		"minio.example.com:9000?X-Amz-Signature=abc/bucket", "minio.example.com:9000"},
	{"an https Bucket endpoint loses a presigned query",
		"https://minio.example.com?X-Amz-Signature=abc", "https://minio.example.com"},
	{"a URL without a host loses its query",
		"file:///srv/repo?token=abc", "file:///srv/repo"},
	{"an scp-like git URL keeps its host and path",
		"git@github.com:org/repo", "github.com:org/repo"},
	{"an scp-like git URL loses its query",
		"git@github.com:org/repo.git?token=abc", "github.com:org/repo.git"},
	{"an scp-like git URL loses a password",
		"git:s3cret@github.com:org/repo", "github.com:org/repo"},
	{"a URL in the path loses its user info",
		"https://proxy.example.com/https://user:s3cret@github.com/o/r", "https://proxy.example.com/https://github.com/o/r"},
	{"a URL in the path keeps its escapes",
		"https://proxy.example.com/a%20b/https://user:s3cret@github.com/o%2Fr", "https://proxy.example.com/a%20b/https://github.com/o%2Fr"},
	{"a password with a raw slash is dropped with the user",
		"https://user:s3/cret@github.com/o/r", "https://github.com/o/r"},
	{"a value with an at sign after its query is dropped whole, as its password cannot be told apart",
		"https://user:my#s3cret@github.com/o/r", ""},
	{"a value with an at sign in a query that does not parse is dropped whole",
		"https://host/x%zz?email=a@example.com&token=abc", ""},
	{"an ssh URL with a password and no user name keeps no user info",
		"ssh://:s3cret@example.com/fleet", "ssh://example.com/fleet"},
	{"an OCI digest in a path that parses is kept",
		"oci://ghcr.io/org/app@sha256:abc?token=abc", "oci://ghcr.io/org/app@sha256:abc"},
}

func TestSafeURLDropsCredentialsOfURLsThatDoNotParse(t *testing.T) {
	for _, c := range safeURLUnparsedCases {
		if got := SafeURL(c.in); got != c.want {
			t.Errorf("%s: SafeURL(%q) = %q, want %q", c.name, c.in, got, c.want)
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

// safeURLMarker stands for a secret in the URLs FuzzSafeURL builds.
const safeURLMarker = "S3CR3TMARKER"

// FuzzSafeURL checks that SafeURL never panics and never returns a raw '?'
// or '#', for any value, and that no secret survives in a URL with one in
// its password, its query and its fragment, whatever comes before the
// scheme separator, in the host and in the path:
// prefix://user:SECRET@host+path?query SECRET#SECRET.
// The user name has no raw '/', '?', '#' or '@', which would end it in a URL
// (see SafeURL); it is kept for ssh:// and is never the secret.
func FuzzSafeURL(f *testing.F) {
	seed := func(in string) {
		prefix, rest, ok := strings.Cut(in, "://")
		if !ok {
			prefix, rest = "https", in
		}
		host, path := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			host, path = rest[:i], rest[i:]
		}
		f.Add(in, prefix, "user", host, path, "token=")
	}
	for in := range safeURLCases {
		seed(in)
	}
	for _, c := range safeURLUnparsedCases {
		seed(c.in)
	}
	f.Fuzz(func(t *testing.T, raw, prefix, user, host, path, query string) {
		if got := SafeURL(raw); strings.ContainsAny(got, "?#") {
			t.Errorf("SafeURL(%q) = %q, with a query or fragment", raw, got)
		}
		user = strings.Map(func(r rune) rune {
			if strings.ContainsRune("/?#@", r) {
				return -1
			}
			return r
		}, user)
		for _, s := range []string{prefix, user, host + path, query} {
			if strings.Contains(s, safeURLMarker) || strings.Contains(unescaped(s), safeURLMarker) {
				return // the secret is not only where the URL keeps secrets
			}
		}
		in := prefix + "://" + user + ":" + safeURLMarker + "@" + host + path + "?" + query + safeURLMarker + "#" + safeURLMarker
		got := SafeURL(in)
		if strings.Contains(got, safeURLMarker) {
			t.Errorf("SafeURL(%q) = %q, with the secret", in, got)
		}
		if strings.ContainsAny(got, "?#") {
			t.Errorf("SafeURL(%q) = %q, with a query or fragment", in, got)
		}
	})
}

// unescaped is s with its percent-escapes decoded where they decode.
func unescaped(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
