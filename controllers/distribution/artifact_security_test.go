package distribution

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// served is a response a recordingRegistry gives instead of the registry's.
type served struct {
	body        []byte
	contentType string
}

// recordingRegistry is an in-process registry that records the requests it
// receives and answers GET requests of chosen paths with other content, as
// a compromised registry or a man in the middle would.
type recordingRegistry struct {
	next http.Handler

	mu       sync.Mutex
	swap     map[string]served
	requests []*http.Request
}

func (h *recordingRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests = append(h.requests, r.Clone(context.Background()))
	s, ok := h.swap[r.URL.Path]
	h.mu.Unlock()
	if ok && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", s.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
		_, _ = w.Write(s.body)
		return
	}
	h.next.ServeHTTP(w, r)
}

func (h *recordingRegistry) serve(path string, s served) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.swap[path] = s
}

// seen returns the requests received so far and forgets them.
func (h *recordingRegistry) seen() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.requests
	h.requests = nil
	return r
}

func startRecordingRegistry(t *testing.T) (string, *recordingRegistry) {
	t.Helper()
	h := &recordingRegistry{next: registry.New(registry.Logger(log.New(io.Discard, "", 0))), swap: map[string]served{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), h
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// noise returns n bytes of text that compresses poorly.
func noise(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[r.IntN(16)]
	}
	return string(b)
}

// TestPullArtifactRefusesALayerThatDoesNotMatchItsDigest serves, for the
// artifact's layer, another valid distribution tar.gz padded with zeros to
// the same size: the tar reader stops at the end marker, so only a check of
// the whole blob against the manifest's digest sees it.
func TestPullArtifactRefusesALayerThatDoesNotMatchItsDigest(t *testing.T) {
	host, reg := startRecordingRegistry(t)
	ctx := context.Background()
	o := ArtifactOptions{PlainHTTP: []string{host}}

	layer := tarGz(t, append(tree, entry{name: "flux/v2.9.5/notes.txt", body: noise(4096)})...)
	digest := push(t, host+"/manifests:latest", layer)
	evil := tarGz(t, append(tree, entry{name: "flux/v2.9.5/evil.yaml", body: "kind: ClusterRoleBinding\n"})...)
	if len(evil) >= len(layer) {
		t.Fatalf("the tampered layer (%d bytes) must be smaller than the real one (%d)", len(evil), len(layer))
	}
	evil = append(evil, make([]byte, len(layer)-len(evil))...)
	blob := "/v2/manifests/blobs/" + sha256Digest(layer)
	reg.serve(blob, served{body: evil, contentType: "application/octet-stream"})

	for _, url := range []string{"oci://" + host + "/manifests:latest", "oci://" + host + "/manifests@" + digest} {
		reg.seen()
		a, err := PullArtifact(ctx, url, o)
		fetched := false
		for _, r := range reg.seen() {
			fetched = fetched || r.URL.Path == blob
		}
		if !fetched {
			t.Fatalf("%s: the tampered blob was not requested", url)
		}
		if err == nil || a != nil {
			_, statErr := fs.Stat(a.FS, "flux/v2.9.5/evil.yaml")
			t.Errorf("%s: pulled a layer that does not match its digest (evil.yaml extracted: %v)", url, statErr == nil)
			continue
		}
		if want := "layer does not match its digest " + sha256Digest(layer); !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", url, err, want)
		}
	}
}

