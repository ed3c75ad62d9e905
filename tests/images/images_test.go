// Package images checks the container images `make images` builds: pushed to
// Debian's docker-registry server on loopback and pulled back by digest, each
// is an index of linux/amd64 and linux/arm64 images that run the binary as
// user 65532 from a single layer holding only the binary, the CA roots and
// the passwd and group entries; the amd64 binary prints the release version;
// and building again from the same binaries gives the same digests.
package images

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// binaries are the names of the images, flux-operator-<name>, from
// hack/binaries, which the Makefile and the Dockerfile build from too.
var binaries = func() []string {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "hack", "binaries"))
	if err != nil {
		panic(err)
	}
	var names []string
	for _, line := range strings.Fields(string(data)) {
		names = append(names, strings.TrimPrefix(path.Base(line), "flux-operator-"))
	}
	return names
}()

// optional are the binaries config/default (so dist/install.yaml) and the
// chart's default values leave out: the web UI, which config/web-ui and
// web.enabled add. Their images are built and released all the same.
var optional = map[string]bool{"web": true}

func imagesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IMAGES_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "dist", "images")
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) && os.Getenv("REQUIRE_RELEASE") == "" {
		// A cold `go test ./...`: nothing was released yet. make test
		// releases first and sets REQUIRE_RELEASE, so there it fails.
		t.Skipf("no release in %s: run `make release` first (make test does)", dir)
	}
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(dir, "flux-operator-"+b, "index.json")); err != nil {
			t.Fatalf("no image layout for flux-operator-%s in %s: run `make release` (make test does)", b, dir)
		}
	}
	return dir
}

func TestImagesFromTheRegistry(t *testing.T) {
	dir := imagesDir(t)
	host := testenv.StartRegistry(t)
	auth := remote.WithAuth(&authn.Basic{Username: testenv.RegistryUser, Password: testenv.RegistryPassword})

	// Without credentials the registry says no, and the push says so.
	denied := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "build-images"), "push", "-in", dir,
		"-registry", host+"/fluxops", "-tag", "test", "-plain-http", "-names", "reporter")
	denied.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	out, err := denied.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "failed to push "+host+"/fluxops/flux-operator-reporter:test")
	assert.Contains(t, strings.ToUpper(string(out)), "UNAUTHORIZED")
	for _, b := range binaries {
		t.Run(b, func(t *testing.T) {
			local, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-"+b))
			require.NoError(t, err)
			digest, err := local.Digest()
			require.NoError(t, err)
			// Pushed as `make push` pushes it, with credentials from the environment.
			push := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "build-images"), "push", "-in", dir,
				"-registry", host+"/fluxops", "-tag", "test", "-plain-http", "-names", b)
			push.Env = append(os.Environ(), "REGISTRY_USERNAME="+testenv.RegistryUser, "REGISTRY_PASSWORD="+testenv.RegistryPassword)
			out, err := push.CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Equal(t, host+"/fluxops/flux-operator-"+b+":test@"+digest.String(), strings.TrimSpace(string(out)))

			// Pulled back by digest, as the manifests of a release reference it.
			byDigest, err := name.NewDigest(host+"/fluxops/flux-operator-"+b+"@"+digest.String(), name.Insecure)
			require.NoError(t, err)
			idx, err := remote.Index(byDigest, auth)
			require.NoError(t, err)
			got, err := idx.Digest()
			require.NoError(t, err)
			assert.Equal(t, digest, got)
			manifest, err := idx.IndexManifest()
			require.NoError(t, err)
			var platforms []string
			for _, m := range manifest.Manifests {
				platforms = append(platforms, m.Platform.String())
			}
			assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, platforms)

			var version string
			for _, m := range manifest.Manifests {
				img, err := idx.Image(m.Digest)
				require.NoError(t, err)
				cf, err := img.ConfigFile()
				require.NoError(t, err)
				assert.Equal(t, m.Platform.Architecture, cf.Architecture)
				assert.Equal(t, "65532:65532", cf.Config.User)
				assert.Equal(t, []string{"/flux-operator-" + b}, cf.Config.Entrypoint)
				l := cf.Config.Labels
				assert.Equal(t, "https://github.com/fluxops/flux-operator", l["org.opencontainers.image.source"])
				assert.Equal(t, "Apache-2.0", l["org.opencontainers.image.licenses"])
				assert.Regexp(t, `^[0-9a-f]{40}$`, l["org.opencontainers.image.revision"])
				assert.NotEmpty(t, l["org.opencontainers.image.version"])
				version = l["org.opencontainers.image.version"]

				files := layerFiles(t, img)
				assert.Equal(t, []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/",
					"etc/ssl/certs/ca-certificates.crt", "flux-operator-" + b}, sortedKeys(files),
					"the layer holds only the binary, the CA roots and the passwd and group entries")
				assert.Contains(t, string(files["etc/passwd"]), "nonroot:x:65532:65532:")
				assert.Contains(t, string(files["etc/group"]), "nonroot:x:65532:")
				assert.Greater(t, certificates(t, files["etc/ssl/certs/ca-certificates.crt"]), 100, "the CA roots")

				if m.Platform.Architecture == "amd64" {
					bin := filepath.Join(t.TempDir(), "flux-operator-"+b)
					require.NoError(t, os.WriteFile(bin, files["flux-operator-"+b], 0o755))
					out, err := exec.Command(bin, "--version").CombinedOutput()
					require.NoError(t, err, string(out))
					assert.Contains(t, string(out), version, "the binary prints the release version")
				}
			}
		})
	}
}

