//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/generated/clientset/versioned"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// The fault suite (make test-faults): each TestFault* runs the reporter and
// the exporter as processes against the e2e cluster, injects one fault and
// checks what a user sees: the report, the series, the log lines and the
// readiness. Each works in its own runtime namespace with its own Leases,
// and the Flux CRDs it installs are removed afterwards, so the tests after
// it find the cluster as they expect it.

// faultNamespace makes a runtime namespace for one fault test, with the
// operator's and Flux's CRDs installed; the Flux CRDs (and so every Flux
// object) go at the end of the test.
func faultNamespace(t *testing.T, name string) string {
	t.Helper()
	mustKubectl(t, "apply", "--server-side", "--field-manager", "e2e-faults", "-f", testenv.OperatorCRDDir())
	mustKubectl(t, "apply", "--server-side", "--field-manager", "e2e-faults", "-f", testenv.FluxCRDDir())
	waitEstablished(t, "crd", "--all")
	mustKubectl(t, "create", "namespace", name)
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "delete", "namespace", name, "--wait=false")
		out, err := kubectl(context.Background(), "delete", "--ignore-not-found", "--timeout=2m", "-f", testenv.FluxCRDDir())
		if err != nil {
			t.Errorf("failed to remove the Flux CRDs: %v\n%s", err, out)
		}
	})
	return name
}

func applyYAML(t *testing.T, manifest string) {
	t.Helper()
	mustKubectl(t, "apply", "-f", writeFile(t, "manifest.yaml", manifest))
}

func gitRepository(ns, name string) string {
	return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %s, namespace: %s}
spec: {interval: 1m, url: https://github.com/stefanprodan/podinfo}
`, name, ns)
}

func helmRelease(ns, name string) string {
	return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: %s, namespace: %s}
spec: {interval: 1m, chartRef: {kind: OCIRepository, name: podinfo}}
`, name, ns)
}

// waitScrape waits until the series served on addr contain every one of
// want and none of absent.
func waitScrape(t *testing.T, timeout time.Duration, addr string, want []string, absent ...string) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(context.Context) error {
		return serves(addr, want, absent...)
	}))
}

// waitEstablished waits up to a minute for the CRDs kubectl names to be
// Established. kubectl wait fails at once, rather than waiting, on a CRD so
// new that the API server has not written its status yet: it is asked
// again until it waits.
func waitEstablished(t *testing.T, crds ...string) {
	t.Helper()
	args := append([]string{"wait", "--for", "condition=Established", "--timeout", "60s"}, crds...)
	require.NoError(t, testenv.Eventually(context.Background(), time.Minute, func(ctx context.Context) error {
		out, err := kubectl(ctx, args...)
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}))
}

// serves scrapes addr and says which line of want it lacks, or which line
// of absent it has.
func serves(addr string, want []string, absent ...string) error {
	body, err := scrape(addr)
	if err != nil {
		return err
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			return fmt.Errorf("%s serves no %s", addr, w)
		}
	}
	for _, a := range absent {
		if strings.Contains(body, a) {
			return fmt.Errorf("%s still serves %s", addr, a)
		}
	}
	return nil
}

// reportedTotal is the number of objects of kind the FluxReport of ns
// counts, -1 when it names no such kind.
func reportedTotal(ctx context.Context, ns, kind string) (int, error) {
	var fr apiv1.FluxReport
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: apiv1.DefaultName}, &fr); err != nil {
		return 0, err
	}
	if s, ok := reconcilerStats(&fr, kind); ok {
		return s.Running + s.Suspended, nil
	}
	return -1, nil
}

// reconcilerStats is the report's count of kind, and whether it counts it.
func reconcilerStats(fr *apiv1.FluxReport, kind string) (apiv1.FluxReconcilerStats, bool) {
	for _, r := range fr.Spec.ReconcilersStatus {
		if r.Kind == kind {
			return r.Stats, true
		}
	}
	return apiv1.FluxReconcilerStats{}, false
}

func waitReportedTotal(t *testing.T, timeout time.Duration, ns, kind string, want int) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(ctx context.Context) error {
		n, err := reportedTotal(ctx, ns, kind)
		if err == nil && n != want {
			err = fmt.Errorf("the FluxReport counts %d %s, want %d", n, kind, want)
		}
		return err
	}))
}

// series is how the start of the object's flux_resource_info reads (no
// label allowlist).
func series(kind, ns, name string) string {
	return fmt.Sprintf(`flux_resource_info{exported_namespace=%q,kind=%q,name=%q,`, ns, kind, name)
}

// faultBinaries starts a reporter and an exporter working in ns through
// kubeconfig ("" for the cluster's own), on ports from base.
func faultBinaries(t *testing.T, ns, kc string, base int, exporterArgs ...string) (reporter, exporter *binary) {
	t.Helper()
	env := []string{"RUNTIME_NAMESPACE=" + ns}
	reporter = startProcess(t, &binary{name: "reporter", kubeconfig: kc, env: env,
		metrics: fmt.Sprintf("127.0.0.1:%d", base), health: fmt.Sprintf("127.0.0.1:%d", base+1)})
	exporter = startProcess(t, &binary{name: "exporter", kubeconfig: kc, env: env, args: exporterArgs,
		metrics: fmt.Sprintf("127.0.0.1:%d", base+2), health: fmt.Sprintf("127.0.0.1:%d", base+3)})
	return reporter, exporter
}

const (
	lostLog = "lost the API server: serving what the cache holds"
	backLog = "the API server is back: lists and watches resume"
)

// TestFaultAnAPIServerOutage: the API server unreachable for 60 s, longer
// than the leader Leases, for the three binaries, while Flux objects change
// behind their backs.
func TestFaultAnAPIServerOutage(t *testing.T) {
	o := &outageFault{}
	testEnv.Test(t, features.New("the API server unreachable for 60s").
		Setup(step(o.start)).
		Assess("the binaries serve the cluster and the installer holds its Lease", step(o.serving)).
		Assess("the API server cut: each binary says so and reports it disconnected", step(o.cutOff)).
		Assess("the exporter turns unready once the outage is older than --stale-after, stays live and serves its last snapshot",
			step(o.stale)).
		Assess("the API server back after 60s: the object created meanwhile is reported and served, and all are fresh again soon after",
			step(o.back)).
		Assess("the binaries kept running, said so once each way without repeating errors, and the leaders took their Leases back",
			step(o.rodeOut)).
		Feature())
}

