//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// The web UI's addresses in this test: read-only, and with sign-in.
const (
	webAddr     = "127.0.0.1:19990"
	webAuthAddr = "127.0.0.1:19993"
	// webTeam is a namespace the signed-in user may read; flux-system is not.
	webTeam = "web-team"
)

// TestTheWebUIInABrowser drives the web UI in Debian's Chromium, headless,
// against the local cluster with the real Flux pipeline of
// TestARealGitOpsPipeline: what a user sees and does, with screenshots at a
// desktop and a phone width saved in .cache/screenshots (E2E_SCREENSHOTS).
func TestTheWebUIInABrowser(t *testing.T) {
	w := &webUI{pipeline: &pipeline{}}
	testEnv.Test(t, features.New("the web UI in a browser, on the local cluster with real Flux").
		Setup(step(w.start)).
		Assess("the overview shows the installed version and the components", step(w.overview)).
		Assess("a failing Kustomization is first in the resources list, with kustomize-controller's reason", step(w.failingFirst)).
		Assess("a filter and a search narrow the list and survive a reload from the URL", step(w.filters)).
		Assess("a status change shows up on an open page within 2s, without a reload", step(w.live)).
		Assess("a resource page shows its events and its inventory", step(w.resourcePage)).
		Assess("with --web-auth, a user without access to a namespace does not see its objects and cannot suspend them",
			step(w.auth)).
		Feature())
}

type webUI struct {
	*pipeline
	browser context.Context
	shots   string
	// feature is the feature's own t: what the steps share is cleaned up
	// when the feature ends.
	feature *testing.T
}

func (w *webUI) start(t *testing.T) {
	w.feature = t
	w.pipeline.start(t)
	w.pipeline.synced(t)
	startBinary(t, "web", "127.0.0.1:19991", "127.0.0.1:19992", "WEB_ADDR="+webAddr)
	startBinary(t, "web", "127.0.0.1:19994", "127.0.0.1:19995", "WEB_ADDR="+webAuthAddr, "WEB_AUTH=true")
	w.shots = os.Getenv("E2E_SCREENSHOTS")
	if w.shots == "" {
		w.shots = filepath.Join(testenv.RepoRoot(), ".cache", "screenshots")
	}
	require.NoError(t, os.MkdirAll(w.shots, 0o755))
	w.browser = newBrowser(t)
}

// newBrowser starts a headless Chromium for the test, closed at its end.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	require.NoError(t, err, "Debian's chromium is needed: make chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	require.NoError(t, chromedp.Do(bctx))
	return bctx
}

// run runs browser actions, in order, with a timeout.
func (w *webUI) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.browser, time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// browse runs one browser action with a timeout and returns its value.
func browse[T any](t *testing.T, w *webUI, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.browser, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// css is a CSS selector.
type css = chromedp.CSS

// screenshot saves the page at a desktop and a phone width.
func (w *webUI) screenshot(t *testing.T, name string) {
	t.Helper()
	for _, size := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		w.run(t, chromedp.EmulateViewport(size.w, size.h, opts...), chromedp.Reload(), chromedp.WaitVisible(css("main")))
		png := browse(t, w, chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(filepath.Join(w.shots, name+"-"+size.suffix+".png"), png, 0o644))
	}
	w.run(t, chromedp.EmulateViewport(1280, 900))
}