// The same binaries give the same digests: every time, owner and mode in
// the images is fixed.
func TestImagesAreReproducible(t *testing.T) {
	dir := imagesDir(t)
	root := testenv.RepoRoot()
	builder := filepath.Join(root, "bin", "build-images")
	if _, err := os.Stat(builder); err != nil {
		t.Fatal("bin/build-images is missing: run `make images` (make test does)")
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-installer"))
	require.NoError(t, err)
	manifest, err := idx.IndexManifest()
	require.NoError(t, err)
	img, err := idx.Image(manifest.Manifests[0].Digest)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	l := cf.Config.Labels

	again := t.TempDir()
	binDir := os.Getenv("RELEASE_BIN")
	if binDir == "" {
		binDir = filepath.Join(root, "bin", "release")
	}
	out, err := exec.Command(builder, "-bin-dir", binDir, "-out", again,
		"-version", l["org.opencontainers.image.version"], "-revision", l["org.opencontainers.image.revision"],
		"-created", l["org.opencontainers.image.created"]).CombinedOutput()
	require.NoError(t, err, string(out))
	for _, b := range binaries {
		first, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-"+b))
		require.NoError(t, err)
		second, err := layout.ImageIndexFromPath(filepath.Join(again, "flux-operator-"+b))
		require.NoError(t, err)
		d1, err := first.Digest()
		require.NoError(t, err)
		d2, err := second.Digest()
		require.NoError(t, err)
		assert.Equal(t, d1, d2, "flux-operator-%s built twice has two digests", b)
		assert.Contains(t, string(out), "flux-operator-"+b+":"+l["org.opencontainers.image.version"]+"@"+d1.String())
	}
}

// layerFiles reads the image's only layer.
func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		assert.Equal(t, 0, h.Uid, h.Name)
		var buf bytes.Buffer
		_, err = io.Copy(&buf, tr)
		require.NoError(t, err)
		files[h.Name] = buf.Bytes()
	}
	return files
}

func sortedKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func certificates(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		_, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		n++
	}
	require.Empty(t, strings.TrimSpace(string(data)), "trailing bytes after the PEM blocks")
	return n
}

// Each image has a CycloneDX SBOM listing the Go modules of its binary.
func TestEachImageHasAnSBOMOfItsModules(t *testing.T) {
	dir := imagesDir(t)
	modules := map[string]map[string]string{}
	for _, b := range binaries {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "sbom", "flux-operator-"+b+".cdx.json"))
		require.NoError(t, err, "run `make release` (make test does)")
		var bom struct {
			BOMFormat   string `json:"bomFormat"`
			SpecVersion string `json:"specVersion"`
			Metadata    struct {
				Component struct{ Type, Name, Version string } `json:"component"`
			} `json:"metadata"`
			Components []struct{ Type, Name, Version, PURL string } `json:"components"`
		}
		require.NoError(t, json.Unmarshal(data, &bom))
		assert.Equal(t, "CycloneDX", bom.BOMFormat)
		assert.Equal(t, "1.5", bom.SpecVersion)
		assert.Equal(t, "container", bom.Metadata.Component.Type)
		assert.Equal(t, "ghcr.io/fluxops/flux-operator-"+b, bom.Metadata.Component.Name)
		modules[b] = map[string]string{}
		for _, c := range bom.Components {
			modules[b][c.Name] = c.Version
			assert.Equal(t, "pkg:golang/"+c.Name+"@"+c.Version, c.PURL)
		}
		assert.Equal(t, "v0.25.3", modules[b]["sigs.k8s.io/controller-runtime"], b)
		assert.Regexp(t, `^go1\.`, modules[b]["stdlib"], b)
	}
	assert.Equal(t, "v0.85.0", modules["installer"]["github.com/fluxcd/pkg/ssa"], "the installer applies with ssa")
	assert.NotContains(t, modules["reporter"], "github.com/fluxcd/pkg/ssa", "each SBOM is its own binary's module graph")
}
