//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// The local pipeline's addresses in this test (hack/flux-controllers.sh
// defaults are for make run).
const (
	pipelineGit      = "127.0.0.1:19900"
	pipelineExporter = "127.0.0.1:19980"
)

// TestARealGitOpsPipeline runs the real source-controller and
// kustomize-controller beside the e2e cluster, as `make run` does, syncing
// the demo fleet from the local Git server, and checks what a user sees in
// the report, the series, a real Prometheus and the CLI when commits
// arrive, break and fix things.
func TestARealGitOpsPipeline(t *testing.T) {
	p := &pipeline{}
	testEnv.Test(t, features.New("a real GitOps pipeline: Flux syncs the demo fleet from a local Git server").
		Setup(step(p.start)).
		Assess("the instance, the GitRepository and both Kustomizations are Ready, and the report and the series carry the Git revision",
			step(p.synced)).
		Assess("a new commit shows its revision in the report and flux_resource_info after a requestedAt", step(p.newCommit)).
		Assess("a broken manifest is counted failing with kustomize-controller's reason, fires the shipped alert in a real Prometheus, "+
			"and resolves after a fixing commit", step(p.brokenManifest)).
		Assess("a suspended Kustomization is counted and labelled suspended", step(p.suspended)).
		Assess("the built CLI's reconcile --wait says a working Kustomization is Ready and exits 1 with kustomize-controller's "+
			"reason for a broken one; suspend and resume, run as kubectl flux-operator, show on spec.suspend", step(p.cliActions)).
		Assess("an unreachable Git URL fails the instance's health check naming the GitRepository", step(p.unreachable)).
		Assess("the installer prunes a component it no longer installs and leaves the synced workloads", step(p.installerPrune)).
		Assess("removing the instance's sync deletes its Kustomization, and Flux garbage-collects what it applied; adding it back restores it",
			step(p.syncRemoved)).
		Assess("Flux prunes what leaves Git; the installer's uninstall leaves the synced workloads to Flux", step(p.uninstall)).
		Feature())
}

// pipeline is what the steps of TestARealGitOpsPipeline share.
type pipeline struct {
	runDir string
	// head is the revision of main the last push made.
	head string
	env  []string
}

func (p *pipeline) start(t *testing.T) {
	ctx := context.Background()
	root := testenv.RepoRoot()
	var err error
	p.runDir, err = os.MkdirTemp("", "flux-pipeline-")
	require.NoError(t, err)
	p.env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUN_DIR="+p.runDir, "GIT_SERVER_ADDR="+pipelineGit,
		"SOURCE_CONTROLLER_STORAGE_ADDR=127.0.0.1:19901", "SOURCE_CONTROLLER_METRICS_ADDR=127.0.0.1:19902",
		"SOURCE_CONTROLLER_HEALTH_ADDR=127.0.0.1:19903", "KUSTOMIZE_CONTROLLER_METRICS_ADDR=127.0.0.1:19904",
		"KUSTOMIZE_CONTROLLER_HEALTH_ADDR=127.0.0.1:19905")
	// Registered first, so it runs last: the controllers stop after the
	// binaries, and their logs stay when the test failed.
	t.Cleanup(func() {
		_, _ = p.script(ctx, "stop")
		if t.Failed() {
			for _, name := range []string{"gitserver", "source-controller", "kustomize-controller"} {
				log, _ := os.ReadFile(filepath.Join(p.runDir, name+".log"))
				lines := strings.Split(strings.TrimSpace(string(log)), "\n")
				t.Logf("%s log (last 40 lines; all of it in %s):\n%s", name, p.runDir,
					strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
			return
		}
		_ = os.RemoveAll(p.runDir)
	})
	mustKubectl(t, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(root, "config", "crd"))
	_, _ = kubectl(ctx, "create", "namespace", "flux-system")
	startBinary(t, "installer", "127.0.0.1:19960", "127.0.0.1:19961", "NOTIFICATIONS_DISABLED=true")
	startBinary(t, "reporter", "127.0.0.1:19970", "127.0.0.1:19971")
	startBinary(t, "exporter", pipelineExporter, "127.0.0.1:19981")
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "fluxinstance", "flux", "--ignore-not-found", "--timeout=2m")
		_, _ = kubectl(context.Background(), "delete", "namespace", "demo", "--ignore-not-found", "--wait=false")
	})

	sample, err := os.ReadFile(filepath.Join(root, "hack", "run-fluxinstance-sync.yaml"))
	require.NoError(t, err)
	text := strings.Replace(string(sample), "http://127.0.0.1:9300/", "http://"+pipelineGit+"/", 1)
	require.Contains(t, text, pipelineGit)
	mustKubectl(t, "apply", "--server-side", "-f", writeFile(t, "flux.yaml", text))
	start := time.Now()
	out, err := p.script(ctx, "start")
	require.NoError(t, err, "hack/flux-controllers.sh start:\n%s", out)
	t.Logf("the local pipeline started %s after the instance was applied:\n%s", time.Since(start).Round(time.Millisecond), out)
	p.head = p.remoteHead(t)
}