// rowsShown are the resources table's rows as "state kind namespace/name reason".
func (w *webUI) rowsShown(t *testing.T) []string {
	t.Helper()
	return browse(t, w, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#resources tbody tr[class^=r-]")).map(r =>
		[r.className.slice(2)].concat(Array.from(r.cells).slice(1, 4).map(c => c.innerText.trim())).join(" "))`))
}

func (w *webUI) overview(t *testing.T) {
	w.run(t, chromedp.Navigate("http://"+webAddr+"/"))
	distribution := browse(t, w, chromedp.Text(css("#distribution")))
	components := browse(t, w, chromedp.Text(css("#components tbody")))
	assert.Equal(t, "Installed v2.9.5 managed by flux-operator", strings.TrimSpace(distribution))
	for _, c := range []string{"source-controller", "kustomize-controller", "helm-controller", "notification-controller"} {
		assert.Regexp(t, c+`\s+ready\s+ghcr.io/fluxcd/`+c+`:v`, components)
	}
	w.screenshot(t, "overview")
}

func (w *webUI) failingFirst(t *testing.T) {
	applyYAML(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: broken
  namespace: flux-system
spec:
  interval: 10m
  path: ./does-not-exist
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
	w.feature.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "kustomization", "broken", "--ignore-not-found")
	})
	failure := waitFailure(t, 2*time.Minute, kustomizationGVK, "broken")
	w.run(t, chromedp.Navigate("http://"+webAddr+"/resources"))
	rows := w.rowsShown(t)
	require.NotEmpty(t, rows)
	assert.Equal(t, "failing Kustomization flux-system/broken "+failure.reason, rows[0])
	msg := browse(t, w, chromedp.Text(css("#resources tbody tr:first-child td.msg")))
	assert.Contains(t, msg, "does-not-exist", "kustomize-controller's message")
	w.screenshot(t, "resources")
}

func (w *webUI) filters(t *testing.T) {
	w.run(t, chromedp.Navigate("http://"+webAddr+"/resources"),
		// The kind select submits the form as soon as it changes (SetValue
		// fires the change event, as a user's choice does).
		chromedp.SetValue(css(`select[name=kind]`), "Kustomization"),
		// The list with the kind filter has loaded.
		chromedp.WaitReady(css(`select[name=kind] option[selected]`)),
		chromedp.WaitVisible(css(`input[name=name]`)),
		chromedp.SendKeys(css(`input[name=name]`), "demo*\n"),
		chromedp.WaitReady(css(`input[name=name][value="demo*"]`)))
	loc := browse(t, w, chromedp.Location())
	assert.Equal(t, "http://"+webAddr+"/resources?kind=Kustomization&namespace=&state=&name=demo*", loc)
	assert.Equal(t, []string{"ready Kustomization flux-system/demo-app ReconciliationSucceeded"}, w.rowsShown(t))
	w.run(t, chromedp.Reload(), chromedp.WaitVisible(css("#resources")))
	name := browse(t, w, chromedp.Value(css(`input[name=name]`)))
	assert.Equal(t, "demo*", name)
	assert.Equal(t, []string{"ready Kustomization flux-system/demo-app ReconciliationSucceeded"}, w.rowsShown(t), "after a reload")
}

func (w *webUI) live(t *testing.T) {
	w.run(t, chromedp.Navigate("http://"+webAddr+"/resources?kind=Kustomization&name=broken"),
		chromedp.WaitVisible(css("#live-status")),
		// Gone after a reload: proves the page was not reloaded.
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	rows := w.rowsShown(t)
	require.Len(t, rows, 1)
	require.Equal(t, "failing", strings.Fields(rows[0])[0])
	mustKubectl(t, "-n", "flux-system", "patch", "kustomization", "broken", "--type=merge", "-p",
		fmt.Sprintf(`{"spec":{"path":"./apps/demo"},"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"%d"}}}`, time.Now().UnixNano()))
	// From the moment the API server has the new status.
	waitFlux(t, 2*time.Minute, kustomizationGVK, "broken", func(r ready) bool { return r.status != "False" }, "no longer failing")
	changed := time.Now()
	ctx, cancel := context.WithTimeout(w.browser, 2*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.WaitNotPresent(css(`#resources tr.r-failing`)))
	shown := time.Since(changed)
	require.NoError(t, err, "the page still shows broken failing 2s after its status changed")
	notReloaded := browse(t, w, chromedp.Evaluate[bool](`window.notReloaded === true`))
	assert.True(t, notReloaded, "the page was reloaded")
	t.Logf("the page showed the new state %s after the API server had it", shown.Round(time.Millisecond))

	// The filters, outside the part a live update swaps, still filter as
	// soon as they change.
	w.run(t, chromedp.SetValue(css(`select[name=state]`), "ready"),
		chromedp.WaitReady(css(`select[name=state] option[selected]`)))
	loc := browse(t, w, chromedp.Location())
	assert.Equal(t, "http://"+webAddr+"/resources?kind=Kustomization&namespace=&state=ready&name=broken", loc)
}

func (w *webUI) resourcePage(t *testing.T) {
	w.run(t, chromedp.Navigate("http://"+webAddr+"/resource/Kustomization/flux-system/demo-app"))
	inventory := browse(t, w, chromedp.Text(css("#inventory")))
	events := browse(t, w, chromedp.Text(css("#events")))
	assert.Regexp(t, `Deployment\s+1\s+demo/podinfo apps/v1`, inventory)
	assert.Regexp(t, `Service\s+1\s+demo/podinfo v1`, inventory)
	assert.Contains(t, events, "ReconciliationSucceeded")
	assert.Contains(t, events, "kustomize-controller")
	w.screenshot(t, "resource")
}

func (w *webUI) auth(t *testing.T) {
	ctx := context.Background()
	_, _ = kubectl(ctx, "create", "namespace", webTeam)
	t.Cleanup(func() { _, _ = kubectl(context.Background(), "delete", "namespace", webTeam, "--wait=false") })
	applyYAML(t, `apiVersion: v1
kind: ServiceAccount
metadata:
  name: viewer
  namespace: `+webTeam+`
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: flux-operator
  namespace: `+webTeam+`
rules:
- apiGroups: [source.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io]
  resources: ["*"]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: viewer
  namespace: `+webTeam+`
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: flux-operator
subjects:
- kind: ServiceAccount
  name: viewer
  namespace: `+webTeam+`
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: team-fleet
  namespace: `+webTeam+`
spec:
  interval: 10m
  url: http://`+pipelineGit+`/fleet.git
  ref:
    branch: main
`)
	token := strings.TrimSpace(mustKubectl(t, "-n", webTeam, "create", "token", "viewer"))
	base := "http://" + webAuthAddr
	w.run(t, chromedp.Navigate(base+"/resources"),
		chromedp.WaitVisible(css(`#token`)),
		chromedp.SendKeys(css(`#token`), token),
		chromedp.Submit(css(`#token`)),
		chromedp.WaitVisible(css(`#resources`)))
	rows := w.rowsShown(t)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		assert.Contains(t, r, " "+webTeam+"/", "the viewer sees only %s's objects", webTeam)
	}
	assert.NotContains(t, strings.Join(rows, "\n"), "flux-system/")

	w.run(t, chromedp.Navigate(base+"/resource/Kustomization/flux-system/demo-app"))
	body := browse(t, w, chromedp.Text(css("main")))
	assert.Contains(t, body, "you may not get Kustomization in namespace flux-system")

	// Even a hand-made request with the viewer's own form token is refused
	// by the API server, which checks the viewer's rights.
	w.run(t, chromedp.Navigate(base+"/resource/GitRepository/"+webTeam+"/team-fleet"))
	csrf := browse(t, w, chromedp.Value(css(`input[name=csrf]`)))
	require.NotEmpty(t, csrf, "the viewer may patch in its namespace, so the actions are offered")
	notice := browse(t, w, chromedp.Evaluate[string](fmt.Sprintf(`fetch("/resource/Kustomization/flux-system/demo-app/suspend", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=%s"}).then(r => r.url)`, csrf), chromedp.EvalAwaitPromise))
	assert.Contains(t, notice, "noticeClass=error")
	assert.Contains(t, notice, "may+not+patch")
	out := mustKubectl(t, "-n", "flux-system", "get", "kustomization", "demo-app", "-o", "jsonpath={.spec.suspend}")
	assert.NotEqual(t, "true", strings.TrimSpace(out), "demo-app was suspended")

	// In its own namespace the viewer's suspend goes through, as the viewer.
	w.run(t, chromedp.Click(css(`form[action$="/suspend"] button`)), chromedp.WaitVisible(css(`.notice.ok`)))
	out = mustKubectl(t, "-n", webTeam, "get", "gitrepository", "team-fleet", "-o", "jsonpath={.spec.suspend}")
	assert.Equal(t, "true", strings.TrimSpace(out))
}
