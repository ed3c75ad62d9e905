// Package cli_test runs the built flux-operator CLI (bin/flux-operator, make
// build) against the real test control plane holding a FluxInstance, a
// FluxReport and Flux objects of several kinds, and compares what it prints
// with golden files (ages normalised): go test ./cli/ -update rewrites them.
package cli_test

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
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const (
	runtimeNS = "flux-system"
	appsNS    = "apps"
	infraNS   = "infra"
)

var (
	env    *testenv.Env
	update = flag.Bool("update", false, "rewrite the golden files")
	// transitioned is when the fixture's conditions last changed.
	transitioned = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, func(e *testenv.Env) error {
		env = e
		return createFixture(context.Background())
	})
}

func createFixture(ctx context.Context) error {
	for _, ns := range []string{runtimeNS, appsNS, infraNS} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	ok := fixtures.Ready("True", "Succeeded", "stored artifact for revision 'main@sha1:0123456789abcdef0123456789abcdef01234567'")
	for _, o := range []struct {
		kind     fixtures.Kind
		ns, name string
		opts     []fixtures.Option
	}{
		{fixtures.GitRepository, infraNS, "fleet", []fixtures.Option{ok, fixtures.Artifact(2048)}},
		{fixtures.Kustomization, infraNS, "infra", []fixtures.Option{fixtures.Spec("fleet", "sourceRef", "name"),
			fixtures.Ready("True", "ReconciliationSucceeded", "Applied revision: main@sha1:0123456789abcdef0123456789abcdef01234567"),
			fixtures.Status("main@sha1:0123456789abcdef0123456789abcdef01234567", "lastAppliedRevision")}},
		{fixtures.Kustomization, appsNS, "app-frontend", []fixtures.Option{
			fixtures.Ready("False", "BuildFailed", "kustomize build failed: accumulating resources: open apps/frontend/missing.yaml: no such file\nsecond line"),
			fixtures.Status("main@sha1:fedcba9876543210fedcba9876543210fedcba98", "lastAttemptedRevision")}},
		{fixtures.Kustomization, appsNS, "app-backend", []fixtures.Option{
			fixtures.Ready("False", "DependencyNotReady", "dependency 'apps/app-frontend' is not ready")}},
		{fixtures.HelmRepository, appsNS, "charts", []fixtures.Option{ok}},
		{fixtures.HelmRelease, appsNS, "podinfo", []fixtures.Option{fixtures.Suspended(),
			fixtures.Ready("True", "InstallSucceeded", "Helm install succeeded for release apps/podinfo.v1 with chart podinfo@6.5.0"),
			fixtures.Status("6.5.0", "lastAttemptedRevision")}},
		{fixtures.Alert, appsNS, "slack", nil},
	} {
		if _, err := o.kind.Create(ctx, env.Client, o.ns, o.name, o.opts...); err != nil {
			return err
		}
	}
	fi := fixtures.InstalledInstance(runtimeNS, transitioned, 6342*time.Millisecond, 4)
	fi.Status.Components = []apiv1.ComponentImage{
		{Name: "kustomize-controller", Repository: "ghcr.io/fluxcd/kustomize-controller", Tag: "v1.9.5", Digest: "sha256:a3a955eb2bc4"},
		{Name: "source-controller", Repository: "ghcr.io/fluxcd/source-controller", Tag: "v1.9.5", Digest: "sha256:6f20d232d596"},
	}
	fi.Status.Inventory = &apiv1.ResourceInventory{Entries: []apiv1.ResourceRef{
		{ID: "flux-system_source-controller_apps_Deployment", Version: "v1"},
		{ID: "flux-system_kustomize-controller_apps_Deployment", Version: "v1"}}}
	if err := fixtures.CreateWithStatus(ctx, env.Client, fi); err != nil {
		return err
	}
	fr := fixtures.InstalledReport(runtimeNS, transitioned, 3,
		apiv1.FluxComponentStatus{Name: "kustomize-controller", Image: "ghcr.io/fluxcd/kustomize-controller:v1.9.5", Ready: true, Status: "Current Deployment is available. Replicas: 1"},
		apiv1.FluxComponentStatus{Name: "source-controller", Image: "ghcr.io/fluxcd/source-controller:v1.9.5", Ready: true, Status: "Current Deployment is available. Replicas: 1"},
	)
	fr.Spec.Operator = &apiv1.OperatorInfo{APIVersion: apiv1.GroupVersion.String(), Version: "v0.1.0", Platform: "linux/amd64"}
	for _, k := range []struct {
		kind                        fixtures.Kind
		running, failing, suspended int
		size                        string
	}{
		{fixtures.GitRepository, 1, 0, 0, "2.0 KiB"}, {fixtures.HelmRepository, 1, 0, 0, ""},
		{fixtures.Kustomization, 3, 1, 0, ""}, {fixtures.HelmRelease, 0, 0, 1, ""}, {fixtures.Alert, 1, 0, 0, ""},
	} {
		fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus, apiv1.FluxReconcilerStatus{
			APIVersion: k.kind.GVK.GroupVersion().String(), Kind: k.kind.GVK.Kind,
			Stats: apiv1.FluxReconcilerStats{Running: k.running, Failing: k.failing, Suspended: k.suspended, TotalSize: k.size}})
	}
	fr.Spec.ReconcilersStatus = append(fr.Spec.ReconcilersStatus, apiv1.FluxReconcilerStatus{
		APIVersion: apiv1.GroupVersion.String(), Kind: apiv1.FluxInstanceKind, Stats: apiv1.FluxReconcilerStats{Running: 1}})
	fr.Spec.SyncStatus = &apiv1.FluxSyncStatus{ID: "kustomization/flux-system", Path: "clusters/prod", Ready: true,
		Status: "Applied revision: refs/heads/main@sha1:0123456789ab", Source: "https://github.com/example/fleet.git"}
	return fixtures.CreateWithStatus(ctx, env.Client, fr)
}

