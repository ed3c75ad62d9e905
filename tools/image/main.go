// Command build-images writes the OCI image index of each operator binary,
// for linux/amd64 and linux/arm64, into an OCI layout, without a Docker
// daemon and without a base image: one layer holding the binary, the CA roots
// of Mozilla's NSS store (golang.org/x/crypto/x509roots/fallback, pinned by
// go.mod) and passwd/group entries for the non-root user 65532. Every input
// is fixed (file modes, owners, times from -created), so the same binaries
// give the same digests.
//
// Usage:
//
//	build-images -bin-dir bin/release -out dist/images -version v0.1.0 \
//	  -revision <git sha> -created <RFC 3339 time of the commit>
//	build-images push -in dist/images -registry registry.example.com/fluxops -tag v0.1.0 [-plain-http] \
//	  [-chart dist/charts/flux-operator-0.1.0.tgz]
//	build-images chart -chart config/charts/flux-operator -in dist/images -out dist/charts -version v0.1.0 -created <time>
//	build-images rootfs -out /rootfs
//	build-images archive -bin-dir bin/release -out dist -version v0.1.0 -created <time> -files README.md
//
//	build-images overlay -in dist/images -base ../../config/default > dist/overlay/kustomization.yaml
//
// overlay prints a kustomization of -base that pins each image by the digest
// of its layout, for `make release` to build install.yaml from.
//
// push sends each layout to <registry>/flux-operator-<name>:<tag>, and the
// packaged chart to <registry>/flux-operator:<chart version>, with the
// credentials of REGISTRY_USERNAME and REGISTRY_PASSWORD when set, else of
// the Docker config (~/.docker/config.json, DOCKER_CONFIG).
//
// chart packages the Helm chart of a release: appVersion, version and the
// digests of the image layouts in values.yaml. rootfs writes the files every
// image holds besides its binary, for the Dockerfile. archive writes the
// CLI's release archives, dist/flux-operator_<version>_<os>_<arch>.tar.gz.
package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

var subcommands = map[string]func(args []string, stdout io.Writer) error{
	"archive": archiveMain,
	"chart":   chartMain,
	"overlay": overlayMain,
	"push":    pushMain,
	"rootfs":  rootFSMain,
}

// User is the user and group the images run as.
const User = 65532

var platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

func main() {
	if len(os.Args) > 1 {
		if sub, ok := subcommands[os.Args[1]]; ok {
			if err := sub(os.Args[2:], os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "build-images %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		}
	}
	var o options
	flag.StringVar(&o.binDir, "bin-dir", "bin/release", "Directory with <os>-<arch>/flux-operator-<name> binaries.")
	flag.StringVar(&o.out, "out", defaultLayouts, "Directory the OCI layouts are written to, one per binary.")
	flag.StringVar(&o.names, "names", defaultNames, "Comma-separated binaries (flux-operator-<name>).")
	flag.StringVar(&o.repository, "repository", defaultRepository, "Image repository prefix: <repository>-<name>.")
	flag.StringVar(&o.version, "version", "", "Release version (org.opencontainers.image.version and the tag).")
	flag.StringVar(&o.revision, "revision", "", "Source revision (org.opencontainers.image.revision).")
	flag.StringVar(&o.created, "created", "", "RFC 3339 creation time, usually the commit time, for every timestamp in the images.")
	flag.StringVar(&o.source, "source", "https://github.com/fluxops/flux-operator", "Source repository URL (org.opencontainers.image.source).")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "build-images:", err)
		os.Exit(1)
	}
}

type options struct {
	binDir, out, names, repository, version, revision, created, source string
}

