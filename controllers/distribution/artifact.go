package distribution

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
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
	// PlainHTTP lists the registries (host or host:port, as in the artifact
	// URL) spoken to over plain HTTP, for mirrors inside an air-gapped
	// network. No other host is ever reached over plain HTTP, not even the
	// loopback and private addresses go-containerregistry would fall back to
	// HTTP for, nor a token service or blob store a listed registry sends
	// the client to (list those too).
	PlainHTTP []string
	// RootCAs are the certificate authorities trusted for HTTPS registries;
	// the system's when nil.
	RootCAs *x509.CertPool
	// MaxSize bounds the layer, compressed and extracted (every byte of the
	// tar stream counts: headers, PAX records and padding as well as file
	// content); DefaultMaxArtifactSize when zero.
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

// digestAlgorithms are the algorithms of the digest a pinned reference
// (repository@algorithm:hex) may carry.
var digestAlgorithms = []string{"sha256:", "sha384:", "sha512:"}

// RedactArtifactURL returns the artifact URL without what may carry a
// secret: the user info (oci://user:password@…), the query and the fragment.
// Every error of this package shows URLs this way; logs, events and
// conditions that show spec.distribution.artifact must too.
func RedactArtifactURL(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		scheme, rest = "", url
	}
	body, pin := rest, ""
	if i := strings.LastIndex(rest, "@"); i >= 0 && slices.ContainsFunc(digestAlgorithms, func(a string) bool {
		return strings.HasPrefix(rest[i+1:], a)
	}) {
		body, pin = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(body, "@"); i >= 0 {
		body = body[i+1:]
	}
	s := body + pin
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if scheme == "" {
		return s
	}
	return scheme + "://" + s
}

// parseArtifactURL parses an oci:// URL (tag latest when none is given).
// Its errors show the URL redacted.
func parseArtifactURL(url string, o ArtifactOptions) (name.Reference, error) {
	safe := RedactArtifactURL(url)
	s, ok := strings.CutPrefix(url, "oci://")
	if !ok {
		return nil, fmt.Errorf("spec.distribution.artifact %q must start with oci://", safe)
	}
	if safe != url {
		return nil, fmt.Errorf("spec.distribution.artifact %q must not carry credentials, a query or a fragment: "+
			"give the registry credentials in spec.distribution.artifactPullSecret", safe)
	}
	// go-containerregistry's parse errors echo the reference: they are not
	// wrapped, although it was checked to carry no secret.
	const form = "oci://<registry>/<repository>[:<tag>|@<digest>]"
	ref, err := name.ParseReference(s, name.WithDefaultTag("latest"))
	if err != nil {
		return nil, fmt.Errorf("spec.distribution.artifact %q is not an OCI reference (%s)", safe, form)
	}
	if slices.Contains(o.PlainHTTP, ref.Context().RegistryStr()) {
		if ref, err = name.ParseReference(s, name.WithDefaultTag("latest"), name.Insecure); err != nil {
			return nil, fmt.Errorf("spec.distribution.artifact %q is not an OCI reference (%s)", safe, form)
		}
	}
	return ref, nil
}

// plainHTTPError is returned for a request over plain HTTP to a registry
// not listed in ArtifactOptions.PlainHTTP.
type plainHTTPError struct{ host string }

func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("refused to reach %s over plain HTTP: the registry answered only on plain HTTP (or redirected to it), "+
		"which would send any pull secret in clear text; list %s with the installer's --artifact-plain-http flag "+
		"(env ARTIFACT_PLAIN_HTTP) if it is meant to be reached without TLS", e.host, e.host)
}

// plainHTTPGuard is the innermost transport of registry requests: it
// refuses any request that is not HTTPS unless its host is listed in
// allowed. go-containerregistry falls back to plain HTTP on its own for
// loopback and private addresses, and a redirect may lead to plain HTTP.
type plainHTTPGuard struct {
	next    http.RoundTripper
	allowed []string
}

// RoundTrip implements http.RoundTripper.
func (g plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !slices.Contains(g.allowed, req.URL.Host) {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	return g.next.RoundTrip(req)
}

func (o ArtifactOptions) remote(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.NewMultiKeychain() // anonymous
	}
	t := remote.DefaultTransport
	if o.RootCAs != nil {
		ht := remote.DefaultTransport.(*http.Transport).Clone()
		ht.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
		t = ht
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc),
		remote.WithTransport(plainHTTPGuard{next: t, allowed: o.PlainHTTP})}
}

// registryError returns the refusal of plain HTTP when err holds one: it is
// the cause, and go-containerregistry's own message around it only adds the
// failed HTTPS attempt.
func registryError(err error) error {
	if pe, ok := errors.AsType[*plainHTTPError](err); ok {
		return pe
	}
	return err
}

