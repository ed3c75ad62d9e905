package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// Media types of a Helm chart stored in an OCI registry, as `helm push`
// writes it and `helm pull` reads it.
const (
	helmConfigMediaType types.MediaType = "application/vnd.cncf.helm.config.v1+json"
	helmChartMediaType  types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// chartVersion is the chart's SemVer 2 version for a release version: v1.2.3
// gives 1.2.3; a version that is not SemVer (a `git describe` of an untagged
// commit, such as 8d3bd92-dirty) gives 0.0.0-dev.g8d3bd92-dirty.
func chartVersion(version string) string {
	if v, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err == nil && v.Metadata() == "" {
		return v.String()
	}
	clean := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, version)
	return "0.0.0-dev.g" + strings.Trim(clean, ".")
}

// chartMain packages the Helm chart for a release: Chart.yaml gets the
// release's version and appVersion, values.yaml the digest of every image
// layout, and the archive is written with fixed owners, modes and times so
// the same inputs give the same bytes. It is packaged by hand rather than
// with the Helm SDK (chartutil.Save) because the SDK stamps every file with
// the time of packaging, so two builds of one commit would differ and the
// digest in dist/checksums.txt could not be reproduced; the SDK also pulls
// in most of Helm for a tar.gz of a directory.
func chartMain(args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("chart", flag.ContinueOnError)
	var rel releaseImages
	rel.flags(fset)
	dir := fset.String("chart", "config/charts/flux-operator", "Directory of the chart.")
	out := fset.String("out", "dist/charts", "Directory the packaged chart is written to.")
	version := fset.String("version", "", "Release version: the chart's appVersion; its version is the SemVer form of it.")
	created := fset.String("created", "", "RFC 3339 time of every file in the archive, usually the commit time.")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if *version == "" || *created == "" {
		return errors.New("-version and -created are required")
	}
	mtime, err := time.Parse(time.RFC3339, *created)
	if err != nil {
		return fmt.Errorf("-created %q is not an RFC 3339 time: %w", *created, err)
	}
	digests, err := rel.digests()
	if err != nil {
		return err
	}
	meta, files, err := chartFiles(*dir, chartVersion(*version), *version, rel.repository, digests)
	if err != nil {
		return err
	}
	data, err := chartArchive(meta.Name, files, mtime.UTC())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	file := filepath.Join(*out, meta.Name+"-"+meta.Version+".tgz")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s %s appVersion %s\n", file, meta.Version, *version)
	return err
}

type chartMeta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// chartFiles reads the chart's files (path relative to the chart, in
// lexical order) with Chart.yaml and values.yaml rewritten for the release.
// Both are edited as text so their comments stay; each edit must hit
// exactly one line, and the result is parsed back to prove it says what it
// should.
func chartFiles(dir, version, appVersion, repository string, digests map[string]string) (chartMeta, map[string][]byte, error) {
	ignore, err := helmIgnore(dir)
	if err != nil {
		return chartMeta{}, nil, err
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, pattern := range ignore {
			if ok, _ := filepath.Match(pattern, d.Name()); ok {
				return nil
			}
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		return chartMeta{}, nil, fmt.Errorf("failed to read the chart: %w", err)
	}
	chartYAML, err := replaceLine(files["Chart.yaml"], "version: ", "version: "+version)
	if err == nil {
		chartYAML, err = replaceLine(chartYAML, "appVersion: ", fmt.Sprintf("appVersion: %q", appVersion))
	}
	if err != nil {
		return chartMeta{}, nil, fmt.Errorf("the chart's Chart.yaml: %w", err)
	}
	var digestBlock strings.Builder
	digestBlock.WriteString("  digest:")
	for _, n := range slices.Sorted(maps.Keys(digests)) {
		fmt.Fprintf(&digestBlock, "\n    %s: %q", n, digests[n])
	}
	values, err := replaceLine(files["values.yaml"], "  digest: ", digestBlock.String())
	if err == nil {
		values, err = replaceLine(values, "  repository: ", fmt.Sprintf("  repository: %s", repository))
	}
	if err != nil {
		return chartMeta{}, nil, fmt.Errorf("values.yaml: %w", err)
	}
	files["Chart.yaml"], files["values.yaml"] = chartYAML, values

	var meta struct {
		chartMeta
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(chartYAML, &meta); err != nil {
		return chartMeta{}, nil, fmt.Errorf("the rewritten Chart.yaml does not parse: %w", err)
	}
	var vals struct {
		Image struct {
			Repository string            `json:"repository"`
			Digest     map[string]string `json:"digest"`
		} `json:"image"`
	}
	if err := yaml.Unmarshal(values, &vals); err != nil {
		return chartMeta{}, nil, fmt.Errorf("the rewritten values.yaml does not parse: %w", err)
	}
	if meta.Version != version || meta.AppVersion != appVersion || vals.Image.Repository != repository ||
		fmt.Sprint(vals.Image.Digest) != fmt.Sprint(digests) {
		return chartMeta{}, nil, fmt.Errorf("the rewritten chart says version %q, appVersion %q, repository %q, digests %v",
			meta.Version, meta.AppVersion, vals.Image.Repository, vals.Image.Digest)
	}
	return meta.chartMeta, files, nil
}

// helmIgnore reads the patterns of the chart's .helmignore. Only file-name
// globs are supported (what the chart uses); anything else is refused rather
// than packaged wrongly.
func helmIgnore(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, ".helmignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.ContainsAny(l, "/!") {
			return nil, fmt.Errorf(".helmignore: %q: only file-name globs are supported", l)
		}
		if _, err := filepath.Match(l, ""); err != nil {
			return nil, fmt.Errorf(".helmignore: %q: %w", l, err)
		}
		patterns = append(patterns, l)
	}
	return patterns, nil
}