// outageFault is what the steps of TestFaultAnAPIServerOutage share: the
// binaries reach the API server through a partition the test cuts.
type outageFault struct {
	ns                            string
	p                             *partition
	reporter, exporter, installer *binary
	pids                          []int
	cut, restored                 time.Time
	// during is what each binary logged until the API server came back.
	during map[string]string
}

func (o *outageFault) all() []*binary { return []*binary{o.reporter, o.exporter, o.installer} }

func (o *outageFault) start(t *testing.T) {
	o.ns = faultNamespace(t, "faults-outage")
	applyYAML(t, gitRepository(o.ns, "before"))
	o.p = startPartition(t)
	o.reporter, o.exporter = faultBinaries(t, o.ns, o.p.Kubeconfig, 19420, "--stale-after", "10s")
	o.installer = startProcess(t, &binary{name: "installer", kubeconfig: o.p.Kubeconfig, env: []string{"RUNTIME_NAMESPACE=" + o.ns},
		metrics: "127.0.0.1:19424", health: "127.0.0.1:19425"})
}

func (o *outageFault) serving(t *testing.T) {
	waitScrape(t, time.Minute, o.exporter.metrics, []string{series("GitRepository", o.ns, "before")})
	waitLog(t, o.installer, acquiredLog)
	for _, b := range o.all() {
		o.pids = append(o.pids, b.pid())
	}
}

func (o *outageFault) cutOff(t *testing.T) {
	o.p.cut()
	o.cut = time.Now()
	applyYAML(t, gitRepository(o.ns, "during"))
	for _, b := range o.all() {
		waitLog(t, b, lostLog)
		waitScrape(t, 10*time.Second, b.metrics, []string{"flux_operator_api_server_connected 0"})
	}
}

// stale: the exporter turns unready once the outage is older than
// --stale-after, still live and still serving its last snapshot.
func (o *outageFault) stale(t *testing.T) {
	waitStale(t, o.exporter)
	waitLog(t, o.exporter, "not ready: the metrics are stale: the API server has been unreachable for")
	code, body, err := get("http://" + o.exporter.health + "/readyz?verbose")
	require.NoError(t, err)
	t.Logf("exporter /readyz during the outage: %d\n%s", code, body)
	assertLive(t, o.exporter)
	waitScrape(t, time.Second, o.exporter.metrics, []string{series("GitRepository", o.ns, "before"), "flux_report_ready 1"},
		series("GitRepository", o.ns, "during"))
}

// back: fresh again, the object created during the outage is reported and
// served, the gauges say connected, the exporter is ready.
func (o *outageFault) back(t *testing.T) {
	holdFault(t, o.cut, 60*time.Second, o.all()...)
	o.during = map[string]string{}
	for _, b := range o.all() {
		o.during[b.name] = b.output()
	}
	o.p.restore(t)
	o.restored = time.Now()

	waitReportedTotal(t, 20*time.Second, o.ns, "GitRepository", 2)
	waitScrape(t, 20*time.Second, o.exporter.metrics, []string{series("GitRepository", o.ns, "during"), "flux_operator_api_server_connected 1"})
	fresh := time.Since(o.restored)
	waitFresh(t, o.exporter)
	waitScrape(t, 10*time.Second, o.reporter.metrics, []string{"flux_operator_api_server_connected 1"})
	waitScrape(t, 10*time.Second, o.installer.metrics, []string{"flux_operator_api_server_connected 1"})
	t.Logf("served fresh series %s after the API server came back, from an outage of %s",
		fresh.Round(time.Millisecond), o.restored.Sub(o.cut).Round(time.Second))
	waitLog(t, o.exporter, "the metrics are fresh again: ready")
}

func (o *outageFault) rodeOut(t *testing.T) {
	assertRodeOut(t, o.all(), o.pids, o.during)
	assert.Equal(t, 1, o.exporter.count("not ready: the metrics are stale"), "the exporter says once why it is not ready")
	for _, b := range []*binary{o.reporter, o.installer} {
		assert.Equal(t, 2, b.count(acquiredLog), "the %s takes its Lease back after the outage", b.name)
	}
}

// waitLog waits until b has logged a line with msg (the output reaches the
// test through a pipe, a moment after the process wrote it).
func waitLog(t *testing.T, b *binary, msg string) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		if b.count(msg) == 0 {
			return fmt.Errorf("%s did not log %q", b.name, msg)
		}
		return nil
	}))
}

// waitStale waits until the exporter's /readyz fails on its api-server
// check, as it does once an outage is older than --stale-after.
func waitStale(t *testing.T, exporter *binary) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		code, body, err := get("http://" + exporter.health + "/readyz?verbose")
		if err == nil && (code == http.StatusOK || !strings.Contains(body, "[-]api-server failed")) {
			err = fmt.Errorf("/readyz %d: %s", code, body)
		}
		return err
	}))
}

// waitFresh waits up to 10s until the exporter's /readyz passes again.
func waitFresh(t *testing.T, exporter *binary) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), 10*time.Second, func(context.Context) error {
		code, body, err := get("http://" + exporter.health + "/readyz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/readyz %d: %s", code, body)
		}
		return err
	}))
}

// assertLive checks that the exporter's /healthz passes while it is stale:
// a liveness probe must not restart it.
func assertLive(t *testing.T, exporter *binary) {
	t.Helper()
	code, _, err := get("http://" + exporter.health + "/healthz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "the exporter stays live: a liveness probe must not restart it")
}

// errorLines counts the log lines at error level (console encoding).
func errorLines(logs string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "\tERROR\t") || strings.HasPrefix(l, "E1") || strings.HasPrefix(l, "E0") {
			n++
		}
	}
	return n
}

