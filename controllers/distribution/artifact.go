package distribution

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/google/go-containerregistry/pkg/authn"
	k8schain "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultMaxArtifactSize bounds a distribution artifact's layer, compressed
// and extracted: the Flux Operator's manifests artifact is well under 5 MiB.
const DefaultMaxArtifactSize int64 = 50 << 20

// ArtifactOptions say how to reach the registry of a distribution artifact.
type ArtifactOptions struct {
	// Keychain gives the registry credentials; anonymous when nil.
	Keychain authn.Keychain
	// PlainHTTP lists the registries (host or host:port) spoken to over
	// plain HTTP, for mirrors inside an air-gapped network.
	PlainHTTP []string
	// RootCAs are the certificate authorities trusted for HTTPS registries;
	// the system's when nil.
	RootCAs *x509.CertPool
	// MaxSize bounds the layer, compressed and extracted;
	// DefaultMaxArtifactSize when zero.
	MaxSize int64
}

// LoadCAFile returns the system certificate pool plus the PEM certificates
// of file, for registries signed by a private CA.
func LoadCAFile(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read the registry CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the registry CA bundle %s holds no PEM certificate", file)
	}
	return pool, nil
}

// KeychainFromSecret returns the credentials of an artifact pull secret,
// which must be of type kubernetes.io/dockerconfigjson (what
// `kubectl create secret docker-registry` makes).
func KeychainFromSecret(ctx context.Context, secret *corev1.Secret) (authn.Keychain, error) {
	if secret.Type != corev1.SecretTypeDockerConfigJson {
		return nil, fmt.Errorf("spec.distribution.artifactPullSecret %q is of type %q: it must be of type %s "+
			"(create it with kubectl create secret docker-registry)", secret.Name, secret.Type, corev1.SecretTypeDockerConfigJson)
	}
	if len(secret.Data[corev1.DockerConfigJsonKey]) == 0 {
		return nil, fmt.Errorf("spec.distribution.artifactPullSecret %q has no %s key", secret.Name, corev1.DockerConfigJsonKey)
	}
	kc, err := k8schain.NewFromPullSecrets(ctx, []corev1.Secret{*secret})
	if err != nil {
		return nil, fmt.Errorf("spec.distribution.artifactPullSecret %q is not a valid Docker config: %w", secret.Name, err)
	}
	return kc, nil
}

// PullSecretKeychain reads the artifact pull secret name from namespace and
// returns its credentials; a secret that is missing or of the wrong type is
// an error that says how to make the right one.
func PullSecretKeychain(ctx context.Context, r client.Reader, namespace, name string) (authn.Keychain, error) {
	var secret corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("spec.distribution.artifactPullSecret %q was not found in namespace %s: create it with "+
				"kubectl -n %s create secret docker-registry %s --docker-server=<registry> --docker-username=<user> --docker-password=<password>",
				name, namespace, namespace, name)
		}
		return nil, fmt.Errorf("failed to read spec.distribution.artifactPullSecret %q: %w", name, err)
	}
	return KeychainFromSecret(ctx, &secret)
}

// Artifact is a distribution pulled from an OCI registry.
type Artifact struct {
	// FS holds the extracted files.
	FS fs.FS
	// Digest is the manifest digest, e.g. sha256:….
	Digest string
}

// parseArtifactURL parses an oci:// URL (tag latest when none is given).
func parseArtifactURL(url string, o ArtifactOptions) (name.Reference, error) {
	s, ok := strings.CutPrefix(url, "oci://")
	if !ok {
		return nil, fmt.Errorf("spec.distribution.artifact %q must start with oci://", url)
	}
	ref, err := name.ParseReference(s, name.WithDefaultTag("latest"))
	if err != nil {
		return nil, fmt.Errorf("spec.distribution.artifact %q is not an OCI reference: %w", url, err)
	}
	if slices.Contains(o.PlainHTTP, ref.Context().RegistryStr()) {
		if ref, err = name.ParseReference(s, name.WithDefaultTag("latest"), name.Insecure); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

func (o ArtifactOptions) remote(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.NewMultiKeychain() // anonymous
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.RootCAs != nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
		opts = append(opts, remote.WithTransport(t))
	}
	return opts
}

// ArtifactDigest returns the manifest digest the URL points to now, with a
// HEAD request where the registry answers one.
func ArtifactDigest(ctx context.Context, url string, o ArtifactOptions) (string, error) {
	ref, err := parseArtifactURL(url, o)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, o.remote(ctx)...)
	if err != nil {
		d, gerr := remote.Get(ref, o.remote(ctx)...)
		if gerr != nil {
			return "", fmt.Errorf("failed to resolve the artifact %s: %w", url, gerr)
		}
		return d.Digest.String(), nil
	}
	return desc.Digest.String(), nil
}

