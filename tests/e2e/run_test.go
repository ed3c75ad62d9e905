//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// TestRunStartsTheThreeBinaries: `make run` against a user's cluster.
func TestRunStartsTheThreeBinaries(t *testing.T) {
	testEnv.Test(t, features.New("make run with a KUBECONFIG").
		Assess("the three binaries start, serve the report, metrics and health, hold their Leases and stop on Ctrl-C",
			step(runStartsTheThreeBinaries)).
		Feature())
}

// runStartsTheThreeBinaries runs `hack/run.sh` (what `make run` runs)
// against the e2e cluster and checks what a user would: the report API
// answers, every binary serves metrics and health, each holds its leader
// Lease (but the exporter, whose replicas all serve), and Ctrl-C stops them all and
// releases the Leases.
func runStartsTheThreeBinaries(t *testing.T) {
	ctx := context.Background()
	root := testenv.RepoRoot()
	for _, b := range operatorComponents {
		if _, err := os.Stat(filepath.Join(root, "bin", "flux-operator-"+b)); err != nil {
			t.Fatalf("bin/flux-operator-%s is missing: run `make build` (make test-e2e does)", b)
		}
	}

	ports := map[string][2]string{ // metrics, health
		"installer": {"127.0.0.1:19080", "127.0.0.1:19081"},
		"reporter":  {"127.0.0.1:19180", "127.0.0.1:19181"},
		"exporter":  {"127.0.0.1:19280", "127.0.0.1:19281"},
	}
	cmd, lines, exited, output := startRun(t, kubeconfig,
		"INSTALLER_METRICS_ADDR="+ports["installer"][0], "INSTALLER_HEALTH_ADDR="+ports["installer"][1],
		"REPORTER_METRICS_ADDR="+ports["reporter"][0], "REPORTER_HEALTH_ADDR="+ports["reporter"][1],
		"EXPORTER_METRICS_ADDR="+ports["exporter"][0], "EXPORTER_HEALTH_ADDR="+ports["exporter"][1],
	)
	text := strings.Join(output, "\n")
	assert.Contains(t, text, ">> all three binaries are ready")
	assert.Contains(t, text, "kubectl -n flux-system get fluxreport/flux -o yaml")
	assert.Contains(t, text, `reconcile.fluxcd.io/requestedAt="$(date +%s)"`)

	// The reporter has written the report, and run.sh showed it.
	out, err := kubectl(ctx, "-n", "flux-system", "get", "fluxreports")
	require.NoError(t, err)
	assert.Contains(t, out, "Reporting finished in")
	assert.Contains(t, text, "serverVersion: v1.37.2")
	assert.Contains(t, text, "status: Not Installed", "the e2e cluster has no Flux CRDs")

	// The exporter serves the report the reporter wrote, and run.sh showed it.
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		body := httpGet(t, "http://"+ports["exporter"][0]+"/metrics")
		for _, want := range []string{`flux_report_distribution_info{managed_by="",status="Not Installed",version=""} 1`,
			"flux_report_ready 1"} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("exporter metrics lack %q", want)
			}
		}
		if strings.Contains(body, "flux_report_timestamp_seconds 0\n") {
			return fmt.Errorf("flux_report_timestamp_seconds is 0 after a report")
		}
		return nil
	}))
	assert.Contains(t, text, ">> metrics of flux-operator-exporter")
	assert.Contains(t, text, "flux_report_timestamp_seconds ")

	for name, p := range ports {
		body := httpGet(t, "http://"+p[0]+"/metrics")
		assert.Contains(t, body, "go_goroutines", name)
		assert.Contains(t, body, "rest_client_requests_total", name)
		assert.Equal(t, "ok", httpGet(t, "http://"+p[1]+"/healthz"), name)
		assert.Equal(t, "ok", httpGet(t, "http://"+p[1]+"/readyz"), name)
		if name == "exporter" {
			continue // every exporter replica serves: no Lease
		}

		require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
			var lease coordinationv1.Lease
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux-operator-" + name}, &lease); err != nil {
				return err
			}
			if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
				return fmt.Errorf("lease flux-operator-%s has no holder", name)
			}
			return nil
		}), name)
	}

	// Ctrl-C stops all three gracefully: run.sh exits 0 and the Leases are released.
	stopRun(t, cmd, lines, exited)
	for _, name := range []string{"installer", "reporter"} {
		var lease coordinationv1.Lease
		require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux-operator-" + name}, &lease))
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		assert.Empty(t, holder, "flux-operator-%s released its Lease on shutdown", name)
	}
	var lease coordinationv1.Lease
	err = k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux-operator-exporter"}, &lease)
	assert.True(t, apierrors.IsNotFound(err), "the exporter takes no Lease: %v", err)
}

