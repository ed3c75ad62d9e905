//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// cliBinary is the CLI `make build` writes, bin/flux-operator.
func cliBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "flux-operator")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: run `make build` first (make test-e2e does)", err)
	}
	return bin
}

// runCommand runs bin with args against the e2e cluster (KUBECONFIG) and extra
// environment, and returns its stdout, stderr and exit code.
func runCommand(t *testing.T, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return stdout.String(), stderr.String(), 0
}

// asPlugin runs `kubectl flux-operator args...` as a user who installed
// the CLI as a kubectl plugin: bin/flux-operator linked as
// kubectl-flux_operator in a directory on the PATH.
func asPlugin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Symlink(cliBinary(t), filepath.Join(dir, "kubectl-flux_operator")))
	kubectlBin, err := testenv.Binary("kubectl")
	require.NoError(t, err)
	return runCommand(t, []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}, kubectlBin,
		append([]string{"flux-operator"}, args...)...)
}

// kustomization is the Kustomization of flux-system as the API server has
// it.
func kustomization(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(kustomizationGVK)
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: "flux-system", Name: name}, u))
	return u
}

// cliActions runs the built CLI's reconcile --wait, suspend and resume on
// the Kustomizations the real kustomize-controller reconciles.
func (p *pipeline) cliActions(t *testing.T) {
	bin := cliBinary(t)

	// A working Kustomization: the controller handles the request the CLI
	// made, and the CLI says it is Ready with the controller's message.
	start := time.Now()
	out, errOut, code := runCommand(t, nil, bin, "reconcile", "kustomization/demo-app", "-n", "flux-system", "--wait", "--timeout", "2m")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	t.Logf("reconcile --wait of demo-app took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	assert.Contains(t, out, "◎ waiting for Kustomization flux-system/demo-app to reconcile\n")
	assert.Contains(t, out, "✔ Kustomization flux-system/demo-app reconciled: Applied revision: refs/heads/main@sha1:"+p.head+"\n")
	u := kustomization(t, "demo-app")
	handled, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledReconcileAt")
	assert.Equal(t, u.GetAnnotations()[apiv1.ReconcileRequestAnnotation], handled, "kustomize-controller handled the CLI's request")

	// A broken one: exit code 1 and kustomize-controller's own reason.
	applyYAML(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: cli-broken
  namespace: flux-system
spec:
  interval: 10m
  path: ./does-not-exist
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "kustomization", "cli-broken", "--ignore-not-found")
	})
	start = time.Now()
	out, errOut, code = runCommand(t, nil, bin, "reconcile", "kustomization/cli-broken", "-n", "flux-system", "--wait", "--timeout", "2m")
	t.Logf("reconcile --wait of cli-broken took %s:\n%s%s", time.Since(start).Round(time.Millisecond), out, errOut)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "◎ waiting for Kustomization flux-system/cli-broken to reconcile\n")
	r, err := fluxReady(context.Background(), kustomizationGVK, "cli-broken")
	require.NoError(t, err)
	assert.Equal(t, "ArtifactFailed", r.reason, "kustomize-controller's reason for a missing path")
	assert.Contains(t, errOut, "Error: Kustomization flux-system/cli-broken failed: ArtifactFailed: kustomization path not found: ")
	assert.Contains(t, errOut, "does-not-exist")
	require.NoError(t, k8s.Delete(context.Background(), kustomization(t, "cli-broken")))

	// Suspend and resume, as a kubectl plugin: the object says so, and the
	// resume's reconcile --wait ends Ready.
	help, _, code := asPlugin(t, "--help")
	require.Equal(t, 0, code, help)
	assert.Contains(t, help, "reconcile", "kubectl flux-operator --help lists the commands")
	assert.NotContains(t, help, "kubectl-flux_operator", "the help names the command, not the plugin's file")
	out, errOut, code = asPlugin(t, "suspend", "kustomization/demo-app", "-n", "flux-system")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, "✔ Kustomization flux-system/demo-app suspended\n", out)
	suspended, _, _ := unstructured.NestedBool(kustomization(t, "demo-app").Object, "spec", "suspend")
	assert.True(t, suspended, "spec.suspend after suspend")
	out, errOut, code = asPlugin(t, "resume", "kustomization/demo-app", "-n", "flux-system", "--wait", "--timeout", "2m")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "✔ Kustomization flux-system/demo-app reconciled: Applied revision: refs/heads/main@sha1:"+p.head+"\n")
	suspended, found, _ := unstructured.NestedBool(kustomization(t, "demo-app").Object, "spec", "suspend")
	assert.True(t, found, "resume writes spec.suspend: false")
	assert.False(t, suspended, "spec.suspend after resume")
}