func run(o options, stdout io.Writer) error {
	if o.version == "" || o.revision == "" || o.created == "" {
		return errors.New("-version, -revision and -created are required")
	}
	created, err := time.Parse(time.RFC3339, o.created)
	if err != nil {
		return fmt.Errorf("-created %q is not an RFC 3339 time: %w", o.created, err)
	}
	created = created.UTC()
	for _, name := range strings.Split(o.names, ",") {
		idx, err := imageIndex(o, name, created)
		if err != nil {
			return fmt.Errorf("flux-operator-%s: %w", name, err)
		}
		dir := filepath.Join(o.out, "flux-operator-"+name)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if _, err := layout.Write(dir, idx); err != nil {
			return fmt.Errorf("failed to write the OCI layout %s: %w", dir, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		if err := writeSBOM(o, name, created); err != nil {
			return fmt.Errorf("flux-operator-%s: %w", name, err)
		}
		if _, err := fmt.Fprintf(stdout, "%s-%s:%s@%s %s\n", o.repository, name, o.version, d, dir); err != nil {
			return err
		}
	}
	return nil
}

func imageIndex(o options, name string, created time.Time) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		bin := filepath.Join(o.binDir, p.OS+"-"+p.Architecture, "flux-operator-"+name)
		img, err := image(o, name, bin, p, created)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, nil
}

func image(o options, name, bin string, p v1.Platform, created time.Time) (v1.Image, error) {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("the %s/%s binary: %w (run make images, which builds it)", p.OS, p.Architecture, err)
	}
	if description[name] == "" {
		return nil, fmt.Errorf("no image description for flux-operator-%s: add it to description in tools/image", name)
	}
	layerTar, err := rootFS("flux-operator-"+name, binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "build-images flux-operator-" + name,
		Comment: "the binary, CA roots, passwd and group"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = p.OS, p.Architecture, v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", User, User),
		Entrypoint: []string{"/flux-operator-" + name},
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "flux-operator-" + name,
			"org.opencontainers.image.description": description[name],
			"org.opencontainers.image.source":      o.source,
			"org.opencontainers.image.revision":    o.revision,
			"org.opencontainers.image.version":     o.version,
			"org.opencontainers.image.created":     created.Format(time.RFC3339),
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// writeSBOM writes the CycloneDX SBOM of a binary's image, from the Go
// module graph recorded in the binary (the same for both platforms), to
// <out>/../sbom/flux-operator-<name>.cdx.json.
func writeSBOM(o options, name string, created time.Time) error {
	bin := filepath.Join(o.binDir, "linux-amd64", "flux-operator-"+name)
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("failed to read the module graph of %s: %w", bin, err)
	}
	type component struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		Version string `json:"version"`
		PURL    string `json:"purl,omitempty"`
	}
	components := []component{{Type: "library", Name: "stdlib", Version: info.GoVersion,
		PURL: "pkg:golang/stdlib@" + info.GoVersion}}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		components = append(components, component{Type: "library", Name: d.Path, Version: d.Version,
			PURL: "pkg:golang/" + d.Path + "@" + d.Version})
	}
	bom := map[string]any{
		"bomFormat":   "CycloneDX",
		"specVersion": "1.5",
		"version":     1,
		"metadata": map[string]any{
			"timestamp": created.Format(time.RFC3339),
			"component": component{Type: "container", Name: o.repository + "-" + name, Version: o.version,
				PURL: "pkg:golang/" + info.Main.Path + "@" + o.version},
			"properties": []map[string]string{{"name": "org.opencontainers.image.revision", "value": o.revision}},
		},
		"components": components,
	}
	data, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(filepath.Dir(filepath.Clean(o.out)), "sbom")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "flux-operator-"+name+".cdx.json"), append(data, '\n'), 0o644)
}

var description = map[string]string{
	"installer": "Installs, upgrades and removes Flux from a FluxInstance.",
	"reporter":  "Reports on the Flux installation in the FluxReport.",
	"exporter":  "Exports Prometheus metrics of the Flux installation.",
	"web":       "Serves the Flux status web UI.",
}

type file struct {
	name string
	mode int64
	data []byte
}

// baseFiles are the files of every image besides its binary: passwd and
// group entries for root and the non-root user, and the CA roots.
func baseFiles() ([]file, error) {
	var roots bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue // a distrust-after date cannot be expressed in a PEM bundle
		}
		if err := pem.Encode(&roots, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", User, User)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", User)
	return []file{
		{"etc/", 0o755, nil},
		{"etc/group", 0o644, []byte(group)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{"etc/ssl/", 0o755, nil},
		{"etc/ssl/certs/", 0o755, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, roots.Bytes()},
	}, nil
}