// TestFaultAFluxCRDDeleted: Flux uninstalled kind by kind, as deleting a CRD
// does, and installed again.
func TestFaultAFluxCRDDeleted(t *testing.T) {
	c := &crdFault{}
	testEnv.Test(t, features.New("a Flux CRD deleted and created again").
		Setup(step(c.start)).
		Assess("the HelmRelease is reported and served", step(c.served)).
		Assess("the CRD deleted: the kind leaves the report at once, and the series", step(c.deleteCRD)).
		Assess("for 20s after, no binary logs an error or a failed watch, and the report is complete", step(c.quiet)).
		Assess("the CRD created again: the kind comes back in the report and the series", step(c.createCRD)).
		Feature())
}

const helmReleaseCRD = "helmreleases.helm.toolkit.fluxcd.io"

// crdFault is what the steps of TestFaultAFluxCRDDeleted share.
type crdFault struct {
	ns                 string
	reporter, exporter *binary
}

func (c *crdFault) start(t *testing.T) {
	c.ns = faultNamespace(t, "faults-crd")
	applyYAML(t, helmRelease(c.ns, "app"))
	c.reporter, c.exporter = faultBinaries(t, c.ns, "", 19440)
}

func (c *crdFault) served(t *testing.T) {
	waitScrape(t, time.Minute, c.exporter.metrics, []string{series("HelmRelease", c.ns, "app")})
	waitReportedTotal(t, 10*time.Second, c.ns, "HelmRelease", 1)
}

// deleteCRD: the reporter reports at once on a deleted Flux CRD, not at its
// next interval.
func (c *crdFault) deleteCRD(t *testing.T) {
	mustKubectl(t, "delete", "crd", helmReleaseCRD, "--timeout=1m")
	deleted := time.Now()
	waitReportedTotal(t, 20*time.Second, c.ns, "HelmRelease", -1)
	waitScrape(t, 20*time.Second, c.exporter.metrics, nil, `kind="HelmRelease"`)
	t.Logf("the kind left the report and the series %s after its CRD was deleted", time.Since(deleted).Round(time.Millisecond))
}

// quiet: a kind gone is not an error, not repeated, and not a failure of
// the first report after the deletion.
func (c *crdFault) quiet(t *testing.T) {
	from := map[*binary]int{c.reporter: len(c.reporter.output()), c.exporter: len(c.exporter.output())}
	assert.NoError(t, testenv.Consistently(context.Background(), 20*time.Second, func(context.Context) error {
		for _, b := range []*binary{c.reporter, c.exporter} {
			later := b.output()[from[b]:]
			switch {
			case errorLines(later) > 0:
				return fmt.Errorf("%s logged errors after the CRD was gone:\n%s", b.name, later)
			case strings.Contains(later, "Failed to watch"):
				return fmt.Errorf("%s logged a failed watch after the CRD was gone:\n%s", b.name, later)
			case !b.running():
				return fmt.Errorf("%s exited after the CRD was gone", b.name)
			}
		}
		return nil
	}))
	var fr apiv1.FluxReport
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: c.ns, Name: apiv1.DefaultName}, &fr))
	if cond := fr.GetReadyCondition(); assert.NotNil(t, cond) {
		assert.Equal(t, "True", string(cond.Status), cond.Message)
	}
}

func (c *crdFault) createCRD(t *testing.T) {
	mustKubectl(t, "apply", "--server-side", "--field-manager", "e2e-faults", "-f",
		testenv.FluxCRDDir()+"/helm.toolkit.fluxcd.io_helmreleases.yaml")
	waitEstablished(t, "crd/"+helmReleaseCRD)
	applyYAML(t, helmRelease(c.ns, "again"))
	// Picked up on the next report, asked for here as a user would.
	requestReport(t, c.ns)
	waitReportedTotal(t, 30*time.Second, c.ns, "HelmRelease", 1)
	waitScrape(t, 30*time.Second, c.exporter.metrics, []string{series("HelmRelease", c.ns, "again")}, series("HelmRelease", c.ns, "app"))
}

const acquiredLog = "Successfully acquired lease"

// leaderOf waits until one of the pair has taken its Lease and returns it
// and the other.
func leaderOf(t *testing.T, pair [2]*binary) (leader, standby *binary) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		for i, b := range pair {
			if b.running() && b.count(acquiredLog) > 0 {
				leader, standby = b, pair[1-i]
				return nil
			}
		}
		return fmt.Errorf("no %s took the Lease", pair[0].name)
	}))
	return leader, standby
}

// holder is the holder identity of a Lease.
func holder(t *testing.T, ns, name string) string {
	t.Helper()
	out := mustKubectl(t, "-n", ns, "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity}")
	return strings.TrimSpace(out)
}

// fluxSeries are the Flux series of a scrape (resource and report), sorted
// as served.
func fluxSeries(t *testing.T, addr string) string {
	t.Helper()
	body, err := scrape(addr)
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "flux_resource_") || strings.HasPrefix(l, "flux_report_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func sameSeries(t *testing.T, a, b *binary) {
	t.Helper()
	var x, y string
	// The two replicas refresh on the same report a moment apart.
	_ = testenv.Eventually(context.Background(), 10*time.Second, func(context.Context) error {
		if x, y = fluxSeries(t, a.metrics), fluxSeries(t, b.metrics); x != y || x == "" {
			return fmt.Errorf("the two exporters serve different series")
		}
		return nil
	})
	if x != y {
		xs, ys := strings.Split(x, "\n"), strings.Split(y, "\n")
		var diff []string
		for _, l := range xs {
			if !slices.Contains(ys, l) {
				diff = append(diff, "- "+l)
			}
		}
		for _, l := range ys {
			if !slices.Contains(xs, l) {
				diff = append(diff, "+ "+l)
			}
		}
		t.Errorf("the exporter replicas serve different series (%d and %d lines):\n%s", len(xs), len(ys), strings.Join(diff, "\n"))
	}
}