// script runs hack/flux-controllers.sh with the test's addresses.
func (p *pipeline) script(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(testenv.RepoRoot(), "hack", "flux-controllers.sh"), args...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=e2e", "-c", "user.email=e2e@flux-operator.invalid"},
		args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s:\n%s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// remoteHead is the commit main is at on the Git server.
func (p *pipeline) remoteHead(t *testing.T) string {
	t.Helper()
	out := git(t, ".", "ls-remote", "http://"+pipelineGit+"/fleet.git", "refs/heads/main")
	sha, _, ok := strings.Cut(out, "\t")
	require.True(t, ok, "git ls-remote: %q", out)
	return sha
}

// push clones the fleet, lets edit change the working copy, commits and
// pushes it as a user would, asks source-controller to fetch now, and
// returns the new revision as Flux writes it.
func (p *pipeline) push(t *testing.T, message string, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "clone", "-q", "http://"+pipelineGit+"/fleet.git", ".")
	edit(dir)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", message)
	git(t, dir, "push", "-q", "origin", "main")
	p.head = git(t, dir, "rev-parse", "HEAD")
	mustKubectl(t, "-n", "flux-system", "annotate", "--overwrite", "gitrepository/flux-system",
		fmt.Sprintf("%s=%d", apiv1.ReconcileRequestAnnotation, time.Now().UnixNano()))
	return "refs/heads/main@sha1:" + p.head
}

func writeIn(t *testing.T, dir, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644))
}

func edit(t *testing.T, dir, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, path))
	require.NoError(t, err)
	require.Contains(t, string(b), from, "%s", path)
	writeIn(t, dir, path, strings.Replace(string(b), from, to, 1))
}

var (
	gitRepositoryGVK = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"}
	kustomizationGVK = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}
)

// ready is the Ready condition of the Flux object, as status, reason and
// message, with the revision its status says it applied or stored.
type ready struct{ status, reason, message, revision string }

func fluxReady(ctx context.Context, gvk schema.GroupVersionKind, name string) (ready, error) {
	o := &unstructured.Unstructured{}
	o.SetGroupVersionKind(gvk)
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: name}, o); err != nil {
		return ready{}, err
	}
	var r ready
	r.revision, _, _ = unstructured.NestedString(o.Object, "status", "lastAppliedRevision")
	if r.revision == "" {
		r.revision, _, _ = unstructured.NestedString(o.Object, "status", "artifact", "revision")
	}
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			r.status, _ = m["status"].(string)
			r.reason, _ = m["reason"].(string)
			r.message, _ = m["message"].(string)
		}
	}
	return r, nil
}