// TestPullArtifactRefusesAManifestThatDoesNotMatchThePinnedDigest serves the
// manifest of another artifact for a pinned digest.
func TestPullArtifactRefusesAManifestThatDoesNotMatchThePinnedDigest(t *testing.T) {
	host, reg := startRecordingRegistry(t)
	ctx := context.Background()
	o := ArtifactOptions{PlainHTTP: []string{host}}
	pinned := push(t, host+"/manifests:v1", tarGz(t, tree...))
	push(t, host+"/manifests:v2", tarGz(t, append(tree, entry{name: "flux/v2.9.5/evil.yaml", body: "x"})...))
	other, err := remote.Get(mustRef(t, host+"/manifests:v2"))
	if err != nil {
		t.Fatal(err)
	}
	reg.serve("/v2/manifests/manifests/"+pinned, served{body: other.Manifest, contentType: string(other.MediaType)})

	if a, err := PullArtifact(ctx, "oci://"+host+"/manifests@"+pinned, o); err == nil || a != nil {
		t.Errorf("pulled another manifest than the pinned digest: %v", err)
	} else if !strings.Contains(err.Error(), "does not match requested digest") {
		t.Errorf("error %v, want a digest mismatch", err)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// paxBomb returns a tar.gz of entries directories, each with a distinct name
// of nameLen bytes: archive/tar writes each name as a PAX record, and the
// whole compresses to almost nothing.
func paxBomb(tb testing.TB, entries, nameLen int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		tb.Fatal(err)
	}
	tw := tar.NewWriter(gz)
	long := strings.Repeat("a", nameLen)
	for i := range entries {
		h := &tar.Header{Name: fmt.Sprintf("flux/%06d/%s/", i, long), Typeflag: tar.TypeDir, Mode: 0o755}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestExtractTarGzBoundsArchiveMetadata extracts an archive whose content is
// nothing but long PAX names: they count toward the size limit, and the
// memory spent stays within a small multiple of it.
func TestExtractTarGzBoundsArchiveMetadata(t *testing.T) {
	const limit = 1 << 20
	bomb := paxBomb(t, 400, 64<<10)
	if len(bomb) > limit/2 {
		t.Fatalf("the archive is %d bytes, want it well under the limit", len(bomb))
	}
	var err error
	alloc := allocated(func() { _, err = extractTarGz(bytes.NewReader(bomb), limit) })
	if err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Errorf("a %d-byte archive of 25 MiB of names: error %v, want the size limit", len(bomb), err)
	}
	if alloc > 16*limit {
		t.Errorf("extracting a %d-byte archive under a %d-byte limit allocated %d MiB", len(bomb), limit, alloc>>20)
	}

	host, o := startRegistry(t)
	push(t, host+"/bomb:latest", bomb)
	o.MaxSize = limit
	if _, err := PullArtifact(context.Background(), "oci://"+host+"/bomb", o); err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Errorf("pulling the archive: error %v, want the size limit", err)
	}
}

// TestExtractTarGzCapsTheEntryCount extracts an archive of more empty
// entries than a distribution holds, under the default size limit.
func TestExtractTarGzCapsTheEntryCount(t *testing.T) {
	entries := make([]entry, 10_001)
	for i := range entries {
		entries[i] = entry{name: fmt.Sprintf("flux/v2.9.5/%05d.yaml", i)}
	}
	_, err := extractTarGz(bytes.NewReader(tarGz(t, entries...)), DefaultMaxArtifactSize)
	if err == nil || !strings.Contains(err.Error(), "more than 10000 entries") {
		t.Errorf("an archive of 10001 entries: error %v, want it refused for its entry count", err)
	}
}

// staticKeychain gives the same credentials for every registry.
type staticKeychain struct{ authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return k.Authenticator, nil
}

// TestPlainHTTPNeedsOptIn pulls from a registry on 127.0.0.1 that answers on
// plain HTTP only, which go-containerregistry falls back to on its own for
// loopback and private addresses: without --artifact-plain-http naming it,
// no request is made over HTTP, so the credentials never travel in clear.
func TestPlainHTTPNeedsOptIn(t *testing.T) {
	host, reg := startRecordingRegistry(t)
	ctx := context.Background()
	digest := push(t, host+"/manifests:latest", tarGz(t, tree...))
	reg.seen()
	o := ArtifactOptions{Keychain: staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "flux", Password: "s3cret"})}}

	const want = "--artifact-plain-http"
	if a, err := PullArtifact(ctx, "oci://"+host+"/manifests", o); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("PullArtifact over plain HTTP without opt-in: artifact %v, error %v; want it refused with %q", a, err, want)
	}
	if d, err := ArtifactDigest(ctx, "oci://"+host+"/manifests", o); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ArtifactDigest over plain HTTP without opt-in: %q, error %v; want it refused with %q", d, err, want)
	}
	for _, r := range reg.seen() {
		if a := r.Header.Get("Authorization"); a != "" {
			t.Errorf("the registry received %s %s with the credentials in clear (Authorization: %s)", r.Method, r.URL.Path, a)
		}
	}

	// Listed, it is spoken to over plain HTTP.
	o.PlainHTTP = []string{host}
	if a, err := PullArtifact(ctx, "oci://"+host+"/manifests", o); err != nil || a.Digest != digest {
		t.Errorf("PullArtifact with the registry listed: %v", err)
	}
	if d, err := ArtifactDigest(ctx, "oci://"+host+"/manifests", o); err != nil || d != digest {
		t.Errorf("ArtifactDigest with the registry listed: %q, %v", d, err)
	}
}