// TestFaultTheLeaderKilled: two replicas of every binary, as config/ha
// runs them; the leaders of the reporter and the installer are killed.
func TestFaultTheLeaderKilled(t *testing.T) {
	l := &leaderFault{}
	testEnv.Test(t, features.New("two replicas of every binary, the leader killed").
		Setup(step(l.start)).
		Assess("both exporters serve the same series, and one reporter and one installer lead", step(l.oneLeads)).
		Assess("the leaders killed (SIGKILL): the standbys take their Leases", step(l.killLeaders)).
		Assess("the new leader reports: an object created now is counted and served by both exporters", step(l.newLeaderReports)).
		Assess("a reporter stopped with SIGTERM releases its Lease, which a restarted replica takes at once", step(l.released)).
		Feature())
}

// leaderFault is what the steps of TestFaultTheLeaderKilled share.
type leaderFault struct {
	ns                               string
	reporters, installers, exporters [2]*binary
	rLeader, rStandby                *binary
	iLeader, iStandby                *binary
	// before is the holder of each Lease before its leader was killed.
	before map[string]string
}

func (l *leaderFault) start(t *testing.T) {
	l.ns = faultNamespace(t, "faults-replicas")
	applyYAML(t, gitRepository(l.ns, "one"))
	env := []string{"RUNTIME_NAMESPACE=" + l.ns}
	replica := func(name string, port int) *binary {
		return startProcess(t, &binary{name: name, env: env,
			metrics: fmt.Sprintf("127.0.0.1:%d", port), health: fmt.Sprintf("127.0.0.1:%d", port+1)})
	}
	l.reporters = [2]*binary{replica("reporter", 19460), replica("reporter", 19462)}
	l.installers = [2]*binary{replica("installer", 19464), replica("installer", 19466)}
	l.exporters = [2]*binary{replica("exporter", 19468), replica("exporter", 19470)}
}

func (l *leaderFault) oneLeads(t *testing.T) {
	for _, e := range l.exporters {
		waitScrape(t, time.Minute, e.metrics, []string{series("GitRepository", l.ns, "one")})
	}
	sameSeries(t, l.exporters[0], l.exporters[1])

	l.rLeader, l.rStandby = leaderOf(t, l.reporters)
	l.iLeader, l.iStandby = leaderOf(t, l.installers)
	assert.Zero(t, l.rStandby.count(acquiredLog), "one reporter leads at a time")
	assert.Zero(t, l.iStandby.count(acquiredLog), "one installer leads at a time")
	l.before = map[string]string{"reporter": holder(t, l.ns, "flux-operator-reporter"), "installer": holder(t, l.ns, "flux-operator-installer")}
}

// killLeaders: SIGKILL releases no Lease, the standby waits out the lease
// duration.
func (l *leaderFault) killLeaders(t *testing.T) {
	l.rLeader.stop(syscall.SIGKILL)
	l.iLeader.stop(syscall.SIGKILL)
	killed := time.Now()
	for _, b := range []*binary{l.rStandby, l.iStandby} {
		require.NoError(t, testenv.Eventually(context.Background(), 45*time.Second, func(context.Context) error {
			if b.count(acquiredLog) == 0 {
				return fmt.Errorf("the standby %s did not take the Lease", b.name)
			}
			return nil
		}))
		t.Logf("the standby %s took the Lease %s after the leader was killed", b.name, time.Since(killed).Round(100*time.Millisecond))
		assert.NotEqual(t, l.before[b.name], holder(t, l.ns, "flux-operator-"+b.name), "the %s Lease changed hands", b.name)
	}
}

func (l *leaderFault) newLeaderReports(t *testing.T) {
	applyYAML(t, gitRepository(l.ns, "two"))
	requestReport(t, l.ns)
	waitReportedTotal(t, 30*time.Second, l.ns, "GitRepository", 2)
	for _, e := range l.exporters {
		waitScrape(t, 30*time.Second, e.metrics, []string{series("GitRepository", l.ns, "two")})
	}
	sameSeries(t, l.exporters[0], l.exporters[1])
}

// released: the leader stopped with SIGTERM releases the Lease and a
// restarted replica takes it at once.
func (l *leaderFault) released(t *testing.T) {
	l.rLeader.start(t)
	l.rStandby.stop(syscall.SIGTERM)
	stopped := time.Now()
	assert.Empty(t, holder(t, l.ns, "flux-operator-reporter"), "a reporter stopped with SIGTERM releases its Lease")
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		if l.rLeader.count(acquiredLog) < 2 { // its first process logged it once
			return fmt.Errorf("the restarted reporter did not take the released Lease")
		}
		return nil
	}))
	t.Logf("a restarted reporter took the released Lease %s after the leader stopped", time.Since(stopped).Round(100*time.Millisecond))
}

// readyOf is the Ready condition of a report, or nil.
func readyOf(fr *apiv1.FluxReport) *metav1.Condition {
	for i := range fr.Status.Conditions {
		if fr.Status.Conditions[i].Type == apiv1.ReadyCondition {
			return &fr.Status.Conditions[i]
		}
	}
	return nil
}

// failingByKind is what a report says is failing, kind by kind.
func failingByKind(fr *apiv1.FluxReport) map[string]int {
	out := map[string]int{}
	for _, r := range fr.Spec.ReconcilersStatus {
		out[r.Kind] = r.Stats.Failing
	}
	return out
}

// waitReportedFailing waits for a complete report counting n failing of kind.
func waitReportedFailing(t *testing.T, ns, kind string, n int) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(ctx context.Context) error {
		var fr apiv1.FluxReport
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: apiv1.DefaultName}, &fr); err != nil {
			return err
		}
		if c := readyOf(&fr); c == nil || c.ObservedGeneration != fr.Generation || failingByKind(&fr)[kind] != n {
			return fmt.Errorf("no complete report with %d failing %s yet", n, kind)
		}
		return nil
	}))
}

