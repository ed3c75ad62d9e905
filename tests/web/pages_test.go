package web_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
	"github.com/fluxops/flux-operator/tests/webtest"
)

func get(t *testing.T, b *webtest.Browser, path string) *webtest.Page {
	t.Helper()
	p, err := b.Get(path)
	require.NoError(t, err)
	return p
}

func TestTheResourcesPageListsWhatNeedsAttentionFirstWithItsReason(t *testing.T) {
	b := webtest.NewBrowser(web.URL)
	p := get(t, b, "/resources")
	require.Equal(t, http.StatusOK, p.Code, p.Body)
	rs := rows(p.Body)
	require.Len(t, rs, pageSize, "a page holds --web-page-size rows")
	assert.Equal(t, []string{"Kustomization team-a/apps", "Kustomization team-b/apps-b", "Kustomization team-a/waiting", "HelmRelease team-b/new"},
		refs(rs), "failing first, then waiting on a dependency (progressing), then no condition yet (unknown)")
	assert.Equal(t, row{State: "failing", Kind: "Kustomization", Ref: "team-a/apps", Reason: "BuildFailed",
		Message: "kustomize build failed: map[string]interface {}(nil): yaml: unmarshal errors:\n  line 3: cannot unmarshal"}, rs[0])
	assert.Equal(t, "progressing", rs[2].State, "DependencyNotReady is not failing, as the report counts it")
	assert.Contains(t, text(p.Body), "page 1 of 3 · 10 matching", "9 Flux objects and the FluxInstance")

	p2 := get(t, b, "/resources?page=2")
	assert.Equal(t, []string{"HelmRelease team-b/podinfo", "Alert team-b/slack", "FluxInstance flux-system/flux", "GitRepository team-a/fleet"},
		refs(rows(p2.Body)), "suspended, then ready (an Alert is never reconciled, so it is ready), by kind")
	assert.Contains(t, p2.Body, `href="/resources?page=3" rel="next"`)
	assert.Contains(t, p2.Body, `href="/resources" rel="prev"`)
}

func TestFiltersAndTheNameSearchLiveInTheURL(t *testing.T) {
	b := webtest.NewBrowser(web.URL)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"kind=Kustomization&state=failing", []string{"Kustomization team-a/apps", "Kustomization team-b/apps-b"}},
		{"namespace=team-b&state=failing", []string{"Kustomization team-b/apps-b"}},
		{"name=app*", []string{"Kustomization team-a/apps", "Kustomization team-b/apps-b"}},
		{"name=APPS-?", []string{"Kustomization team-b/apps-b"}},
		{"name=fle", []string{"GitRepository team-a/fleet"}},
		{"state=suspended", []string{"HelmRelease team-b/podinfo"}},
		{"kind=Kustomization&name=nothing-like-it", nil},
	} {
		t.Run(c.query, func(t *testing.T) {
			p := get(t, b, "/resources?"+c.query)
			require.Equal(t, http.StatusOK, p.Code)
			if c.want == nil {
				assert.Empty(t, rows(p.Body))
				assert.Contains(t, p.Body, "Nothing matches.")
			} else {
				assert.Equal(t, c.want, refs(rows(p.Body)))
			}
			q, err := url.ParseQuery(c.query)
			require.NoError(t, err)
			// The form shows the filters the URL carries, so a reload or a
			// pasted link keeps them.
			if k := q.Get("kind"); k != "" {
				assert.Contains(t, p.Body, "<option selected>"+k+"</option>")
			}
			if n := q.Get("name"); n != "" {
				assert.Contains(t, p.Body, `name="name" value="`+n+`"`)
			}
		})
	}
	p := get(t, b, "/resources?kind=Kustomization")
	assert.Contains(t, p.Body, `href="/resources?kind=Kustomization&amp;state=failing"`, "the state tabs keep the other filters")
	assert.Contains(t, text(p.Body), "failing 2")
}

func TestAResourcePageShowsConditionsSourceEventsInventoryAndYAML(t *testing.T) {
	b := webtest.NewBrowser(web.URL)
	p := get(t, b, "/resource/Kustomization/team-a/apps")
	require.Equal(t, http.StatusOK, p.Code, p.Body)
	txt := text(p.Body)
	assert.Contains(t, txt, "Kustomization team-a/apps failing")
	assert.Contains(t, txt, "Ready False BuildFailed kustomize build failed: map[string]interface {}(nil): yaml: unmarshal errors: line 3: cannot unmarshal",
		"the whole message, read from the API server")
	assert.Contains(t, p.Body, `<a href="/resource/GitRepository/team-a/fleet">GitRepository team-a/fleet</a>`)
	assert.Contains(t, txt, "Warning BuildFailed Kustomization team-a/apps kustomize build failed: cannot unmarshal kustomize-controller")
	assert.NotContains(t, txt, "ReconciliationSucceeded Kustomization team-a/infra", "only the object's own events")
	assert.Contains(t, txt, "Deployment 2 team-a/web apps/v1 team-a/worker apps/v1")
	assert.Contains(t, txt, "Service 1 team-a/web v1")
	assert.Contains(t, p.Body, `<a href="/resource/Kustomization/team-a/infra">team-a/infra</a>`, "a Flux object in the inventory links to its page")
	assert.Contains(t, p.Body, "kind: Kustomization")
	assert.NotContains(t, p.Body, "managedFields")
	assert.NotContains(t, p.Body, "<form method=\"post\" action=\"/resource/", "read-only: no actions")

	src := get(t, b, "/resource/GitRepository/team-a/fleet")
	require.Equal(t, http.StatusOK, src.Code)
	assert.Contains(t, src.Body, `<a href="/resource/Kustomization/team-a/apps">Kustomization team-a/apps</a>`)
	assert.Contains(t, src.Body, `<a href="/resource/Kustomization/team-a/infra">Kustomization team-a/infra</a>`)
	assert.NotContains(t, src.Body, "team-a/waiting</a>", "waiting reads from its own GitRepository")

	missing := get(t, b, "/resource/Kustomization/team-a/gone")
	assert.Equal(t, http.StatusNotFound, missing.Code)
	assert.Contains(t, text(missing.Body), "Kustomization team-a/gone does not exist")
	unknown := get(t, b, "/resource/Deployment/team-a/web")
	assert.Equal(t, http.StatusNotFound, unknown.Code)
	assert.Contains(t, text(unknown.Body), "Deployment is not a Flux kind this cluster serves")
}

