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

// TestRunStartsTheBinaries: `make run` against a user's cluster.
func TestRunStartsTheBinaries(t *testing.T) {
	testEnv.Test(t, features.New("make run with a KUBECONFIG").
		Assess("the four binaries start, serve the report, the web UI, metrics and health, hold their Leases and stop on Ctrl-C",
			step(runStartsTheBinaries)).
		Feature())
}

// runStartsTheBinaries runs `hack/run.sh` (what `make run` runs) against
// the e2e cluster and checks what a user would: the report API answers, the
// web UI shows it at the address printed, every binary serves metrics and
// health, each holds its leader Lease (but the exporter and the web UI,
// whose replicas all serve), and Ctrl-C stops them all and releases the
// Leases.
func runStartsTheBinaries(t *testing.T) {
	ctx := context.Background()
	root := testenv.RepoRoot()
	for _, b := range append(operatorComponents, "web") {
		if _, err := os.Stat(filepath.Join(root, "bin", "flux-operator-"+b)); err != nil {
			t.Fatalf("bin/flux-operator-%s is missing: run `make build` (make test-e2e does)", b)
		}
	}

	ports := map[string][2]string{ // metrics, health
		"installer": {"127.0.0.1:19080", "127.0.0.1:19081"},
		"reporter":  {"127.0.0.1:19180", "127.0.0.1:19181"},
		"exporter":  {"127.0.0.1:19280", "127.0.0.1:19281"},
		"web":       {runWebMetrics, runWebHealth},
	}
	cmd, lines, exited, output := startRun(t, kubeconfig,
		"INSTALLER_METRICS_ADDR="+ports["installer"][0], "INSTALLER_HEALTH_ADDR="+ports["installer"][1],
		"REPORTER_METRICS_ADDR="+ports["reporter"][0], "REPORTER_HEALTH_ADDR="+ports["reporter"][1],
		"EXPORTER_METRICS_ADDR="+ports["exporter"][0], "EXPORTER_HEALTH_ADDR="+ports["exporter"][1],
	)
	text := strings.Join(output, "\n")
	assert.Contains(t, text, ">> all four binaries are ready; the web UI is at http://"+runWebAddr+"/")
	assert.Contains(t, text, "Web UI:               http://"+runWebAddr+"/")
	// The UI shows the report: the distribution is not installed here.
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		if body := httpGet(t, "http://"+runWebAddr+"/"); !strings.Contains(body, `<dd id="distribution">Not Installed</dd>`) {
			return fmt.Errorf("the overview does not show the report yet")
		}
		return nil
	}))
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
		if name == "exporter" || name == "web" {
			continue // every replica serves: no Lease
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

	// Ctrl-C stops them all gracefully: run.sh exits 0 and the Leases are released.
	stopRun(t, cmd, lines, exited)
	_, _, err = get("http://" + runWebAddr + "/")
	assert.Error(t, err, "the web UI still answers after Ctrl-C")
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

// The web UI's addresses when the tests run hack/run.sh, away from those
// of a `make run` on the same machine.
const (
	runWebAddr    = "127.0.0.1:19390"
	runWebMetrics = "127.0.0.1:19380"
	runWebHealth  = "127.0.0.1:19381"
)

// startRun starts hack/run.sh against the cluster of kubeconfig and returns
// once it says it is running, with what it printed until then.
func startRun(t *testing.T, kubeconfig string, env ...string) (*exec.Cmd, chan string, chan error, []string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "run.sh"))
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUN_DIR="+t.TempDir(),
		"WEB_ADDR="+runWebAddr, "WEB_METRICS_ADDR="+runWebMetrics, "WEB_HEALTH_ADDR="+runWebHealth), env...)
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

// TestTheControlPlaneStopped runs last of this file (go test runs tests in
// file order): it uses the instance `make run` installed, and it ends by
// uninstalling Flux, which TestSecureMetrics, in the next file, needs; a
// cleanup uninstalls it when a step stops before. The control plane restarted by
// kwokctl can take minutes to run pods again, which no later test must wait
// for. It is the outage as a user makes it: kwokctl stops etcd and the API
// server for 60s, longer than the leader Leases, with the three binaries
// running against the instance `make run` installed.
func TestTheControlPlaneStopped(t *testing.T) {
	s := &controlPlaneStop{}
	testEnv.Test(t, features.New("the control plane stopped for 60s").
		Setup(step(s.start)).
		Assess("the control plane stopped: each binary says so, and the exporter turns unready, stays live and serves its last snapshot",
			step(s.stop)).
		Assess("the control plane started again after 60s: an object created then is served, and all are fresh again", step(s.restart)).
		Assess("the binaries kept running and said so once each way without repeating errors", step(s.rodeOut)).
		Assess("the installer uninstalls Flux, and no binary logs a reconcile error or a failed watch when stopped", step(s.uninstall)).
		Feature())
}