// servedFailing is what the exporter's report gauges say is failing.
func servedFailing(t *testing.T, addr string) map[string]int {
	t.Helper()
	body, err := scrape(addr)
	require.NoError(t, err)
	out := map[string]int{}
	re := regexp.MustCompile(`^flux_report_reconcilers\{kind="([^"]+)",state="failing"\} (\d+)$`)
	for _, l := range strings.Split(body, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			out[m[1]] = n
		}
	}
	return out
}

// TestFaultKilledMidWrite: the reporter killed between the two writes of a
// report (its spec, then its status) and the exporter killed in the middle
// of a refresh, at 1,200 Flux objects, one of which keeps changing so that
// every report is new.
func TestFaultKilledMidWrite(t *testing.T) {
	m := &midWriteFault{}
	testEnv.Test(t, features.New("killed in the middle of a report write or a refresh").
		Setup(step(m.start)).
		Assess("the report of 1,200 objects is written and served", step(m.served)).
		Assess("the reporter killed between the spec and the status of a report: no half-written report is served and the next process completes it",
			step(m.killReporter)).
		Assess("the exporter killed as a refresh starts (SIGKILL, SIGTERM, SIGKILL): its successor serves the same series as the replica that stayed up",
			step(m.killExporter)).
		Feature())
}

const midWriteObjects = 1200

// midWriteFault is what the steps of TestFaultKilledMidWrite share.
type midWriteFault struct {
	ns                       string
	cs                       versioned.Interface
	reporter, steady, killed *binary
	// stopFlip stops the object that flips; flipped is closed once it has.
	stopFlip context.CancelFunc
	flipped  chan struct{}
	// half is signalled when the report's spec is newer than its status
	// (written, the status not yet), finished when a report is complete,
	// which complete then is.
	half, finished chan struct{}
	mu             sync.Mutex
	complete       *apiv1.FluxReport
}

func (m *midWriteFault) start(t *testing.T) {
	ctx := context.Background()
	m.ns = faultNamespace(t, "faults-kill")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	require.NoError(t, fixtures.Populate(ctx, cfg, bootstrap.NewScheme(), 0, midWriteObjects))
	// The bench-* namespaces stay, emptied with the CRDs at the end: the
	// next test's load goes into them again.

	// One GitRepository (obj-6, neither suspended nor failing in the load) flips between failing and ready, so each report differs
	// from the last and is written in two steps.
	flipCtx, stopFlip := context.WithCancel(ctx)
	m.stopFlip, m.flipped = stopFlip, make(chan struct{})
	go func() {
		defer close(m.flipped)
		for i := 0; flipCtx.Err() == nil; i++ {
			status := []string{"True", "False"}[i%2]
			patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":%q,"reason":"Flip","message":"flip %d",`+
				`"lastTransitionTime":%q}]}}`, status, i, time.Now().UTC().Format(time.RFC3339))
			if out, err := kubectl(flipCtx, "-n", "bench-6", "patch", "gitrepository", "obj-6", "--subresource", "status",
				"--type", "merge", "-p", patch); err != nil && flipCtx.Err() == nil {
				t.Errorf("failed to flip obj-6: %v\n%s", err, out)
				return
			}
			// The pause between two flips, the pace of the load: not a wait
			// for anything.
			time.Sleep(200 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stopFlip(); <-m.flipped })

	// A short Lease, so that a killed reporter's successor need not wait 15s.
	lease := []string{"--reporting-interval=1s", "--leader-election-lease-duration=3s",
		"--leader-election-renew-deadline=2s", "--leader-election-retry-period=500ms"}
	env := []string{"RUNTIME_NAMESPACE=" + m.ns}
	m.reporter = startProcess(t, &binary{name: "reporter", env: env, args: lease,
		metrics: "127.0.0.1:19480", health: "127.0.0.1:19481"})
	m.steady = startProcess(t, &binary{name: "exporter", env: env, metrics: "127.0.0.1:19482", health: "127.0.0.1:19483"})
	m.killed = startProcess(t, &binary{name: "exporter", env: env, metrics: "127.0.0.1:19484", health: "127.0.0.1:19485"})

	// Watch the report: half is signalled when its spec is newer than its
	// status (written, the status not yet), complete keeps the last report
	// whose status is of its spec.
	m.cs, err = versioned.NewForConfig(cfg)
	require.NoError(t, err)
	w, err := m.cs.FluxcdV1().FluxReports(m.ns).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	m.half, m.finished = make(chan struct{}, 1), make(chan struct{}, 1)
	go func() {
		for ev := range w.ResultChan() {
			fr, ok := ev.Object.(*apiv1.FluxReport)
			if !ok {
				continue
			}
			c := readyOf(fr)
			if c == nil {
				continue
			}
			if c.ObservedGeneration != fr.Generation {
				select {
				case m.half <- struct{}{}:
				default:
				}
				continue
			}
			m.mu.Lock()
			m.complete = fr.DeepCopy()
			m.mu.Unlock()
			select {
			case m.finished <- struct{}{}:
			default:
			}
		}
	}()
}

// lastComplete is what the last complete report says is failing.
func (m *midWriteFault) lastComplete() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.complete == nil {
		return nil
	}
	return failingByKind(m.complete)
}

func (m *midWriteFault) served(t *testing.T) {
	waitScrape(t, time.Minute, m.steady.metrics, []string{`flux_report_reconcilers{kind="GitRepository",state="running"}`})
}

