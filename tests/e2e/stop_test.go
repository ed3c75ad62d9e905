//go:build e2e

package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// TestTheControlPlaneStopped runs last (its file sorts after every other
// test file, and go test runs tests in file order): the control plane restarted by
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
	// restart creates it; it goes at the end of the feature.
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "gitrepository", "after-the-stop", "--ignore-not-found")
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
	holdFault(s.stopped, 60*time.Second)
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