// waitFlux waits until the Flux object's Ready condition is as ok wants
// (want says what that is) and returns it.
func waitFlux(t *testing.T, timeout time.Duration, gvk schema.GroupVersionKind, name string, ok func(ready) bool, want string) ready {
	t.Helper()
	var r ready
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(ctx context.Context) error {
		var err error
		if r, err = fluxReady(ctx, gvk, name); err != nil {
			return err
		}
		if !ok(r) {
			return fmt.Errorf("%s/%s is %+v, want %s", gvk.Kind, name, r, want)
		}
		return nil
	}))
	return r
}

// readyAt waits until the Flux object is Ready at revision.
func readyAt(t *testing.T, timeout time.Duration, gvk schema.GroupVersionKind, name, revision string) ready {
	t.Helper()
	return waitFlux(t, timeout, gvk, name, func(r ready) bool { return r.status == "True" && r.revision == revision },
		"Ready at "+revision)
}

// waitFailure waits until the Flux object fails for a reason of its own:
// Ready=False, and not because it waits for a dependency.
func waitFailure(t *testing.T, timeout time.Duration, gvk schema.GroupVersionKind, name string) ready {
	t.Helper()
	return waitFlux(t, timeout, gvk, name, func(r ready) bool { return r.status == "False" && r.reason != "DependencyNotReady" },
		"a failure of its own")
}

// report is the FluxReport of flux-system.
func report(ctx context.Context) (*apiv1.FluxReport, error) {
	var fr apiv1.FluxReport
	err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: apiv1.DefaultName}, &fr)
	return &fr, err
}

// waitReport asks for a report every 2s until check accepts it.
func waitReport(t *testing.T, timeout time.Duration, check func(*apiv1.FluxReport) error) *apiv1.FluxReport {
	t.Helper()
	var fr *apiv1.FluxReport
	askReports(t, timeout, "flux-system", func(ctx context.Context) error {
		var err error
		if fr, err = report(ctx); err != nil {
			return err
		}
		return check(fr)
	})
	return fr
}

// fluxStats runs the Flux CLI of the same release, `flux stats -A`, and
// returns its rows by kind: running, failing, suspended, storage.
func fluxStats(t *testing.T) map[string][4]string {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "flux", testenv.Version("FLUX_VERSION"), "flux")
	out, err := exec.Command(bin, "stats", "-A", "--kubeconfig", kubeconfig).CombinedOutput()
	require.NoError(t, err, "flux stats -A (`make flux-cli` builds the CLI):\n%s", out)
	rows := map[string][4]string{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Regexp(t, `^RECONCILERS\s+RUNNING\s+FAILING\s+SUSPENDED\s+STORAGE`, lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		require.GreaterOrEqual(t, len(f), 5, "flux stats row %q", l)
		rows[f[0]] = [4]string{f[1], f[2], f[3], strings.Join(f[4:], " ")}
	}
	return rows
}

// assertStatsAgree compares the report's reconcilers with `flux stats -A` on
// the same cluster, where both count the same thing (docs/reporting.md says
// where they differ and why): running, failing and suspended per kind, and
// the storage of the kinds that have artifacts. The state compared has no
// object waiting on a dependency and no suspended object failing, which are
// the two cases the counts differ on.
func assertStatsAgree(t *testing.T, fr *apiv1.FluxReport) {
	t.Helper()
	stats := fluxStats(t)
	compared := 0
	for _, r := range fr.Spec.ReconcilersStatus {
		row, ok := stats[r.Kind]
		if !ok {
			continue // FluxInstance, ExternalArtifact, ArtifactGenerator: flux stats does not count them
		}
		compared++
		storage := r.Stats.TotalSize
		if storage == "" {
			storage = "-"
		}
		assert.Equal(t, [4]string{fmt.Sprint(r.Stats.Running), fmt.Sprint(r.Stats.Failing), fmt.Sprint(r.Stats.Suspended), storage},
			row, "%s: the report (running, failing, suspended, storage) and flux stats -A disagree", r.Kind)
	}
	assert.GreaterOrEqual(t, compared, 10, "the report and flux stats share the kinds of the installed controllers")
}