// killReporter: the reporter, killed the moment its spec is written and its
// status not yet.
func (m *midWriteFault) killReporter(t *testing.T) {
	ctx := context.Background()
	hits, differed := 0, 0
	for attempt := 0; attempt < 40 && hits < 3; attempt++ {
		select {
		case <-m.half:
		case <-time.After(15 * time.Second):
			t.Fatal("no report was written in 15s")
		}
		m.reporter.stop(syscall.SIGKILL)
		fr, err := m.cs.FluxcdV1().FluxReports(m.ns).Get(ctx, apiv1.DefaultName, metav1.GetOptions{})
		require.NoError(t, err)
		if c := readyOf(fr); c == nil || c.ObservedGeneration == fr.Generation {
			m.reporter.start(t) // the status made it: not this time
			continue
		}
		hits++
		// What is served is the last complete report, not the new spec
		// paired with the old status: once the exporter has caught up with
		// that report, it keeps serving it for a second, time enough to
		// take up the half-written one.
		if !assert.ObjectsAreEqual(m.lastComplete(), failingByKind(fr)) {
			differed++
		}
		// The last complete report as the watch saw it at each check: a
		// status write the killed process had already sent can still land
		// (the API server completes a request whose client died), and the
		// report it completes is then the one to serve.
		servesWant := func(context.Context) error {
			want := m.lastComplete()
			if got := servedFailing(t, m.steady.metrics); !assert.ObjectsAreEqual(want, got) {
				return fmt.Errorf("the exporter serves %v failing, the last complete report says %v", got, want)
			}
			return nil
		}
		if assert.NoError(t, testenv.Eventually(ctx, 10*time.Second, servesWant), "the exporter serves the last complete report") {
			assert.NoError(t, testenv.Consistently(ctx, time.Second, servesWant), "the exporter serves the last complete report")
		}
		// Such a late status write means the report was not left
		// half-written: not a hit.
		if fr, err := m.cs.FluxcdV1().FluxReports(m.ns).Get(ctx, apiv1.DefaultName, metav1.GetOptions{}); err == nil {
			if c := readyOf(fr); c != nil && c.ObservedGeneration == fr.Generation {
				hits--
				t.Log("the killed reporter's status write landed after the kill: not counted")
			}
		}
		// The next process finishes the job.
		m.reporter.start(t)
		require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
			fr, err := m.cs.FluxcdV1().FluxReports(m.ns).Get(ctx, apiv1.DefaultName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if c := readyOf(fr); c == nil || c.ObservedGeneration != fr.Generation || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("the report is not complete: %+v", c)
			}
			return nil
		}))
	}
	t.Logf("killed the reporter between the spec and the status of a report %d times (%d times with a spec that differed from the served report)",
		hits, differed)
	assert.Equal(t, 3, hits, "the reporter was killed between its two writes 3 times")
}

// killExporter: the exporter, killed (SIGKILL, then SIGTERM) as a refresh
// starts: its successor serves exactly what the replica that stayed up
// serves. The flipping object is left ready first: how long a flapping
// object has been not ready is each exporter's own memory
// (docs/metrics.md), which a new process starts afresh.
func (m *midWriteFault) killExporter(t *testing.T) {
	m.stopFlip()
	<-m.flipped
	mustKubectl(t, "-n", "bench-6", "patch", "gitrepository", "obj-6", "--subresource", "status", "--type", "merge", "-p",
		fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"steady","lastTransitionTime":%q}]}}`,
			time.Now().UTC().Format(time.RFC3339)))
	waitReportedFailing(t, m.ns, "GitRepository", 0)
	select {
	case <-m.finished: // drop what was finished before
	default:
	}
	for i, sig := range []os.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL} {
		select {
		case <-m.finished:
		case <-time.After(15 * time.Second):
			t.Fatal("no report was finished in 15s")
		}
		m.killed.stop(sig)
		m.killed.start(t)
		sameSeries(t, m.steady, m.killed)
		t.Logf("exporter %s %d: its successor serves the same series", sig, i+1)
	}
	body, err := scrape(m.killed.metrics)
	require.NoError(t, err)
	assert.Equal(t, midWriteObjects, strings.Count(body, "\nflux_resource_info{"), "every object has its series")
}

// TestFaultAMergeStorm: 1,000 status updates per second for 60s over 12,000
// Flux objects, as a cluster-wide Flux upgrade or an outage of a Git host
// causes.
func TestFaultAMergeStorm(t *testing.T) {
	s := &stormFault{}
	testEnv.Test(t, features.New("a merge storm at 12,000 objects").
		Setup(step(s.start)).
		Assess("the exporter serves a series for each of the 12,000 objects", step(s.served)).
		Assess("1,000 status updates a second for 60s are all written", step(s.storm)).
		Assess("the report and the series say what the objects say within one report interval of the storm's last write",
			step(s.converged)).
		Assess("the reporter and the exporter stayed within their memory limits and kept running", step(s.withinLimits)).
		Feature())
}

// The memory limits of config/ and of the chart.
const (
	reporterLimitMiB = 512
	exporterLimitMiB = 1024
)

// cpuSeconds is the user and system CPU time of a process.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// servedNotReady counts the exporter's flux_resource_info series with
// ready="False", kind by kind, and all the series.
func servedNotReady(t *testing.T, addr string) (map[string]int, int) {
	t.Helper()
	body, err := scrape(addr)
	require.NoError(t, err)
	out, all := map[string]int{}, 0
	re := regexp.MustCompile(`^flux_resource_info\{.*kind="([^"]+)".*ready="False"`)
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "flux_resource_info{") {
			continue
		}
		all++
		if m := re.FindStringSubmatch(l); m != nil {
			out[m[1]]++
		}
	}
	return out, all
}

const (
	stormObjects  = 12000
	stormDuration = 60 * time.Second
	stormInterval = 30 * time.Second // the reporter's
)

// stormSuspended says whether the load made object i suspended.
func stormSuspended(i int) bool { return i%20 == 0 }

// stormFault is what the steps of TestFaultAMergeStorm share.
type stormFault struct {
	ns                 string
	reporter, exporter *binary
	// rate is the updates a second asked for; what the cluster takes is
	// logged.
	rate   int
	update func(ctx context.Context, i int, status, reason string) (int64, error)
	via    string
	// deliveredRevision is, kind by kind, how far the API server's watch
	// has delivered the writes.
	deliveredRevision []func() int64

	// mu guards failing (what is failing: as the load was made, 1 in 10
	// and none suspended, then as the storm leaves it) and lastWritten
	// (the revision of the last write, kind by kind).
	mu          sync.Mutex
	failing     []bool
	lastWritten []int64
	stormEnd    time.Time
	cpuBefore   map[string]float64

	// Peak memory, sampled through the storm and the convergence.
	peakMu       sync.Mutex
	peak         map[string]float64
	stopSampling context.CancelFunc
	sampleCtx    context.Context
}

