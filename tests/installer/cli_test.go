package installer_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fluxOperator runs the built CLI (bin/flux-operator, make build) against
// the test control plane and returns stdout, stderr and the exit code.
func fluxOperator(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "flux-operator")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: run `make build` first (make test does)", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// The CLI's build is the installer's: the same bytes for the same file, the
// same message for a version that matches no release.
func TestTheCLIBuildsWhatTheInstallerBuilds(t *testing.T) {
	sample := filepath.Join(testenv.RepoRoot(), "config", "samples", "fluxcd_v1_fluxinstance.yaml")
	want, err := exec.Command(installerBinary(t), "build", "-f", sample).Output()
	require.NoError(t, err)
	out, stderr, code := fluxOperator(t, "build", "instance", "-f", sample)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, string(want), out)
	assert.True(t, strings.HasPrefix(out, "# Revision: v2.9.5@sha256:"), "first line: %.80s", out)

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(mustRead(t, sample), `version: "2.x"`, `version: "3.x"`, 1)), 0o600))
	out, stderr, code = fluxOperator(t, "build", "instance", "-f", bad)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, `Error: build failed: spec.distribution.version "3.x" matches none of the available Flux releases`)

	typo := filepath.Join(t.TempDir(), "typo.yaml")
	require.NoError(t, os.WriteFile(typo, []byte(strings.Replace(mustRead(t, sample), "components:", "component:", 1)), 0o600))
	_, stderr, code = fluxOperator(t, "build", "instance", "-f", typo)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `is not a FluxInstance: error unmarshaling JSON: while decoding JSON: json: unknown field "component"`)

	_, stderr, code = fluxOperator(t, "build", "instance")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "Error: -f is required: the FluxInstance YAML file, or - for standard input")
}

const diffInstance = `apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata:
  name: flux
  namespace: flux-system
spec:
  distribution:
    version: "2.x"
    registry: ghcr.io/fluxcd
  components:
    - source-controller
    - kustomize-controller
    - notification-controller
  wait: false
`

// digests are the sha256 digests of builds, which change with the
// distribution tree.
var digests = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// diff instance, against what the real installer installed: nothing to do
// for the installed file; for a changed one, the created, changed (a patch
// and another manager's drift) and deleted objects, and the cluster left as
// it was.
func TestDiffShowsWhatTheInstallerWouldChange(t *testing.T) {
	ctx := context.Background()
	startInstaller(t)
	dir := t.TempDir()
	installed := filepath.Join(dir, "installed.yaml")
	require.NoError(t, os.WriteFile(installed, []byte(diffInstance), 0o600))
	fi, err := builder.ReadInstance(installed, nil, ns)
	require.NoError(t, err)
	createInstance(t, fi)
	waitInstanceReady(t)

	out, stderr, code := fluxOperator(t, "diff", "instance", "-f", installed)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Regexp(t, `^Revision v2\.9\.5@sha256:[0-9a-f]{64}: 0 to create, 0 to change, 0 to delete, \d+ unchanged\n$`, out)

	// Another field manager's change to source-controller is drift the
	// installer would undo.
	sc, err := deployment(t, "source-controller")
	require.NoError(t, err)
	patch := client.MergeFrom(sc.DeepCopy())
	sc.Spec.Template.Spec.Containers[0].Args = append(sc.Spec.Template.Spec.Containers[0].Args, "--log-level=debug")
	require.NoError(t, env.Client.Patch(ctx, sc, patch, client.FieldOwner("someone")))

	changed := filepath.Join(dir, "changed.yaml")
	require.NoError(t, os.WriteFile(changed, []byte(strings.Replace(diffInstance, "    - notification-controller\n",
		`    - helm-controller
  kustomize:
    patches:
      - target:
          kind: Deployment
          name: kustomize-controller
        patch: |
          - op: add
            path: /spec/template/spec/containers/0/args/-
            value: --concurrent=20
`, 1)), 0o600))
	out, stderr, code = fluxOperator(t, "diff", "instance", "-f", changed)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	diffGolden(t, "diff-instance", out)

	// Nothing changed on the cluster.
	sc, err = deployment(t, "source-controller")
	require.NoError(t, err)
	assert.Contains(t, sc.Spec.Template.Spec.Containers[0].Args, "--log-level=debug")
	_, err = deployment(t, "notification-controller")
	assert.NoError(t, err, "the diff deleted notification-controller")
	_, err = deployment(t, "helm-controller")
	assert.Error(t, err, "the diff created helm-controller")
}

// diffGolden compares out with testdata/<name>.golden, build digests
// normalised; go test ./installer/ -run Diff -update rewrites it.
func diffGolden(t *testing.T, name, out string) {
	t.Helper()
	out = digests.ReplaceAllString(out, "sha256:<digest>")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./installer/ -run Diff -update to write it")
	assert.Equal(t, string(want), out, "%s (go test ./installer/ -run Diff -update rewrites it)", path)
}