// kustomizations is the report's count of Kustomizations.
func kustomizations(fr *apiv1.FluxReport) apiv1.FluxReconcilerStats {
	s, _ := reconcilerStats(fr, "Kustomization")
	return s
}

var seriesLabel = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)

// resourceSeries is the labels of the exporter's flux_resource_info of the
// object, nil when it serves none.
func resourceSeries(kind, name string) (map[string]string, error) {
	body, err := scrape(pipelineExporter)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "flux_resource_info{") || !strings.Contains(l, `kind="`+kind+`"`) ||
			!strings.Contains(l, `name="`+name+`"`) {
			continue
		}
		labels := map[string]string{}
		for _, m := range seriesLabel.FindAllStringSubmatch(l, -1) {
			labels[m[1]] = m[2]
		}
		return labels, nil
	}
	return nil, nil
}

// waitSeries asks for a report every 2s until the object's flux_resource_info
// has every label of want.
func waitSeries(t *testing.T, timeout time.Duration, kind, name string, want map[string]string) {
	t.Helper()
	askReports(t, timeout, "flux-system", func(context.Context) error {
		got, err := resourceSeries(kind, name)
		if err != nil {
			return err
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("flux_resource_info of %s/%s has %s=%q, want %q (%v)", kind, name, k, got[k], v, got)
			}
		}
		return nil
	})
}

func (p *pipeline) synced(t *testing.T) {
	ctx := context.Background()
	fi := waitReady(t, 3*time.Minute)
	assert.Regexp(t, `^v2\.9\.5@sha256:`, fi.Status.LastAppliedRevision)
	revision := "refs/heads/main@sha1:" + p.head
	readyAt(t, 2*time.Minute, gitRepositoryGVK, "flux-system", revision)
	readyAt(t, 2*time.Minute, kustomizationGVK, "flux-system", revision)
	readyAt(t, 2*time.Minute, kustomizationGVK, "demo-app", revision)

	fr := waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := fr.Spec.SyncStatus; s == nil || !s.Ready || s.Status != "Applied revision: "+revision {
			return fmt.Errorf("report sync %+v", s)
		}
		return nil
	})
	assert.Equal(t, "kustomization/flux-system", fr.Spec.SyncStatus.ID)
	assert.Equal(t, "http://"+pipelineGit+"/fleet.git", fr.Spec.SyncStatus.Source)
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 2}, kustomizations(fr), "both Kustomizations run, none fails")
	waitSeries(t, time.Minute, "Kustomization", "demo-app", map[string]string{"ready": "True", "revision": revision,
		"reason": "ReconciliationSucceeded", "path": "./apps/demo", "source_name": "flux-system"})
	waitSeries(t, time.Minute, "GitRepository", "flux-system", map[string]string{"ready": "True", "revision": revision,
		"url": "http://" + pipelineGit + "/fleet.git"})

	// What the fleet holds is on the cluster, and the Deployment rolled out.
	var cm corev1.ConfigMap
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "demo-settings"}, &cm))
	assert.Equal(t, "hello from the demo fleet", cm.Data["greeting"])
	p.waitReplicas(t, 2)
}

// waitReplicas waits until demo/podinfo has n available replicas.
func (p *pipeline) waitReplicas(t *testing.T, n int32) {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), time.Minute, func(ctx context.Context) error {
		var d appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "podinfo"}, &d); err != nil {
			return err
		}
		if d.Status.AvailableReplicas != n || d.Status.UpdatedReplicas != n {
			return fmt.Errorf("podinfo: %d of %d replicas available", d.Status.AvailableReplicas, n)
		}
		return nil
	}))
}