// PullArtifact pulls the artifact at url and extracts its first layer, a
// tar.gz of a distribution tree, in memory. The layer is refused when it is
// larger than MaxSize (compressed or extracted), when an entry's path leaves
// the tree, when a link points out of it, or when the tree is not a
// distribution.
func PullArtifact(ctx context.Context, url string, o ArtifactOptions) (*Artifact, error) {
	ref, err := parseArtifactURL(url, o)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("failed to pull the artifact %s: %w", url, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("failed to read the artifact %s: %w", url, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("failed to read the layers of the artifact %s: %w", url, err)
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("the artifact %s has no layer: push the distribution tree as a tar.gz layer", url)
	}
	limit := o.MaxSize
	if limit <= 0 {
		limit = DefaultMaxArtifactSize
	}
	if size, err := layers[0].Size(); err == nil && size > limit {
		return nil, fmt.Errorf("the artifact %s is too large: its layer is %d bytes, the limit is %d", url, size, limit)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, fmt.Errorf("failed to download the artifact %s: %w", url, err)
	}
	defer rc.Close()
	fsys, err := extractTarGz(io.LimitReader(rc, limit+1), limit)
	if err != nil {
		return nil, fmt.Errorf("the artifact %s: %w", url, err)
	}
	if _, err := Versions(fsys); err != nil {
		return nil, fmt.Errorf("the artifact %s is %w (expected flux/<vX.Y.Z>/*.yaml and flux-images/)", url, err)
	}
	return &Artifact{FS: fsys, Digest: digest.String()}, nil
}

// errTooLarge is returned when an archive extracts to more than its limit.
var errTooLarge = errors.New("extracts to more than the size limit")

// extractTarGz reads a tar.gz into memory, refusing more than limit bytes of
// content, entries that leave the tree (absolute paths, ..), and links whose
// target leaves it. Links inside the tree are resolved to their target's
// content.
func extractTarGz(r io.Reader, limit int64) (fs.FS, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("is not a tar.gz: %w", err)
	}
	defer func() { _ = gz.Close() }() // the data was read and checked; Close adds nothing
	tr := tar.NewReader(gz)
	fsys := fstest.MapFS{}
	links := map[string]string{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("is not a valid tar.gz: %w", err)
		}
		p, err := cleanPath(h.Name)
		if err != nil {
			return nil, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if p != "." {
				fsys[p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			}
		case tar.TypeReg:
			total += h.Size
			if total > limit {
				return nil, fmt.Errorf("%w (%d bytes)", errTooLarge, limit)
			}
			data, err := io.ReadAll(io.LimitReader(tr, h.Size))
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", h.Name, err)
			}
			fsys[p] = &fstest.MapFile{Data: data, Mode: 0o644}
		case tar.TypeSymlink, tar.TypeLink:
			target := h.Linkname
			if h.Typeflag == tar.TypeSymlink && !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			t, err := cleanPath(target)
			if err != nil {
				return nil, fmt.Errorf("the link %s points out of the tree (%s)", h.Name, h.Linkname)
			}
			links[p] = t
		default:
			return nil, fmt.Errorf("the entry %s is of a type (%c) a distribution cannot hold", h.Name, h.Typeflag)
		}
	}
	for p, t := range links {
		f, ok := fsys[t]
		for i := 0; !ok && i < 8; i++ { // a link to a link
			var next string
			if next, ok = links[t]; ok {
				t = next
				f, ok = fsys[t]
			}
		}
		if !ok || f.Mode.IsDir() {
			return nil, fmt.Errorf("the link %s points to %s, which is not a file of the tree", p, t)
		}
		fsys[p] = f
	}
	return fsys, nil
}

// cleanPath returns a tar entry's path relative to the tree, or an error
// when it leaves it.
func cleanPath(name string) (string, error) {
	if path.IsAbs(name) || strings.Contains(name, `\`) {
		return "", fmt.Errorf("the entry %s has an absolute path", name)
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("the entry %s leaves the tree", name)
	}
	return p, nil
}