// controlPlaneStop is what the steps of TestTheControlPlaneStopped share.
type controlPlaneStop struct {
	installer, reporter, exporter *binary
	pids                          []int
	stopped, back                 time.Time
}

func (s *controlPlaneStop) all() []*binary { return []*binary{s.installer, s.reporter, s.exporter} }

func (s *controlPlaneStop) start(t *testing.T) {
	s.installer = startBinary(t, "installer", "127.0.0.1:19380", "127.0.0.1:19381")
	s.reporter = startBinary(t, "reporter", "127.0.0.1:19382", "127.0.0.1:19383")
	s.exporter = startProcess(t, &binary{name: "exporter", metrics: "127.0.0.1:19384", health: "127.0.0.1:19385",
		args: []string{"--stale-after", "10s"}})
	waitReady(t, 3*time.Minute)
	waitScrape(t, time.Minute, s.exporter.metrics, []string{"flux_report_ready 1", "flux_instance_info{"})
	waitLog(t, s.installer, acquiredLog)
	waitLog(t, s.reporter, acquiredLog)
	// restart creates it; it goes at the end of the feature, and so does
	// Flux when a step stopped before the uninstall (the binaries, stopped
	// by cleanups registered before this one, are still running).
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "gitrepository", "after-the-stop", "--ignore-not-found")
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "fluxinstance", "flux", "--ignore-not-found", "--timeout=3m")
	})
}

// stop: the exporter turns unready after --stale-after and stays live.
func (s *controlPlaneStop) stop(t *testing.T) {
	for _, b := range s.all() {
		s.pids = append(s.pids, b.pid())
	}
	require.NoError(t, kwokctl("stop", "cluster"))
	s.stopped = time.Now()
	for _, b := range s.all() {
		waitLog(t, b, lostLog)
	}
	waitStale(t, s.exporter)
	assertLive(t, s.exporter)
	waitScrape(t, time.Second, s.exporter.metrics, []string{"flux_report_ready 1", "flux_operator_api_server_connected 0"})
}

// restart: fresh, an object created after the restart is in a report asked
// for then, and in the exporter's series.
func (s *controlPlaneStop) restart(t *testing.T) {
	ctx := context.Background()
	holdFault(t, s.stopped, 60*time.Second, s.all()...)
	require.NoError(t, kwokctl("start", "cluster"))
	require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error {
		_, err := kubectl(ctx, "get", "--raw", "/readyz")
		return err
	}))
	s.back = time.Now()
	t.Logf("the API server answered again %s after the stop", s.back.Sub(s.stopped).Round(time.Second))

	applyYAML(t, gitRepository("flux-system", "after-the-stop"))
	waitServedAfterReports(t, 30*time.Second, "flux-system", s.exporter.metrics, []string{series("GitRepository", "flux-system", "after-the-stop")})
	t.Logf("served an object created after the restart %s after the API server was back", time.Since(s.back).Round(time.Millisecond))
	for _, b := range s.all() {
		waitScrape(t, 10*time.Second, b.metrics, []string{"flux_operator_api_server_connected 1"})
	}
	waitFresh(t, s.exporter)
}

func (s *controlPlaneStop) rodeOut(t *testing.T) {
	logs := map[string]string{}
	for _, b := range s.all() {
		logs[b.name] = b.output()
	}
	assertRodeOut(t, s.all(), s.pids, logs)
}

// uninstall: the installer works, it uninstalls Flux when asked. Stopped
// while the uninstall's reports and refreshes run, no binary logs an error
// for the work cut short, and none for the kinds the restarted API server
// served a few seconds after it was ready.
func (s *controlPlaneStop) uninstall(t *testing.T) {
	mustKubectl(t, "-n", "flux-system", "delete", "fluxinstance", "flux", "--timeout=3m")
	t.Logf("Flux uninstalled %s after the API server was back", time.Since(s.back).Round(time.Millisecond))
	_, err := deploymentOf(context.Background(), "source-controller")
	assert.True(t, apierrors.IsNotFound(err), "source-controller survived the uninstall: %v", err)
	for _, b := range s.all() {
		b.stop(syscall.SIGTERM)
		assert.Zero(t, b.count("Reconciler error"), "%s logged a reconcile error:\n%s", b.name, b.output())
		assert.Zero(t, b.count("Failed to watch"), "%s logged a failed watch:\n%s", b.name, b.output())
	}
}