func (p *pipeline) newCommit(t *testing.T) {
	old := "refs/heads/main@sha1:" + p.head
	revision := p.push(t, "Scale podinfo to 3", func(dir string) {
		edit(t, dir, "apps/demo/deployment.yaml", "replicas: 2", "replicas: 3")
	})
	require.NotEqual(t, old, revision)
	start := time.Now()
	readyAt(t, time.Minute, kustomizationGVK, "demo-app", revision)
	t.Logf("the commit was applied %s after the push", time.Since(start).Round(time.Millisecond))
	p.waitReplicas(t, 3)
	waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := fr.Spec.SyncStatus; s == nil || s.Status != "Applied revision: "+revision {
			return fmt.Errorf("report sync %+v", s)
		}
		return nil
	})
	waitSeries(t, time.Minute, "Kustomization", "demo-app", map[string]string{"ready": "True", "revision": revision})
	waitSeries(t, time.Minute, "GitRepository", "flux-system", map[string]string{"revision": revision})
}

// shippedRules writes the groups of the shipped PrometheusRule as a
// Prometheus rule file, with FluxResourceNotReady's 15 minutes shortened to
// one second: the expression is otherwise the one users deploy.
func shippedRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	var rule struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &rule))
	shortened := false
	for _, g := range rule.Spec.Groups {
		for _, r := range g["rules"].([]any) {
			m := r.(map[string]any)
			if m["alert"] == "FluxResourceNotReady" {
				expr := m["expr"].(string)
				require.Contains(t, expr, "> 900")
				m["expr"] = strings.Replace(expr, "> 900", "> 1", 1)
				shortened = true
			}
		}
	}
	require.True(t, shortened, "the shipped rules have FluxResourceNotReady")
	out, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	require.NoError(t, err)
	return writeFile(t, "rules.yaml", string(out))
}

func (p *pipeline) brokenManifest(t *testing.T) {
	ctx := context.Background()
	prom := testenv.StartPrometheus(t, pipelineExporter, shippedRules(t))

	revision := p.push(t, "Add a broken manifest", func(dir string) {
		writeIn(t, dir, "apps/demo/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data: {}\n")
		edit(t, dir, "apps/demo/kustomization.yaml", "  - service.yaml\n", "  - service.yaml\n  - broken.yaml\n")
	})
	r := waitFailure(t, time.Minute, kustomizationGVK, "demo-app")
	t.Logf("kustomize-controller says: %s: %s", r.reason, r.message)
	assert.Contains(t, r.message, "broken.yaml", "the failure names the file")
	assert.NotEqual(t, revision, r.revision, "the broken revision is not applied")

	waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := kustomizations(fr); s.Failing != 1 || s.Running != 2 {
			return fmt.Errorf("the report counts Kustomizations %+v, want 1 of 2 failing", s)
		}
		return nil
	})
	waitSeries(t, time.Minute, "Kustomization", "demo-app", map[string]string{"ready": "False", "reason": r.reason})
	assertStatsAgree(t, waitReport(t, time.Minute, func(*apiv1.FluxReport) error { return nil }))

	start := time.Now()
	var firing []testenv.Alert
	require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(context.Context) error {
		alerts, err := prom.Alerts("FluxResourceNotReady")
		if err != nil {
			return err
		}
		firing = nil
		for _, a := range alerts {
			if a.State == "firing" {
				firing = append(firing, a)
			}
		}
		if len(firing) == 0 {
			return fmt.Errorf("FluxResourceNotReady is not firing: %+v", alerts)
		}
		return nil
	}))
	t.Logf("FluxResourceNotReady fired %s after Prometheus started: %v", time.Since(start).Round(time.Millisecond), firing[0].Annotations["summary"])
	require.Len(t, firing, 1, "only the broken Kustomization alerts")
	assert.Equal(t, "Kustomization", firing[0].Labels["kind"])
	assert.Equal(t, "demo-app", firing[0].Labels["name"])
	assert.Equal(t, r.reason, firing[0].Labels["reason"], "the alert carries kustomize-controller's reason")
	assert.Equal(t, "Kustomization flux-system/demo-app is not ready", firing[0].Annotations["summary"])

	fixed := p.push(t, "Fix the broken manifest", func(dir string) {
		require.NoError(t, os.Remove(filepath.Join(dir, "apps/demo/broken.yaml")))
		edit(t, dir, "apps/demo/kustomization.yaml", "  - broken.yaml\n", "")
	})
	readyAt(t, time.Minute, kustomizationGVK, "demo-app", fixed)
	waitSeries(t, time.Minute, "Kustomization", "demo-app", map[string]string{"ready": "True", "revision": fixed})
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(context.Context) error {
		alerts, err := prom.Alerts("FluxResourceNotReady")
		if err == nil && len(alerts) > 0 {
			err = fmt.Errorf("FluxResourceNotReady is still active: %+v", alerts)
		}
		return err
	}), "the alert resolves after the fixing commit")
	fr := waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := kustomizations(fr); s.Failing != 0 {
			return fmt.Errorf("the report counts Kustomizations %+v, want none failing", s)
		}
		return nil
	})
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 2}, kustomizations(fr))
}