// cli runs bin/flux-operator with args against the test control plane, as
// the admin unless kubeconfig is given, and returns stdout, stderr and the
// exit code.
func cli(t *testing.T, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, cliCommand(t, kubeconfig, nil, args...))
}

// cliCommand is the command cli runs, with the environment variables in
// extraEnv (NAME=value) and none of the user's that colour the output.
func cliCommand(t *testing.T, kubeconfig string, extraEnv []string, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "flux-operator")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: run `make build` first (make test does)", err)
	}
	if kubeconfig == "" {
		kubeconfig = env.Kubeconfig
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "FLUX_OPERATOR_COLOR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "KUBECONFIG="+kubeconfig), extraEnv...)
	return cmd
}

// runCLI runs cmd and returns its stdout, stderr and exit code.
func runCLI(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

// ages are what changes from run to run: how long ago something was, as
// kubectl prints it (5s, 3m2s, 338d), after a space or a parenthesis.
var (
	ages   = regexp.MustCompile(`(^|[\s(])\d+[ydhms](\d+[dhms])?\b`)
	spaces = regexp.MustCompile(` {2,}`)
)

// golden compares out with testdata/<name>.golden, ages normalised; so are
// the runs of spaces that align columns, whose widths follow the ages.
func golden(t *testing.T, name, out string) {
	t.Helper()
	out = ages.ReplaceAllString(out, "${1}<age>")
	if !strings.HasSuffix(name, "-json") && !strings.HasPrefix(name, "tree") {
		out = spaces.ReplaceAllString(out, "  ")
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cli/ -update to write it")
	assert.Equal(t, string(want), out, "%s (go test ./cli/ -update rewrites it)", path)
}

func TestGetOutputs(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"get-instance", []string{"get", "instance"}},
		{"get-report", []string{"get", "report"}},
		{"stats", []string{"stats"}},
		{"get-resources-all", []string{"get", "resources", "-A"}},
		{"get-resources-failing", []string{"get", "resources", "-A", "--failing"}},
		{"get-resources-kind-ns-wide", []string{"get", "resources", "kustomizations", "-n", appsNS, "-o", "wide"}},
		{"get-resources-name", []string{"get", "resources", "-A", "--name", "app-*"}},
		{"get-resources-json", []string{"get", "resources", "helmrelease", "-n", appsNS, "-o", "json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := cli(t, "", c.args...)
			require.Equal(t, 0, code, errOut)
			golden(t, c.name, out)
		})
	}
}

func TestExportReportIsTheReportAsKubectlHasIt(t *testing.T) {
	out, errOut, code := cli(t, "", "export", "report")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxReport\n")
	assert.Contains(t, out, "  sync:\n    id: kustomization/flux-system\n")
	assert.NotContains(t, out, "managedFields")
	js, _, code := cli(t, "", "export", "report", "-o", "json")
	require.Equal(t, 0, code)
	assert.Contains(t, js, `"kind": "FluxReport"`)
}

func TestVersionNamesTheClientAndTheOperator(t *testing.T) {
	out, _, code := cli(t, "", "version")
	require.Equal(t, 0, code)
	assert.Regexp(t, `^client: \S+ linux/amd64\noperator: v0.1.0 linux/amd64 \(fluxcd.controlplane.io/v1\)\nflux: v2.9.5 \(flux-operator\)\nkubernetes: v1.37.2 linux/amd64\n$`, out)
}

func TestBadInputAndMissingAccessSayWhatToDo(t *testing.T) {
	_, errOut, code := cli(t, "", "get", "resources", "deployments")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `"deployments" is not a Flux kind this cluster serves; the report lists: Alert, FluxInstance, GitRepository, HelmRelease, HelmRepository, Kustomization`)

	_, errOut, code = cli(t, "", "get", "resources", "--failing", "--ready")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--failing, --suspended and --ready exclude each other")

	_, errOut, code = cli(t, "", "get", "nothing")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "nothing"`)

	_, errOut, code = cli(t, "", "get", "report", "--operator-namespace", appsNS)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "there is no FluxReport in namespace apps yet: is flux-operator-reporter running there? (--operator-namespace")

	// A user bound to nothing: the API server's refusal, with what RBAC needs.
	kc, err := env.UserKubeconfig("nobody")
	require.NoError(t, err)
	_, errOut, code = cli(t, kc, "get", "report")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `fluxreports.fluxcd.controlplane.io "flux" is forbidden: User "nobody" cannot get resource "fluxreports"`)
	assert.Contains(t, errOut, "(RBAC: your user needs that verb on fluxreports.fluxcd.controlplane.io)")

	_, errOut, code = cli(t, filepath.Join(t.TempDir(), "missing"), "get", "report")
	assert.Equal(t, 1, code)
	assert.True(t, strings.Contains(errOut, "no cluster to talk to") || strings.Contains(errOut, "connection refused"), errOut)
}
