package images

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// dockerStage is what a Dockerfile stage sets in the image config.
type dockerStage struct {
	from       string
	user, dir  string
	env        []string
	labels     map[string]string
	entrypoint []string
	copies     []string
}

// parseDockerfile reads the stages of a Dockerfile: the instructions that end
// up in an image's config, and its COPY lines.
func parseDockerfile(t *testing.T, data string) map[string]*dockerStage {
	t.Helper()
	stages := map[string]*dockerStage{}
	var cur *dockerStage
	data = strings.ReplaceAll(data, "\\\n", " ")
	pair := regexp.MustCompile(`([A-Za-z0-9_.-]+)="([^"]*)"`)
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--platform") {
				f = f[1:]
			}
			cur = &dockerStage{from: f[0], labels: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stages[f[2]] = cur
			}
		case "USER":
			cur.user = rest
		case "WORKDIR":
			cur.dir = rest
		case "ENV":
			cur.env = append(cur.env, strings.Fields(rest)...)
		case "LABEL":
			for _, m := range pair.FindAllStringSubmatch(rest, -1) {
				cur.labels[m[1]] = m[2]
			}
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(rest), &cur.entrypoint), "ENTRYPOINT in exec form: %s", rest)
		case "COPY":
			cur.copies = append(cur.copies, rest)
		}
	}
	return stages
}

// The Dockerfile builds the images make images builds: for each target, the
// same user, entrypoint, working directory, environment and labels (the
// build arguments standing for the release's version, revision and time),
// and the same root files, which it takes from build-images rootfs.
func TestTheDockerfileBuildsTheSameImages(t *testing.T) {
	dir := imagesDir(t)
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	stages := parseDockerfile(t, string(data))

	for _, b := range binaries {
		t.Run(b, func(t *testing.T) {
			target := stages[b]
			require.NotNil(t, target, "a Dockerfile target named %s", b)
			base := stages[target.from]
			require.NotNil(t, base, "target %s builds on a stage of the Dockerfile", b)
			require.Equal(t, "scratch", base.from, "no base image: the root is built from scratch")

			idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-"+b))
			require.NoError(t, err)
			m, err := idx.IndexManifest()
			require.NoError(t, err)
			img, err := idx.Image(m.Manifests[0].Digest)
			require.NoError(t, err)
			cf, err := img.ConfigFile()
			require.NoError(t, err)
			c := cf.Config

			assert.Equal(t, c.User, base.user)
			assert.Equal(t, c.WorkingDir, base.dir)
			assert.Equal(t, c.Env, append(base.env, target.env...))
			assert.Equal(t, c.Entrypoint, target.entrypoint)
			args := strings.NewReplacer("${VERSION}", c.Labels["org.opencontainers.image.version"],
				"${REVISION}", c.Labels["org.opencontainers.image.revision"],
				"${CREATED}", c.Labels["org.opencontainers.image.created"])
			labels := map[string]string{}
			for _, s := range []*dockerStage{base, target} {
				for k, v := range s.labels {
					labels[k] = args.Replace(v)
				}
			}
			assert.Equal(t, c.Labels, labels)
			assert.Equal(t, []string{"--from=build /out/flux-operator-" + b + " /flux-operator-" + b}, target.copies)
			assert.Equal(t, []string{"--from=build /rootfs/ /"}, base.copies)
		})
	}

	// The root files the Dockerfile copies are the files of the images' layer.
	assert.Contains(t, string(data), "go run . rootfs -out /rootfs")
	out := t.TempDir()
	o, err := exec.Command(filepath.Join(root, "bin", "build-images"), "rootfs", "-out", out).CombinedOutput()
	require.NoError(t, err, string(o))
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "flux-operator-reporter"))
	require.NoError(t, err)
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	img, err := idx.Image(m.Manifests[0].Digest)
	require.NoError(t, err)
	layer := layerFiles(t, img)
	n := 0
	for name, want := range layer {
		if strings.HasSuffix(name, "/") || name == "flux-operator-reporter" {
			continue
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err, "build-images rootfs writes %s", name)
		assert.Equal(t, string(want), string(got), name)
		n++
	}
	assert.Equal(t, 3, n, "passwd, group and the CA roots")
}