func (p *pipeline) suspended(t *testing.T) {
	mustKubectl(t, "-n", "flux-system", "patch", "kustomization", "demo-app", "--type=merge", "-p", `{"spec":{"suspend":true}}`)
	fr := waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := kustomizations(fr); s.Suspended != 1 {
			return fmt.Errorf("the report counts Kustomizations %+v, want 1 suspended", s)
		}
		return nil
	})
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1, Suspended: 1}, kustomizations(fr))
	assertStatsAgree(t, fr)
	waitSeries(t, time.Minute, "Kustomization", "demo-app", map[string]string{"suspended": "True"})
	mustKubectl(t, "-n", "flux-system", "patch", "kustomization", "demo-app", "--type=merge", "-p", `{"spec":{"suspend":false}}`)
	waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := kustomizations(fr); s != (apiv1.FluxReconcilerStats{Running: 2}) {
			return fmt.Errorf("the report counts Kustomizations %+v after the resume", s)
		}
		return nil
	})
	waitSeries(t, time.Minute, "Kustomization", "demo-app", map[string]string{"suspended": "False"})
}

func (p *pipeline) unreachable(t *testing.T) {
	mustKubectl(t, "-n", "flux-system", "annotate", "--overwrite", "fluxinstance", "flux", apiv1.ReconcileTimeoutAnnotation+"=20s")
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p",
		`{"spec":{"sync":{"url":"http://`+pipelineGit+`/missing.git"}}}`)
	line := waitEvent(t, 2*time.Minute, []string{"--types", "Warning"}, apiv1.HealthCheckFailedReason, "GitRepository/flux-system/flux-system")
	t.Logf("the instance says: %s", line)
	r := waitFailure(t, time.Minute, gitRepositoryGVK, "flux-system")
	t.Logf("source-controller says: %s: %s", r.reason, r.message)
	assert.Contains(t, r.message, "missing.git")
	waitSeries(t, time.Minute, "GitRepository", "flux-system", map[string]string{"ready": "False", "reason": r.reason,
		"url": "http://" + pipelineGit + "/missing.git"})
	waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if s := fr.Spec.SyncStatus; s == nil || s.Ready {
			return fmt.Errorf("report sync %+v, want not ready", s)
		}
		return nil
	})

	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p",
		`{"spec":{"sync":{"url":"http://`+pipelineGit+`/fleet.git"}}}`)
	mustKubectl(t, "-n", "flux-system", "annotate", "--overwrite", "fluxinstance", "flux", apiv1.ReconcileTimeoutAnnotation+"=3m")
	waitReady(t, 3*time.Minute)
	readyAt(t, time.Minute, gitRepositoryGVK, "flux-system", "refs/heads/main@sha1:"+p.head)
}

