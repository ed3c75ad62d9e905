package distribution

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// entry is one tar entry: a file, or a link when link is set.
type entry struct {
	name, body, link string
	symlink          bool
}

func tarGz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Size, h.Linkname, h.Typeflag = 0, e.link, tar.TypeLink
			if e.symlink {
				h.Typeflag = tar.TypeSymlink
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var tree = []entry{
	{name: "flux/v2.9.5/source-controller.yaml", body: "kind: Deployment\n"},
	{name: "flux-images/v2.9.5/upstream-alpine.yaml", body: "images: []\n"},
	{name: "flux-images/VERSION", body: "v2.9.5\n"},
}

// push stores layer as a Flux-style OCI artifact at ref in the registry.
func push(t *testing.T, ref string, layer []byte) string {
	t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: static.NewLayer(layer, "application/vnd.cncf.flux.content.v1.tar+gzip"),
	})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.cncf.flux.config.v1+json")
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func startRegistry(t *testing.T) (host string, o ArtifactOptions) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	return host, ArtifactOptions{PlainHTTP: []string{host}}
}

func TestPullArtifactExtractsTheTreeAndKeepsTheDigest(t *testing.T) {
	host, o := startRegistry(t)
	digest := push(t, host+"/flux-operator-manifests:latest", tarGz(t, tree...))
	ctx := context.Background()

	a, err := PullArtifact(ctx, "oci://"+host+"/flux-operator-manifests", o)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != digest || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("digest %s, want the manifest's %s", a.Digest, digest)
	}
	data, err := fs.ReadFile(a.FS, "flux/v2.9.5/source-controller.yaml")
	if err != nil || string(data) != "kind: Deployment\n" {
		t.Errorf("extracted file = %q, %v", data, err)
	}
	if got, err := ArtifactDigest(ctx, "oci://"+host+"/flux-operator-manifests:latest", o); err != nil || got != digest {
		t.Errorf("ArtifactDigest() = %s, %v; want %s", got, err, digest)
	}

	// The tag moves: the digest says so before anything is pulled.
	moved := push(t, host+"/flux-operator-manifests:latest",
		tarGz(t, append(tree, entry{name: "flux/v2.9.5/rbac.yaml", body: "kind: ClusterRole\n"})...))
	if got, err := ArtifactDigest(ctx, "oci://"+host+"/flux-operator-manifests", o); err != nil || got != moved || got == digest {
		t.Errorf("after the tag moved, ArtifactDigest() = %s, %v; want %s", got, err, moved)
	}
	// A pinned digest keeps pulling what it names.
	pinned, err := PullArtifact(ctx, "oci://"+host+"/flux-operator-manifests@"+digest, o)
	if err != nil || pinned.Digest != digest {
		t.Fatalf("pull by digest: %v, %v", pinned, err)
	}
	if _, err := fs.Stat(pinned.FS, "flux/v2.9.5/rbac.yaml"); err == nil {
		t.Errorf("the pinned digest has a file of the moved tag")
	}
}

func TestPullArtifactRefusesBadArtifacts(t *testing.T) {
	host, o := startRegistry(t)
	ctx := context.Background()
	big := strings.Repeat("x", 4096)
	cases := []struct {
		name    string
		layer   []byte
		maxSize int64
		want    string
	}{
		{"a path that leaves the tree", tarGz(t, append(tree, entry{name: "../../etc/passwd", body: "root"})...), 0, "leaves the tree"},
		{"an absolute path", tarGz(t, append(tree, entry{name: "/etc/passwd", body: "root"})...), 0, "absolute path"},
		{"a symlink out of the tree", tarGz(t, append(tree, entry{name: "flux/v2.9.5/x.yaml", link: "../../../etc/shadow", symlink: true})...), 0, "points out of the tree"},
		{"a tree that is not a distribution", tarGz(t, entry{name: "README.md", body: "hello"}), 0, "not a Flux distribution"},
		{"a layer larger than the limit", tarGz(t, append(tree, entry{name: "flux/big.yaml", body: big})...), 200, "too large"},
		{"content larger than the limit", tarGz(t, append(tree, entry{name: "flux/big.yaml", body: big + big + big})...), 1024, "size limit"},
		{"a layer that is not a tar.gz", []byte("not gzip"), 0, "not a tar.gz"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := host + "/bad" + string(rune('a'+i)) + ":latest"
			push(t, repo, tc.layer)
			oo := o
			oo.MaxSize = tc.maxSize
			_, err := PullArtifact(ctx, "oci://"+repo, oo)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := PullArtifact(ctx, "oci://"+host+"/missing:latest", o); err == nil || !strings.Contains(err.Error(), "failed to pull the artifact") {
		t.Errorf("a missing artifact: %v", err)
	}
	if _, err := PullArtifact(ctx, "https://"+host+"/x", o); err == nil || !strings.Contains(err.Error(), "must start with oci://") {
		t.Errorf("a URL without oci://: %v", err)
	}
}

func TestLinksInsideTheTreeAreResolved(t *testing.T) {
	fsys, err := extractTarGz(bytes.NewReader(tarGz(t, append(tree,
		entry{name: "flux/v2.9.5/alias.yaml", link: "source-controller.yaml", symlink: true})...)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := fs.ReadFile(fsys, "flux/v2.9.5/alias.yaml"); string(data) != "kind: Deployment\n" {
		t.Errorf("alias.yaml = %q", data)
	}
}

func TestKeychainFromSecret(t *testing.T) {
	ctx := context.Background()
	ok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example.com":{"username":"u","password":"p"}}}`)}}
	kc, err := KeychainFromSecret(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry("registry.example.com")
	auth, err := kc.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := auth.Authorization(); cfg.Username != "u" || cfg.Password != "p" {
		t.Errorf("credentials = %+v", cfg)
	}
	opaque := ok.DeepCopy()
	opaque.Type = corev1.SecretTypeOpaque
	if _, err := KeychainFromSecret(ctx, opaque); err == nil || !strings.Contains(err.Error(), `"regcred" is of type "Opaque": it must be of type kubernetes.io/dockerconfigjson`) {
		t.Errorf("an Opaque secret: %v", err)
	}
	empty := ok.DeepCopy()
	empty.Data = nil
	if _, err := KeychainFromSecret(ctx, empty); err == nil || !strings.Contains(err.Error(), "has no .dockerconfigjson key") {
		t.Errorf("a secret without data: %v", err)
	}
}

var _ v1.Image = empty.Image

func TestArtifactDigestFollowsATagMove(t *testing.T) {
	host, o := startRegistry(t)
	ctx := context.Background()
	url := "oci://" + host + "/manifests"
	first := push(t, host+"/manifests:latest", tarGz(t, tree...))
	if d, err := ArtifactDigest(ctx, url, o); err != nil || d != first {
		t.Fatalf("ArtifactDigest() = %s, %v; want %s", d, err, first)
	}
	second := push(t, host+"/manifests:latest", tarGz(t, append(tree, entry{name: "flux/v2.9.5/rbac.yaml", body: "x"})...))
	for range 2 { // and it stays there without another push
		if d, err := ArtifactDigest(ctx, url, o); err != nil || d != second {
			t.Fatalf("after the tag moved, ArtifactDigest() = %s, %v; want %s", d, err, second)
		}
	}
}