// rootFS is the image's only layer, as a tar with fixed owners, modes and
// times, in a fixed order.
func rootFS(binName string, binary []byte, created time.Time) ([]byte, error) {
	base, err := baseFiles()
	if err != nil {
		return nil, err
	}
	entries := append(base, file{binName, 0o755, binary})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: created, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rootFSMain writes the files every image holds besides its binary into a
// directory, for the Dockerfile to copy into its scratch image.
func rootFSMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rootfs", flag.ContinueOnError)
	out := fs.String("out", "", "Directory the files are written to.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	files, err := baseFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(*out, filepath.FromSlash(f.name))
		if strings.HasSuffix(f.name, "/") {
			err = os.MkdirAll(p, os.FileMode(f.mode))
		} else {
			err = os.WriteFile(p, f.data, os.FileMode(f.mode))
		}
		if err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(stdout, "%d files in %s\n", len(files), *out)
	return err
}

func pushMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	in := fs.String("in", defaultLayouts, "Directory of the OCI layouts written by build-images.")
	registry := fs.String("registry", "", "Registry and path the images are pushed under, e.g. registry.example.com/fluxops.")
	tag := fs.String("tag", "", "Tag of the pushed images.")
	plainHTTP := fs.Bool("plain-http", false, "Speak plain HTTP to the registry.")
	names := fs.String("names", defaultNames, "Comma-separated binaries (flux-operator-<name>); empty for none.")
	chart := fs.String("chart", "", "Packaged chart (dist/charts/flux-operator-<version>.tgz) pushed to <registry>/flux-operator:<chart version>.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *registry == "" || (*tag == "" && *names != "") {
		return errors.New("-registry and -tag are required")
	}
	var nameOpts []name.Option
	if *plainHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if u := os.Getenv("REGISTRY_USERNAME"); u != "" {
		auth = remote.WithAuth(&authn.Basic{Username: u, Password: os.Getenv("REGISTRY_PASSWORD")})
	}
	for _, n := range strings.Split(*names, ",") {
		if n == "" {
			continue
		}
		dir := filepath.Join(*in, "flux-operator-"+n)
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return fmt.Errorf("no image layout in %s: %w (run make images first)", dir, err)
		}
		ref, err := name.ParseReference(strings.TrimSuffix(*registry, "/")+"/flux-operator-"+n+":"+*tag, nameOpts...)
		if err != nil {
			return err
		}
		if err := remote.WriteIndex(ref, idx, auth); err != nil {
			return fmt.Errorf("failed to push %s: %w", ref, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s@%s\n", ref, d); err != nil {
			return err
		}
	}
	if *chart != "" {
		ref, err := pushChart(*chart, *registry, nameOpts, auth)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(stdout, ref); err != nil {
			return err
		}
	}
	return nil
}

func overlayMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("overlay", flag.ContinueOnError)
	var rel releaseImages
	rel.flags(fs)
	base := fs.String("base", "", "The kustomization the overlay builds on, relative to the overlay's directory.")
	from := fs.String("from", defaultRepository, "Image repository prefix the base names.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" {
		return errors.New("-base is required")
	}
	digests, err := rel.digests()
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by build-images overlay: %s with the images pinned by digest.\n", *base)
	fmt.Fprintf(&b, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\nimages:\n", *base)
	for _, n := range rel.nameList() {
		fmt.Fprintf(&b, "  - name: %s-%s\n    newName: %s-%s\n    digest: %s\n", *from, n, rel.repository, n, digests[n])
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// Defaults of the flags: where build-images writes the layouts, the
// release's image repository prefix, and the binaries (hack/binaries, which
// the Makefile passes).
const (
	defaultLayouts    = "dist/images"
	defaultRepository = "ghcr.io/fluxops/flux-operator"
	defaultNames      = "installer,reporter,exporter,web"
)

// releaseImages are the flags of the subcommands that read the OCI layouts
// build-images wrote: where they are, the repository prefix of the release
// and which binaries.
type releaseImages struct{ in, repository, names string }

func (r *releaseImages) flags(fs *flag.FlagSet) {
	fs.StringVar(&r.in, "in", defaultLayouts, "Directory of the OCI layouts written by build-images.")
	fs.StringVar(&r.repository, "repository", defaultRepository, "Image repository prefix of the release: <repository>-<name>.")
	fs.StringVar(&r.names, "names", defaultNames, "Comma-separated binaries (flux-operator-<name>).")
}

func (r *releaseImages) nameList() []string { return strings.Split(r.names, ",") }

// digests are the index digests of the binaries' layouts, by name.
func (r *releaseImages) digests() (map[string]string, error) {
	out := map[string]string{}
	for _, n := range r.nameList() {
		idx, err := layout.ImageIndexFromPath(filepath.Join(r.in, "flux-operator-"+n))
		if err != nil {
			return nil, fmt.Errorf("no image layout for flux-operator-%s: %w (run make images first)", n, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return nil, err
		}
		out[n] = d.String()
	}
	return out, nil
}