func (s *stormFault) start(t *testing.T) {
	ctx := context.Background()
	s.ns = faultNamespace(t, "faults-storm")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	s.rate = 1000
	if v := os.Getenv("FAULTS_STORM_RATE"); v != "" {
		s.rate, err = strconv.Atoi(v)
		require.NoError(t, err, "FAULTS_STORM_RATE")
	}
	start := time.Now()
	require.NoError(t, fixtures.Populate(ctx, cfg, bootstrap.NewScheme(), 0, stormObjects))
	t.Logf("created %d Flux objects in %s", stormObjects, time.Since(start).Round(time.Second))
	// The bench-* namespaces stay, emptied with the CRDs at the end: the
	// next test's load goes into them again.
	s.failing = make([]bool, stormObjects)
	for i := range s.failing {
		s.failing[i] = !stormSuspended(i) && i%10 == 1
	}

	env := []string{"RUNTIME_NAMESPACE=" + s.ns}
	s.reporter = startProcess(t, &binary{name: "reporter", env: env, args: []string{"--reporting-interval=" + stormInterval.String()},
		metrics: "127.0.0.1:19490", health: "127.0.0.1:19491"})
	s.exporter = startProcess(t, &binary{name: "exporter", env: env, metrics: "127.0.0.1:19492", health: "127.0.0.1:19493"})

	// The storm flips objects that are not suspended between failing and
	// ready. The updates go into etcd (etcdStatusWriter says why) unless
	// FAULTS_STORM_VIA=api sends them to the API server as status merge
	// patches.
	s.update, s.via = stormWriter(ctx, t, cfg, stormObjects)
	logAPIServerOnFailure(t)
	// How far the API server's watches lag behind the writes, kind by kind:
	// each kind has its own watch cache, and they fall behind unevenly.
	kinds := len(fixtures.BenchKinds)
	s.deliveredRevision = make([]func() int64, kinds)
	for k, kind := range fixtures.BenchKinds {
		m, err := k8s.RESTMapper().RESTMapping(kind.GVK.GroupKind(), kind.GVK.Version)
		require.NoError(t, err)
		s.deliveredRevision[k] = watchedRevision(ctx, t, cfg, m.Resource)
	}
	s.lastWritten = make([]int64, kinds)
	s.peak = map[string]float64{}
	s.sampleCtx, s.stopSampling = context.WithCancel(ctx)
	t.Cleanup(s.stopSampling)
}

func (s *stormFault) served(t *testing.T) {
	require.NoError(t, testenv.Eventually(context.Background(), 2*time.Minute, func(context.Context) error {
		if _, all := servedNotReady(t, s.exporter.metrics); all != stormObjects {
			return fmt.Errorf("the exporter serves %d resource series, want %d", all, stormObjects)
		}
		return nil
	}))
}

// storm: rate updates a second, by 64 workers, each flipping an object that
// is not suspended between failing and ready.
func (s *stormFault) storm(t *testing.T) {
	ctx := context.Background()
	go func() {
		for s.sampleCtx.Err() == nil {
			s.peakMu.Lock()
			for _, b := range []*binary{s.reporter, s.exporter} {
				s.peak[b.name] = max(s.peak[b.name], testenv.PidStatusMiB(b.pid(), "VmRSS"))
			}
			s.peakMu.Unlock()
			// The sampling period: not a wait for anything.
			time.Sleep(200 * time.Millisecond)
		}
	}()

	kinds := len(fixtures.BenchKinds)
	var sent, failed atomic.Int64
	work := make(chan int, 64)
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s.mu.Lock()
				fail := !s.failing[i]
				s.failing[i] = fail
				s.mu.Unlock()
				status, reason := "True", "Succeeded"
				if fail {
					status, reason = "False", "StormFailed"
				}
				rev, err := s.update(ctx, i, status, reason)
				if err != nil {
					failed.Add(1)
					s.mu.Lock()
					s.failing[i] = !fail // not written
					s.mu.Unlock()
					continue
				}
				sent.Add(1)
				s.mu.Lock()
				s.lastWritten[i%kinds] = max(s.lastWritten[i%kinds], rev)
				s.mu.Unlock()
			}
		}()
	}
	// Objects are picked so that no two updates of one object are in flight
	// at once: a stride through the load.
	stormStart := time.Now()
	s.cpuBefore = map[string]float64{"reporter": cpuSeconds(s.reporter.pid()), "exporter": cpuSeconds(s.exporter.pid())}
	// Paced by the clock, not by a ticker, which drops ticks while the
	// workers are busy: what falls behind is caught up.
	next, queued := 1, 0
	for elapsed := time.Duration(0); elapsed < stormDuration; elapsed = time.Since(stormStart) {
		for due := int(elapsed.Seconds() * float64(s.rate)); queued < due; queued++ {
			for stormSuspended(next % stormObjects) {
				next += 7
			}
			work <- next % stormObjects
			next += 7
		}
		// The pacer's tick: not a wait for anything.
		time.Sleep(time.Millisecond)
	}
	close(work)
	wg.Wait()
	stormTime := time.Since(stormStart)
	s.stormEnd = time.Now()
	require.Zero(t, failed.Load(), "status updates failed during the storm")
	t.Logf("storm: %d status updates in %s (%.0f/s, %s)", sent.Load(), stormTime.Round(time.Second), float64(sent.Load())/stormTime.Seconds(), s.via)
}