// startRun starts hack/run.sh against the cluster of kubeconfig and returns
// once it says it is running, with what it printed until then.
func startRun(t *testing.T, kubeconfig string, env ...string) (*exec.Cmd, chan string, chan error, []string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "run.sh"))
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUN_DIR="+t.TempDir()), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	lines := make(chan string, 256)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var output []string
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("run.sh exited before it was ready:\n%s", strings.Join(output, "\n"))
			}
			output = append(output, l)
			if l == ">> running" {
				return cmd, lines, exited, output
			}
		case <-deadline:
			t.Fatalf("run.sh was not ready in 3m:\n%s", strings.Join(output, "\n"))
		}
	}
}

// stopRun stops run.sh as Ctrl-C does and waits until it has exited.
func stopRun(t *testing.T, cmd *exec.Cmd, lines chan string, exited chan error) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	for range lines {
	}
	select {
	case err := <-exited:
		require.NoError(t, err, "run.sh exits cleanly on Ctrl-C")
	case <-time.After(time.Minute):
		t.Fatal("run.sh did not stop within a minute of SIGINT")
	}
}

// TestRunInstallsFluxWhenAsked: `make run` with INSTALL_FLUX=true, as on the
// local cluster, shows the product: the instance, its events, the report
// and the series.
func TestRunInstallsFluxWhenAsked(t *testing.T) {
	testEnv.Test(t, features.New("make run installs Flux").
		Assess("it prints the Ready instance, its events, the report with Flux installed by flux-operator, and the series",
			step(func(t *testing.T) {
				cmd, lines, exited, output := startRun(t, kubeconfig, "INSTALL_FLUX=true",
					"FLUX_OBJECTS="+filepath.Join(testenv.RepoRoot(), "hack", "run-flux-objects.yaml"),
					"INSTALLER_METRICS_ADDR=127.0.0.1:19680", "INSTALLER_HEALTH_ADDR=127.0.0.1:19681",
					"REPORTER_METRICS_ADDR=127.0.0.1:19780", "REPORTER_HEALTH_ADDR=127.0.0.1:19781",
					"EXPORTER_METRICS_ADDR=127.0.0.1:19880", "EXPORTER_HEALTH_ADDR=127.0.0.1:19881")
				text := strings.Join(output, "\n")
				t.Logf("make run printed:\n%s", text)
				for _, want := range []string{
					">> Flux is installed",
					"Reconciliation finished in", "v2.9.5@sha256:", // kubectl get fluxinstance -o wide
					"Progressing", "Installing revision v2.9.5@sha256:",
					"ReconciliationSucceeded", "Flux v2.9.5 installed",
					"source-controller", // the Deployments
					"gitrepository.source.toolkit.fluxcd.io/flux-system serverside-applied",
					"status: Installed", "managedBy: flux-operator", "version: v2.9.5",
					`flux_instance_info{`, `ready="True"`, `revision="v2.9.5@sha256:`,
					`flux_resource_info{`, `kind="GitRepository"`, `kind="Kustomization"`,
				} {
					assert.Contains(t, text, want)
				}
				stopRun(t, cmd, lines, exited)
			})).
		Feature())
}
