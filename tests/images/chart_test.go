package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// releaseChart is the chart `make release` packaged into dist/charts, and
// the release version the images carry.
func releaseChart(t *testing.T) (file string, version string, digests map[string]string) {
	t.Helper()
	dir := imagesDir(t)
	files, err := filepath.Glob(filepath.Join(filepath.Dir(dir), "charts", "flux-operator-*.tgz"))
	require.NoError(t, err)
	require.Len(t, files, 1, "one packaged chart in dist/charts: run `make release` (make test does)")
	digests = map[string]string{}
	for _, b := range binaries {
		idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-"+b))
		require.NoError(t, err)
		d, err := idx.Digest()
		require.NoError(t, err)
		digests[b] = d.String()
		m, err := idx.IndexManifest()
		require.NoError(t, err)
		img, err := idx.Image(m.Manifests[0].Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		version = cf.Config.Labels["org.opencontainers.image.version"]
	}
	return files[0], version, digests
}

// The packaged chart says the release's version and pins every image by the
// digest of its layout; Helm installs it with --dry-run=server against the
// real API server, and the objects it would create pass the API server's own
// server-side dry-run.
func TestThePackagedChartInstallsWithTheReleaseImages(t *testing.T) {
	file, version, digests := releaseChart(t)
	ch, err := loader.Load(file)
	require.NoError(t, err, "Helm loads the packaged chart")
	assert.Equal(t, "flux-operator", ch.Metadata.Name)
	assert.Equal(t, version, ch.Metadata.AppVersion, "appVersion is the images' version")
	assert.Equal(t, filepath.Base(file), "flux-operator-"+ch.Metadata.Version+".tgz")
	assert.Regexp(t, `^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`, ch.Metadata.Version, "a SemVer 2 chart version")
	if strings.HasPrefix(version, "v") && regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+`).MatchString(version) {
		assert.Equal(t, strings.TrimPrefix(version, "v"), ch.Metadata.Version)
	}
	image, _ := ch.Values["image"].(map[string]any)
	require.NotNil(t, image)
	got := map[string]string{}
	for k, v := range image["digest"].(map[string]any) {
		got[k] = v.(string)
	}
	assert.Equal(t, digests, got, "values.yaml pins the images of this release")
	assert.Contains(t, string(rawFile(ch, "values.yaml")), "# One image per binary", "values.yaml keeps its comments")
	assert.Len(t, ch.CRDObjects(), 2, "the FluxInstance and FluxReport CRDs")

	require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}})))
	kubeconfig, ns := env.Kubeconfig, "flux-system"
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig, getter.Namespace = &kubeconfig, &ns
	var cfg action.Configuration
	require.NoError(t, cfg.Init(getter, ns, "secret", t.Logf))
	// With the default values, and with the optional components enabled
	// (--set web.enabled=true), which the release pins all the same.
	enabled := map[string]any{}
	for b := range optional {
		enabled[b] = map[string]any{"enabled": true}
	}
	for _, tc := range []struct {
		name     string
		values   map[string]any
		optional bool
	}{{"defaults", nil, false}, {"optional components enabled", enabled, true}} {
		t.Run(tc.name, func(t *testing.T) {
			install := action.NewInstall(&cfg)
			install.ReleaseName, install.Namespace = "flux-operator", ns
			install.DryRun, install.DryRunOption = true, "server"
			rel, err := install.Run(ch, tc.values)
			require.NoError(t, err, "helm install flux-operator %s -n flux-system --dry-run=server", file)
			assert.Equal(t, "Dry run complete", rel.Info.Description)
			for _, b := range binaries {
				image := "image: ghcr.io/fluxops/flux-operator-" + b + "@" + digests[b]
				if optional[b] && !tc.optional {
					assert.NotContains(t, rel.Manifest, "flux-operator-"+b, "the optional %s is off by default", b)
					continue
				}
				assert.Contains(t, rel.Manifest, image)
				assert.NotContains(t, rel.Manifest, "ghcr.io/fluxops/flux-operator-"+b+":", "no image by tag")
			}

			manifest := filepath.Join(t.TempDir(), "manifest.yaml")
			require.NoError(t, os.WriteFile(manifest, []byte(rel.Manifest), 0o600))
			out, err := testenv.Kubectl(context.Background(), env.Kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", manifest)
			require.NoError(t, err, out)
			assert.Contains(t, out, "deployment.apps/flux-operator-exporter serverside-applied (server dry run)")
			for b := range optional {
				assert.Equal(t, tc.optional, strings.Contains(out, "deployment.apps/flux-operator-"+b+" serverside-applied (server dry run)"), out)
			}
			if tc.optional {
				assert.Contains(t, out, "service/flux-operator-web serverside-applied (server dry run)")
				assert.Contains(t, out, "clusterrole.rbac.authorization.k8s.io/flux-operator-web serverside-applied (server dry run)")
			}
		})
	}
}

// make push sends the chart to the registry as Helm pushes charts, and Helm's
// own registry client pulls back the same archive.
func TestThePackagedChartIsPushedAsAnOCIArtifactHelmPulls(t *testing.T) {
	file, _, _ := releaseChart(t)
	ch, err := loader.Load(file)
	require.NoError(t, err)
	host := testenv.StartRegistry(t)

	push := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "build-images"), "push", "-names", "",
		"-registry", host+"/fluxops", "-plain-http", "-chart", file)
	push.Env = append(os.Environ(), "REGISTRY_USERNAME="+testenv.RegistryUser, "REGISTRY_PASSWORD="+testenv.RegistryPassword)
	out, err := push.CombinedOutput()
	require.NoError(t, err, string(out))
	ref := host + "/fluxops/flux-operator:" + ch.Metadata.Version
	assert.Regexp(t, "^"+regexp.QuoteMeta(ref)+"@sha256:[0-9a-f]{64}$", strings.TrimSpace(string(out)))

	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(os.Stderr),
		registry.ClientOptBasicAuth(testenv.RegistryUser, testenv.RegistryPassword),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	require.NoError(t, err)
	pulled, err := rc.Pull(ref)
	require.NoError(t, err, "helm pull oci://%s/fluxops/flux-operator --version %s", host, ch.Metadata.Version)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, pulled.Chart.Data), "the pulled archive is the packaged one")
	assert.Equal(t, ch.Metadata.Version, pulled.Chart.Meta.Version)
	assert.Equal(t, ch.Metadata.AppVersion, pulled.Chart.Meta.AppVersion)
	assert.Equal(t, strings.TrimSpace(string(out))[len(ref)+1:], pulled.Manifest.Digest)

	// Without credentials the registry says no, and the push says so.
	denied := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "build-images"), "push", "-names", "",
		"-registry", host+"/fluxops", "-plain-http", "-chart", file)
	denied.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	out, err = denied.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "failed to push the chart to "+ref)
}

// Packaging the chart twice from the same images gives the same bytes.
func TestThePackagedChartIsReproducible(t *testing.T) {
	file, version, _ := releaseChart(t)
	out := t.TempDir()
	root := testenv.RepoRoot()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	created := chartTime(t, data)
	cmd := exec.Command(filepath.Join(root, "bin", "build-images"), "chart", "-chart", filepath.Join(root, "config", "charts", "flux-operator"),
		"-in", imagesDir(t), "-out", out, "-version", version, "-created", created)
	o, err := cmd.CombinedOutput()
	require.NoError(t, err, string(o))
	again, err := os.ReadFile(filepath.Join(out, filepath.Base(file)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, again), "the chart packaged twice differs")
}

// chartTime is the time of the files in a packaged chart, the commit time
// make release gives them.
func chartTime(t *testing.T, archive []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	require.NoError(t, err)
	h, err := tar.NewReader(zr).Next()
	require.NoError(t, err)
	return h.ModTime.UTC().Format(time.RFC3339)
}

func rawFile(ch *chart.Chart, name string) []byte {
	for _, f := range ch.Raw {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}