// ArtifactDigest returns the manifest digest the URL points to now, with a
// HEAD request where the registry answers one. Plain HTTP is used only for
// the registries of o.PlainHTTP, and errors show the URL redacted.
func ArtifactDigest(ctx context.Context, url string, o ArtifactOptions) (string, error) {
	ref, err := parseArtifactURL(url, o)
	if err != nil {
		return "", err
	}
	safe := RedactArtifactURL(url)
	desc, err := remote.Head(ref, o.remote(ctx)...)
	if err != nil {
		d, gerr := remote.Get(ref, o.remote(ctx)...)
		if gerr != nil {
			return "", fmt.Errorf("failed to resolve the artifact %s: %w", safe, registryError(gerr))
		}
		return d.Digest.String(), nil
	}
	return desc.Digest.String(), nil
}

// PullArtifact pulls the artifact at url and extracts its first layer, a
// tar.gz of a distribution tree, in memory.
//
// What it returns is verified: the manifest matches the digest of a pinned
// reference (oci://…@sha256:…), and the whole layer blob, read to its end,
// matches the sha256 digest the manifest gives it, for tags and digests
// alike; a layer that does not is refused before anything is extracted.
//
// What it reads is bounded by o.MaxSize: the layer as downloaded, the tar
// stream it decompresses to (headers, PAX records and padding included), and
// the content of the tree (a link counts as its target's size); the archive
// holds at most 10,000 entries. The layer is refused, too, when
// an entry's path leaves the tree, when a link points out of it, or when the
// tree is not a distribution.
//
// Registries are reached over HTTPS, over plain HTTP only when listed in
// o.PlainHTTP. Errors show the URL redacted (RedactArtifactURL), and a URL
// with credentials, a query or a fragment is refused.
func PullArtifact(ctx context.Context, url string, o ArtifactOptions) (*Artifact, error) {
	ref, err := parseArtifactURL(url, o)
	if err != nil {
		return nil, err
	}
	safe := RedactArtifactURL(url)
	img, err := remote.Image(ref, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("failed to pull the artifact %s: %w", safe, registryError(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("failed to read the artifact %s: %w", safe, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("failed to read the layers of the artifact %s: %w", safe, err)
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("the artifact %s has no layer: push the distribution tree as a tar.gz layer", safe)
	}
	limit := o.MaxSize
	if limit <= 0 {
		limit = DefaultMaxArtifactSize
	}
	want, err := layers[0].Digest()
	if err != nil {
		return nil, fmt.Errorf("failed to read the layer digest of the artifact %s: %w", safe, err)
	}
	if want.Algorithm != "sha256" {
		return nil, fmt.Errorf("the artifact %s's layer has a %s digest: only sha256 is supported", safe, want.Algorithm)
	}
	size, err := layers[0].Size()
	if err != nil {
		return nil, fmt.Errorf("failed to read the layer size of the artifact %s: %w", safe, err)
	}
	if size > limit {
		return nil, fmt.Errorf("the artifact %s is too large: its layer is %d bytes, the limit is %d", safe, size, limit)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, fmt.Errorf("failed to download the artifact %s: %w", safe, registryError(err))
	}
	blob, rerr := readAtMost(rc, size, limit)
	_ = rc.Close() // read to its end, or failed
	if int64(len(blob)) > limit {
		return nil, fmt.Errorf("the artifact %s is too large: its layer is more than %d bytes", safe, limit)
	}
	// go-containerregistry checks the blob too once read to its end, but
	// this check does not depend on how the stream was read; a blob cut
	// short is a download error.
	if rerr != nil && int64(len(blob)) != size {
		return nil, fmt.Errorf("failed to download the artifact %s: %w", safe, registryError(rerr))
	}
	if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != want.Hex {
		return nil, fmt.Errorf("the artifact %s's layer does not match its digest %s: the registry served other content "+
			"(sha256:%s, %d bytes); nothing was extracted", safe, want, hex.EncodeToString(sum[:]), len(blob))
	}
	if rerr != nil {
		return nil, fmt.Errorf("failed to download the artifact %s: %w", safe, rerr)
	}
	fsys, err := extractTarGz(bytes.NewReader(blob), limit)
	if err != nil {
		return nil, fmt.Errorf("the artifact %s: %w", safe, err)
	}
	if _, err := Versions(fsys); err != nil {
		return nil, fmt.Errorf("the artifact %s is %w (expected flux/<vX.Y.Z>/*.yaml and flux-images/)", safe, err)
	}
	return &Artifact{FS: fsys, Digest: digest.String()}, nil
}

// readAtMost reads r to its end into memory, stopping after limit+1 bytes;
// size is the length expected, which sizes the buffer when within limit.
func readAtMost(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		size = 0
	}
	b := make([]byte, 0, size+1) // +1: the read that finds the end needs room
	lr := io.LimitReader(r, limit+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// maxArchiveEntries bounds the entries (files, directories and links) of a
// distribution archive: the Flux distribution holds a few hundred files.
const maxArchiveEntries = 10_000

// errTooLarge is returned when an archive extracts to more than its limit.
var errTooLarge = errors.New("extracts to more than the size limit")

// boundedReader fails once more than limit bytes were read through it.
type boundedReader struct {
	r        io.Reader
	n, limit int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n > b.limit {
		return 0, errTooLarge
	}
	if rest := b.limit - b.n + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return n, errTooLarge
	}
	return n, err
}

// extractTarGz reads a tar.gz into memory. It refuses a tar stream (every
// header, PAX record, long name and padding byte, not only file content) of
// more than limit bytes, a tree whose content (a link counting as its
// target) is more than limit bytes, more than maxArchiveEntries entries,
// entries that leave the tree (absolute paths, ..), and links whose target
// leaves it. Links inside the tree are resolved to their target's content;
// when a path appears more than once, the last entry wins.
func extractTarGz(r io.Reader, limit int64) (fs.FS, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("is not a tar.gz: %w", err)
	}
	defer func() { _ = gz.Close() }() // the data was read and checked; Close adds nothing
	stream := &boundedReader{r: gz, limit: limit}
	tr := tar.NewReader(stream)
	fsys := fstest.MapFS{}
	links := map[string]string{}
	tooLarge := fmt.Errorf("%w (%d bytes)", errTooLarge, limit)
	var total int64
	for entries := 1; ; entries++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if stream.n > stream.limit {
			return nil, tooLarge
		}
		if err != nil {
			return nil, fmt.Errorf("is not a valid tar.gz: %w", err)
		}
		if entries > maxArchiveEntries {
			return nil, fmt.Errorf("holds more than %d entries: a distribution holds a few hundred files", maxArchiveEntries)
		}
		p, err := cleanPath(h.Name)
		if err != nil {
			return nil, err
		}
		if p == "." && h.Typeflag != tar.TypeDir {
			return nil, fmt.Errorf("the entry %s is not a directory but names the root of the tree", quoteName(h.Name))
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if p != "." {
				fsys[p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
				delete(links, p)
			}
		case tar.TypeReg:
			if h.Size < 0 || h.Size > limit-total {
				return nil, tooLarge
			}
			total += h.Size
			data := make([]byte, h.Size)
			if _, err := io.ReadFull(tr, data); err != nil {
				if stream.n > stream.limit {
					return nil, tooLarge
				}
				return nil, fmt.Errorf("failed to read %s: %w", quoteName(h.Name), err)
			}
			fsys[p] = &fstest.MapFile{Data: data, Mode: 0o644}
			delete(links, p)
		case tar.TypeSymlink, tar.TypeLink:
			target := h.Linkname
			if h.Typeflag == tar.TypeSymlink && !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			t, err := cleanPath(target)
			if err != nil {
				return nil, fmt.Errorf("the link %s points out of the tree (%s)", quoteName(h.Name), quoteName(h.Linkname))
			}
			links[p] = t
			delete(fsys, p)
		default:
			return nil, fmt.Errorf("the entry %s is of a type (%q) a distribution cannot hold", quoteName(h.Name), h.Typeflag)
		}
	}
	resolved := make(map[string]*fstest.MapFile, len(links))
	for p, t := range links {
		for i := 0; i < 8; i++ { // a link to a link
			next, ok := links[t]
			if !ok {
				break
			}
			t = next
		}
		f, ok := fsys[t]
		if !ok || f.Mode.IsDir() {
			return nil, fmt.Errorf("the link %s points to %s, which is not a file of the tree", quoteName(p), quoteName(t))
		}
		if int64(len(f.Data)) > limit-total {
			return nil, tooLarge
		}
		total += int64(len(f.Data))
		resolved[p] = f
	}
	for p, f := range resolved {
		fsys[p] = f
	}
	return fsys, nil
}

// cleanPath returns a tar entry's path relative to the tree, or an error
// when it leaves it.
func cleanPath(name string) (string, error) {
	if path.IsAbs(name) || strings.Contains(name, `\`) {
		return "", fmt.Errorf("the entry %s has an absolute path", quoteName(name))
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("the entry %s leaves the tree", quoteName(name))
	}
	return p, nil
}

// quoteName quotes an entry name for an error, cut to its first 200 bytes:
// names come from the archive, which may make them long or unprintable.
func quoteName(name string) string {
	const maxLen = 200
	if len(name) > maxLen {
		return strconv.Quote(name[:maxLen]) + fmt.Sprintf("… (%d bytes)", len(name))
	}
	return strconv.Quote(name)
}

// SplitHosts splits a comma-separated list of registries (--artifact-plain-http).
func SplitHosts(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
