package images

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env) error { env = e; return nil })
}

// dist/install.yaml, as `make release` writes it, names each image by the
// digest of its layout and passes a server-side dry-run on the real API
// server.
func TestInstallYAMLPinsTheImagesByDigest(t *testing.T) {
	dir := imagesDir(t)
	file := filepath.Join(filepath.Dir(dir), "install.yaml")
	data, err := os.ReadFile(file)
	require.NoError(t, err, "run `make release` (make test does)")

	images := map[string]string{}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var d appsv1.Deployment
		if err := dec.Decode(&d); err != nil {
			break
		}
		if d.Kind == "Deployment" {
			images[d.Name] = d.Spec.Template.Spec.Containers[0].Image
		}
	}
	require.Len(t, images, len(binaries)-len(optional), "the Deployments of config/default: %v", images)
	for _, b := range binaries {
		if optional[b] {
			assert.NotContains(t, images, "flux-operator-"+b, "the optional %s is not in install.yaml", b)
			assert.NotContains(t, string(data), "flux-operator-"+b, "nothing of the optional %s in install.yaml", b)
			continue
		}
		idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-"+b))
		require.NoError(t, err)
		d, err := idx.Digest()
		require.NoError(t, err)
		assert.Equal(t, "ghcr.io/fluxops/flux-operator-"+b+"@"+d.String(), images["flux-operator-"+b])
	}

	// The namespace exists before a dry-run of the objects in it can pass.
	require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}})))
	out, err := testenv.Kubectl(context.Background(), env.Kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", file)
	require.NoError(t, err, out)
	assert.Contains(t, out, "deployment.apps/flux-operator-installer serverside-applied (server dry run)")
	assert.Contains(t, out, "clusterrole.rbac.authorization.k8s.io/flux-operator-reporter serverside-applied (server dry run)")
}