// replaceLine replaces the one line that starts with prefix.
func replaceLine(data []byte, prefix, line string) ([]byte, error) {
	lines := strings.Split(string(data), "\n")
	hit := -1
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			if hit >= 0 {
				return nil, fmt.Errorf("more than one line starts with %q", prefix)
			}
			hit = i
		}
	}
	if hit < 0 {
		return nil, fmt.Errorf("no line starts with %q", prefix)
	}
	lines[hit] = line
	return []byte(strings.Join(lines, "\n")), nil
}

// chartArchive is the chart as `helm package` lays it out: every file under
// <name>/, gzipped.
func chartArchive(chartName string, files map[string][]byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		h := &tar.Header{Name: path.Join(chartName, p), Mode: 0o644, Size: int64(len(files[p])), ModTime: mtime,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pushChart pushes a packaged chart to <repository>/<name>:<version> as
// `helm push` does: a manifest whose config is Chart.yaml in JSON and whose
// one layer is the archive.
func pushChart(file, registry string, nameOpts []name.Option, auth remote.Option) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("no packaged chart %s: %w (run make release first)", file, err)
	}
	chartYAML, mtime, err := readChartYAML(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	config, err := yaml.YAMLToJSON(chartYAML)
	if err != nil {
		return "", fmt.Errorf("%s: Chart.yaml: %w", file, err)
	}
	var meta struct {
		chartMeta
		Description string `json:"description"`
	}
	if err := json.Unmarshal(config, &meta); err != nil {
		return "", err
	}
	// OCI tags cannot hold "+"; Helm writes it as "_".
	ref, err := name.ParseReference(strings.TrimSuffix(registry, "/")+"/"+meta.Name+":"+strings.ReplaceAll(meta.Version, "+", "_"), nameOpts...)
	if err != nil {
		return "", err
	}
	configLayer, chartLayer := static.NewLayer(config, helmConfigMediaType), static.NewLayer(data, helmChartMediaType)
	for _, l := range []v1.Layer{configLayer, chartLayer} {
		if err := remote.WriteLayer(ref.Context(), l, auth); err != nil {
			return "", fmt.Errorf("failed to push the chart to %s: %w", ref, err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        descriptor(config, helmConfigMediaType),
		Layers:        []v1.Descriptor{descriptor(data, helmChartMediaType)},
		Annotations: map[string]string{
			"org.opencontainers.image.title":       meta.Name,
			"org.opencontainers.image.version":     meta.Version,
			"org.opencontainers.image.description": meta.Description,
			"org.opencontainers.image.created":     mtime.UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if err := remote.Put(ref, rawManifest{raw: raw, mediaType: types.OCIManifestSchema1}, auth); err != nil {
		return "", fmt.Errorf("failed to push the chart to %s: %w", ref, err)
	}
	d, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	return ref.String() + "@" + d.String(), nil
}

func descriptor(data []byte, mt types.MediaType) v1.Descriptor {
	d, size, _ := v1.SHA256(bytes.NewReader(data))
	return v1.Descriptor{MediaType: mt, Size: size, Digest: d}
}

type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// readChartYAML returns <name>/Chart.yaml of a packaged chart and its time.
func readChartYAML(archive []byte) ([]byte, time.Time, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("not a packaged chart: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("no Chart.yaml in the archive: %w", err)
		}
		if parts := strings.Split(h.Name, "/"); len(parts) == 2 && parts[1] == "Chart.yaml" {
			data, err := io.ReadAll(tr)
			return data, h.ModTime, err
		}
	}
}