// converged: the first report to start after the storm's last write was
// delivered starts within one report interval of it, and it and the series
// say what the objects say.
func (s *stormFault) converged(t *testing.T) {
	ctx := context.Background()
	// undelivered is the first kind whose last write the API server's
	// watch has not delivered yet, or "".
	undelivered := func() string {
		for k, kind := range fixtures.BenchKinds {
			if s.deliveredRevision[k]() < s.lastWritten[k] {
				return kind.GVK.Kind
			}
		}
		return ""
	}
	behind := undelivered() != ""
	require.NoError(t, testenv.Eventually(ctx, 3*stormInterval, func(context.Context) error {
		if k := undelivered(); k != "" {
			return fmt.Errorf("the API server's watch has not delivered the storm's last %s write", k)
		}
		return nil
	}))
	// The binaries cannot see a write before the API server delivers it:
	// convergence counts from then.
	delivered := s.stormEnd
	if behind {
		delivered = time.Now()
		t.Logf("the API server's watches delivered the storm's last write %s after the storm ended", delivered.Sub(s.stormEnd).Round(10*time.Millisecond))
	} else {
		t.Logf("the API server's watches were not behind the writes when the storm ended")
	}

	want := map[string]int{}
	for i, f := range s.failing {
		if f {
			want[fixtures.BenchKinds[i%len(fixtures.BenchKinds)].GVK.Kind]++
		}
	}
	var fr apiv1.FluxReport
	require.NoError(t, testenv.Eventually(ctx, stormInterval+15*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: apiv1.DefaultName}, &fr); err != nil {
			return err
		}
		got := failingByKind(&fr)
		for k, n := range want {
			if got[k] != n {
				return fmt.Errorf("the report counts %d failing %s, want %d", got[k], k, n)
			}
		}
		served, all := servedNotReady(t, s.exporter.metrics)
		if all != stormObjects {
			return fmt.Errorf("the exporter serves %d resource series, want %d", all, stormObjects)
		}
		for k, n := range want {
			if served[k] != n {
				return fmt.Errorf("the exporter serves %d not-ready %s, want %d", served[k], k, n)
			}
		}
		reported := servedFailing(t, s.exporter.metrics)
		for k, n := range want {
			if reported[k] != n {
				return fmt.Errorf("flux_report_reconcilers says %d failing %s, want %d", reported[k], k, n)
			}
		}
		return nil
	}))
	t.Logf("the report and the series were right %s after the storm ended, %s after its last write was delivered",
		time.Since(s.stormEnd).Round(time.Second), time.Since(delivered).Round(time.Second))
	// The Ready condition says when the report was written (to the second)
	// and how long it took.
	ready := fr.GetReadyCondition()
	require.NotNil(t, ready)
	var took time.Duration
	if m := regexp.MustCompile(`^Reporting finished in (\S+)`).FindStringSubmatch(ready.Message); m != nil {
		took, _ = time.ParseDuration(m[1])
	}
	require.NotZero(t, took, "the report's Ready message gives its duration: %q", ready.Message)
	started := ready.LastTransitionTime.Add(-took).Sub(delivered)
	t.Logf("that report started %s after the last write was delivered and took %s", started.Round(100*time.Millisecond), took)
	assert.LessOrEqual(t, started, stormInterval+time.Second, "the report that converged started within one report interval of the storm's last event")
	for _, b := range []*binary{s.reporter, s.exporter} {
		t.Logf("%s used %.1f CPU seconds from the storm's start to convergence", b.name, cpuSeconds(b.pid())-s.cpuBefore[b.name])
	}
}

func (s *stormFault) withinLimits(t *testing.T) {
	s.stopSampling()
	s.peakMu.Lock()
	defer s.peakMu.Unlock()
	for _, b := range []*binary{s.reporter, s.exporter} {
		s.peak[b.name] = max(s.peak[b.name], testenv.PidStatusMiB(b.pid(), "VmHWM"))
	}
	t.Logf("peak RSS: reporter %.0f MiB (limit %d Mi), exporter %.0f MiB (limit %d Mi)",
		s.peak["reporter"], reporterLimitMiB, s.peak["exporter"], exporterLimitMiB)
	assert.Less(t, s.peak["reporter"], float64(reporterLimitMiB), "the reporter stays within its memory limit")
	assert.Less(t, s.peak["exporter"], float64(exporterLimitMiB), "the exporter stays within its memory limit")
	for _, b := range []*binary{s.reporter, s.exporter} {
		assert.True(t, b.running(), "%s exited during the storm", b.name)
	}
}

// stormWriter returns what the storm writes a Ready condition with, and
// where it goes: etcd or the API server (FAULTS_STORM_VIA).
// The function returns the object's new resourceVersion.
func stormWriter(ctx context.Context, t *testing.T, cfg *rest.Config, objects int) (func(ctx context.Context, i int, status, reason string) (int64, error), string) {
	t.Helper()
	switch via := os.Getenv("FAULTS_STORM_VIA"); via {
	case "", "etcd":
		w, err := newEtcdStatusWriter(ctx, k8s.RESTMapper(), objects)
		require.NoError(t, err)
		t.Cleanup(w.Close)
		return w.setReady, "into etcd"
	case "api":
		scfg := rest.CopyConfig(cfg)
		scfg.QPS, scfg.Burst = 5000, 10000
		c, err := client.New(scfg, client.Options{Scheme: bootstrap.NewScheme()})
		require.NoError(t, err)
		return func(ctx context.Context, i int, status, reason string) (int64, error) {
			o := &unstructured.Unstructured{}
			o.SetGroupVersionKind(fixtures.BenchKinds[i%len(fixtures.BenchKinds)].GVK)
			o.SetNamespace(fmt.Sprintf("bench-%d", i%fixtures.BenchNamespaces))
			o.SetName(fmt.Sprintf("obj-%d", i))
			patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":%q,"reason":%q,"message":"storm",`+
				`"lastTransitionTime":%q,"observedGeneration":1}]}}`, status, reason, time.Now().UTC().Format(time.RFC3339))
			if err := c.Status().Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				return 0, err
			}
			return strconv.ParseInt(o.GetResourceVersion(), 10, 64)
		}, "status patches to the API server"
	default:
		t.Fatalf("FAULTS_STORM_VIA=%q: want etcd or api", via)
		return nil, ""
	}
}