func TestTheOverviewShowsTheReportAndTheInstanceHistory(t *testing.T) {
	p := get(t, webtest.NewBrowser(web.URL), "/")
	require.Equal(t, http.StatusOK, p.Code, p.Body)
	txt := text(p.Body)
	for _, want := range []string{
		"2 failing 1 progressing 1 suspended 1 unknown 5 ready 10 in all",
		"Distribution Installed v2.9.5 managed by flux-operator",
		"Sync ready kustomization/flux-system https://github.com/example/fleet.git path clusters/prod",
		"Cluster Kubernetes v1.37.2 linux/amd64, 2 nodes",
		"kustomize-controller ready ghcr.io/fluxcd/kustomize-controller:v1.9.5",
		"source-controller failing ghcr.io/fluxcd/source-controller:v1.9.5 InProgress Deployment does not have minimum availability.",
		"Reporting finished in 21ms",
		"Revision v2.9.5@sha256:2655bbb1c189",
		"v2.9.5 sha256:2655bbb1c189 ReconciliationSucceeded",
		"7.262s 3",
		"Failing now Kind Namespace/name Reason Message Since Kustomization team-a/apps BuildFailed",
	} {
		assert.Contains(t, txt, want)
	}
	assert.Contains(t, p.Body, `<a class="bad" href="/resources?kind=Kustomization&amp;state=failing">`, "a failing count links to the list")
}

func TestTheEventsPageShowsFluxEventsNewestFirstFiltered(t *testing.T) {
	b := webtest.NewBrowser(web.URL)
	txt := text(get(t, b, "/events").Body)
	assert.Contains(t, txt, "HealthCheckFailed Kustomization team-b/apps-b")
	assert.Contains(t, txt, "ReconciliationSucceeded FluxInstance flux-system/flux Flux v2.9.5 installed")
	assert.NotContains(t, txt, "a Pod's event", "events of other kinds are not Flux's")

	warn := text(get(t, b, "/events?type=Warning&namespace=team-a").Body)
	assert.Contains(t, warn, "1 events")
	assert.Contains(t, warn, "BuildFailed Kustomization team-a/apps")
	byName := text(get(t, b, "/events?kind=Kustomization&name=apps*").Body)
	assert.Contains(t, byName, "2 events")
	assert.NotContains(t, byName, "team-a/infra")
}

func TestAnOpenPageIsToldOfAStatusChange(t *testing.T) {
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, web.URL+"/live", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: ") {
				events <- sc.Text()
			}
		}
		close(events)
	}()
	// Nothing changes: nothing is sent.
	select {
	case e := <-events:
		t.Fatalf("sent %q before anything changed", e)
	case <-time.After(time.Second):
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(fixtures.Kustomization.GVK)
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "waiting"}, obj))
	require.NoError(t, unstructured.SetNestedSlice(obj.Object, []any{map[string]any{"type": "Ready", "status": "True",
		"reason": "ReconciliationSucceeded", "message": "Applied revision: main@sha1:0123456789abcdef",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}, "status", "conditions"))
	require.NoError(t, env.Client.Status().Update(ctx, obj))
	t.Cleanup(func() {
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "waiting"}, obj))
		_ = unstructured.SetNestedSlice(obj.Object, []any{map[string]any{"type": "Ready", "status": "False",
			"reason": "DependencyNotReady", "message": "dependency 'team-a/apps' is not ready",
			"lastTransitionTime": transitioned.Format(time.RFC3339)}}, "status", "conditions")
		require.NoError(t, env.Client.Status().Update(ctx, obj))
	})
	select {
	case e := <-events:
		assert.Equal(t, "event: change", e)
	case <-time.After(30 * time.Second):
		t.Fatal("no change event after a status update")
	}
	// And the page the browser then fetches shows the new state.
	require.NoError(t, testenv.Eventually(ctx, 10*time.Second, func(context.Context) error {
		rs := rows(get(t, webtest.NewBrowser(web.URL), "/resources?namespace=team-a&name=waiting").Body)
		if len(rs) != 1 || rs[0].State != "ready" {
			return assert.AnError
		}
		return nil
	}))
}

func TestAssetsAreCachedForGoodAndPagesCompressedAndTimed(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, web.URL+"/resources", nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	assert.Regexp(t, `^page;dur=\d+\.\d\d$`, resp.Header.Get("Server-Timing"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")

	body := get(t, webtest.NewBrowser(web.URL), "/").Body
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]{12})"`).FindStringSubmatch(body)
	require.Len(t, m, 2, "the stylesheet's URL carries its content hash")
	req, err = http.NewRequest(http.MethodGet, web.URL+m[1], nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	assert.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	assert.Equal(t, http.StatusNotFound, get(t, webtest.NewBrowser(web.URL), "/static/nothing.js").Code)
}
