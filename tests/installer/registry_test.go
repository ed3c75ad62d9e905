package installer_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const (
	registryUser     = testenv.RegistryUser
	registryPassword = testenv.RegistryPassword
)

func startRegistry(t *testing.T) string { return testenv.StartRegistry(t) }

// distributionLayer is the embedded distribution tree as a tar.gz, the way
// the Flux Operator's manifests artifact holds it.
func distributionLayer(t *testing.T, extra map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	write := func(p string, data []byte) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, fs.WalkDir(distribution.Embedded(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, replaced := extra[p]; replaced {
			return nil
		}
		data, err := fs.ReadFile(distribution.Embedded(), p)
		write(p, data)
		return err
	}))
	for p, body := range extra {
		write(p, []byte(body))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func pushArtifact(t *testing.T, ref string, layer []byte) string {
	t.Helper()
	return push(t, ref, layer, remote.WithAuth(&authn.Basic{Username: registryUser, Password: registryPassword}))
}

func pushArtifactAnonymous(t *testing.T, ref string, layer []byte) string {
	t.Helper()
	return push(t, ref, layer)
}

func mustReadEmbedded(t *testing.T, p string) string {
	t.Helper()
	data, err := fs.ReadFile(distribution.Embedded(), p)
	require.NoError(t, err)
	return string(data)
}

func push(t *testing.T, ref string, layer []byte, opts ...remote.Option) string {
	t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(layer, "application/vnd.cncf.flux.content.v1.tar+gzip")})
	require.NoError(t, err)
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), "application/vnd.cncf.flux.config.v1+json")
	r, err := name.ParseReference(ref, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img, opts...))
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

// The distribution, pushed as an OCI artifact to a registry that needs
// credentials, is pulled with the credentials of a dockerconfigjson Secret
// made with kubectl, built, and its digest recorded; a moved tag is seen by
// the poller.
func TestTheDistributionArtifactFromAPrivateRegistry(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	url := "oci://" + host + "/flux-operator-manifests"
	first := pushArtifact(t, host+"/flux-operator-manifests:latest", distributionLayer(t, nil))

	_, err := testenv.Kubectl(ctx, env.Kubeconfig, "-n", "default", "create", "secret", "docker-registry", "registry-creds",
		"--docker-server="+host, "--docker-username="+registryUser, "--docker-password="+registryPassword)
	require.NoError(t, err)
	kc, err := distribution.PullSecretKeychain(ctx, env.Client, "default", "registry-creds")
	require.NoError(t, err)
	var secret corev1.Secret
	opts := distribution.ArtifactOptions{Keychain: kc, PlainHTTP: []string{host}}

	// Without the credentials the registry says no, and the error says so.
	_, err = distribution.PullArtifact(ctx, url, distribution.ArtifactOptions{PlainHTTP: []string{host}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "failed to pull the artifact "+url)
	assert.Contains(t, strings.ToUpper(err.Error()), "UNAUTHORIZED")

	a, err := distribution.PullArtifact(ctx, url, opts)
	require.NoError(t, err)
	assert.Equal(t, first, a.Digest)
	spec := apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd", Artifact: url}}
	res, err := builder.Build(ctx, builder.Request{Spec: &spec, Distribution: a.FS})
	require.NoError(t, err)
	embedded, err := builder.Build(ctx, builder.Request{Spec: &spec, Distribution: distribution.Embedded()})
	require.NoError(t, err)
	assert.Equal(t, embedded.Revision, res.Revision, "the artifact holds the embedded tree: same build")

	// The tag moves: its digest, which the installer's artifact watcher
	// checks, is the new one.
	second := pushArtifact(t, host+"/flux-operator-manifests:latest",
		distributionLayer(t, map[string]string{"flux/v2.9.5/NOTES": "a new build of the same release\n"}))
	require.NotEqual(t, first, second)
	d, err := distribution.ArtifactDigest(ctx, url, opts)
	require.NoError(t, err)
	assert.Equal(t, second, d, "the digest of the moved tag")

	// A secret of the wrong type is refused with what to do.
	_, err = testenv.Kubectl(ctx, env.Kubeconfig, "-n", "default", "create", "secret", "generic", "opaque-creds",
		"--from-literal=username="+registryUser)
	require.NoError(t, err)
	_, err = distribution.PullSecretKeychain(ctx, env.Client, "default", "opaque-creds")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"opaque-creds" is of type "Opaque": it must be of type kubernetes.io/dockerconfigjson`)
	// So is a secret that does not exist.
	_, err = distribution.PullSecretKeychain(ctx, env.Client, "default", "no-such-secret")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.distribution.artifactPullSecret "no-such-secret" was not found in namespace default: `+
		`create it with kubectl -n default create secret docker-registry no-such-secret`)
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "opaque-creds"}, &secret))
	assert.Equal(t, corev1.SecretTypeOpaque, secret.Type)
}