func (p *pipeline) installerPrune(t *testing.T) {
	ctx := context.Background()
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p",
		`{"spec":{"components":["source-controller","kustomize-controller","notification-controller"]}}`)
	waitEvent(t, time.Minute, nil, "Deployment/flux-system/helm-controller deleted")
	waitReady(t, 2*time.Minute)
	err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "helm-controller"}, &appsv1.Deployment{})
	assert.True(t, apierrors.IsNotFound(err), "helm-controller is pruned: %v", err)
	// What Flux applied is Flux's: the synced objects are as they were.
	revision := "refs/heads/main@sha1:" + p.head
	readyAt(t, time.Minute, kustomizationGVK, "demo-app", revision)
	p.waitReplicas(t, 3)
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "demo-settings"}, &corev1.ConfigMap{}))
	waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		for _, c := range fr.Spec.ComponentsStatus {
			if c.Name == "helm-controller" {
				return fmt.Errorf("the report still lists helm-controller")
			}
		}
		if s := fr.Spec.SyncStatus; s == nil || !s.Ready {
			return fmt.Errorf("report sync %+v", s)
		}
		return nil
	})
}

func (p *pipeline) syncRemoved(t *testing.T) {
	ctx := context.Background()
	fi, err := instance(ctx)
	require.NoError(t, err)
	sync, err := json.Marshal(fi.Spec.Sync)
	require.NoError(t, err)
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p", `{"spec":{"sync":null}}`)
	waitReady(t, 2*time.Minute)
	// The sync Kustomization has prune: true: kustomize-controller deletes
	// what it applied (the namespace, and the Kustomization demo-app, which
	// deletes the Deployment it applied) before it lets the object go.
	require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error {
		for _, o := range []client.Object{
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "podinfo"}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}},
		} {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T %s is still there (%v)", o, o.GetName(), err)
			}
		}
		for _, gvk := range []schema.GroupVersionKind{gitRepositoryGVK, kustomizationGVK} {
			if _, err := fluxReady(ctx, gvk, "flux-system"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s flux-system is still there (%v)", gvk.Kind, err)
			}
		}
		return nil
	}))
	waitReport(t, time.Minute, func(fr *apiv1.FluxReport) error {
		if fr.Spec.SyncStatus != nil {
			return fmt.Errorf("the report still has a sync: %+v", fr.Spec.SyncStatus)
		}
		return nil
	})

	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p", `{"spec":{"sync":`+string(sync)+`}}`)
	waitReady(t, 2*time.Minute)
	readyAt(t, 2*time.Minute, kustomizationGVK, "demo-app", "refs/heads/main@sha1:"+p.head)
	p.waitReplicas(t, 3)
}

func (p *pipeline) uninstall(t *testing.T) {
	ctx := context.Background()
	// Flux's own garbage collection: what leaves Git leaves the cluster.
	revision := p.push(t, "Remove the demo settings", func(dir string) {
		writeIn(t, dir, "clusters/local/demo.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n")
	})
	readyAt(t, time.Minute, kustomizationGVK, "flux-system", revision)
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(ctx context.Context) error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "demo-settings"}, &corev1.ConfigMap{})
		if err == nil {
			return fmt.Errorf("kustomize-controller has not pruned the ConfigMap removed from Git")
		}
		return client.IgnoreNotFound(err)
	}))

	// The installer's uninstall removes Flux, not what Flux applied: it
	// strips the Flux objects' finalizers, so kustomize-controller's garbage
	// collection does not run, as with `flux uninstall --keep-namespace`.
	mustKubectl(t, "-n", "flux-system", "delete", "fluxinstance", "flux", "--timeout=2m")
	var crds []string
	for _, crd := range []string{"gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"} {
		if _, err := kubectl(ctx, "get", "crd", crd); err == nil {
			crds = append(crds, crd)
		}
	}
	assert.Empty(t, crds, "the Flux CRDs are removed")
	var d appsv1.Deployment
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "podinfo"}, &d), "the synced Deployment stays")
	assert.True(t, d.DeletionTimestamp.IsZero())
	assert.Equal(t, int32(3), *d.Spec.Replicas)
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Name: "demo"}, &ns))
	assert.True(t, ns.DeletionTimestamp.IsZero(), "the synced namespace stays")
	err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "source-controller"}, &appsv1.Deployment{})
	assert.True(t, apierrors.IsNotFound(err), "Flux is removed: %v", err)
}