// TestErrorsDoNotEchoURLCredentials triggers the errors of artifact URLs
// that carry a secret (user info, query, fragment): their messages become
// conditions, events and logs, and must not hold it.
func TestErrorsDoNotEchoURLCredentials(t *testing.T) {
	host, o := startRegistry(t)
	ctx := context.Background()
	digest := push(t, host+"/manifests:latest", tarGz(t, tree...))
	noLayer := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.cncf.flux.config.v1+json")
	if err := remote.Write(mustRef(t, host+"/nolayer:latest"), noLayer); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{
		"oci://user:s3cret@" + host + "/manifests",
		"oci://user:s3cret@" + host + "/manifests@" + digest,
		"oci://user:s3cret@" + host + "/nolayer:latest",
		"oci://user:s3cret@" + host + "/missing:latest",
		"oci://user:s3cret@127.0.0.1:1/unreachable",
		"oci://user:s3cret/x@" + host + "/manifests",
		"oci://user:s3cret@" + host + "/Not A Repo",
		"oci://" + host + "/manifests?token=s3cret",
		"oci://" + host + "/manifests:latest#s3cret",
		"https://user:s3cret@" + host + "/manifests",
		"user:s3cret@" + host + "/manifests",
	} {
		if _, err := PullArtifact(ctx, url, o); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("PullArtifact(%s): error %v, want one that does not hold the secret", url, err)
		}
		if _, err := ArtifactDigest(ctx, url, o); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ArtifactDigest(%s): error %v, want one that does not hold the secret", url, err)
		}
	}
}

// TestLinksCountTowardTheSizeLimit extracts one file and many links to it:
// whoever reads the tree reads the file once per link.
func TestLinksCountTowardTheSizeLimit(t *testing.T) {
	entries := append([]entry{}, tree...)
	entries = append(entries, entry{name: "flux/v2.9.5/big.yaml", body: noise(100 << 10)})
	for i := range 20 {
		entries = append(entries, entry{name: fmt.Sprintf("flux/v2.9.5/alias%02d.yaml", i), link: "flux/v2.9.5/big.yaml"})
	}
	if _, err := extractTarGz(bytes.NewReader(tarGz(t, entries...)), 1<<20); err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Errorf("20 links to a 100 KiB file under a 1 MiB limit: error %v, want the size limit", err)
	}
}

func TestRedactArtifactURL(t *testing.T) {
	const d = "sha256:2206065714645f5b2d0853dc768276c0d67cd24c7fd9844f65d0350b36036f4b"
	for in, want := range map[string]string{
		"oci://ghcr.io/fluxops/manifests:v1":                  "oci://ghcr.io/fluxops/manifests:v1",
		"oci://ghcr.io/fluxops/manifests@" + d:                "oci://ghcr.io/fluxops/manifests@" + d,
		"oci://user:s3cret@ghcr.io/fluxops/manifests":         "oci://ghcr.io/fluxops/manifests",
		"oci://user:s3cret@ghcr.io/fluxops/manifests@" + d:    "oci://ghcr.io/fluxops/manifests@" + d,
		"oci://user:s3@cr/et@registry:5000/manifests":         "oci://registry:5000/manifests",
		"oci://user:s3?cr#et@registry:5000/manifests":         "oci://registry:5000/manifests",
		"oci://u:s3cret@registry:5000":                        "oci://registry:5000",
		"oci://registry/manifests:v1?token=s3cret#s3cret":     "oci://registry/manifests:v1",
		"oci://registry/manifests@" + d + "?token=s3cret":     "oci://registry/manifests@" + d,
		"user:s3cret@registry/manifests":                      "registry/manifests",
		"https://user:s3cret@registry/manifests?token=s3cret": "https://registry/manifests",
	} {
		if got := RedactArtifactURL(in); got != want {
			t.Errorf("RedactArtifactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
