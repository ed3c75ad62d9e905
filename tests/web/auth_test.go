package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/webtest"
)

// serviceAccountToken creates a ServiceAccount in ns, binds it to rules in
// each of namespaces, and returns a token the API server issued for it.
func serviceAccountToken(t *testing.T, ns, name string, rules []rbacv1.PolicyRule, namespaces ...string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(ctx, sa)))
	for _, where := range namespaces {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: where}, Rules: rules}
		require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(ctx, role)))
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: where},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}
		require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(ctx, rb)))
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// alice may read and patch the Flux objects and events of team-a only.
func aliceToken(t *testing.T) string {
	return serviceAccountToken(t, teamA, "alice", []rbacv1.PolicyRule{
		{APIGroups: []string{"kustomize.toolkit.fluxcd.io", "source.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"},
			Resources: []string{"*"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list"}},
	}, teamA)
}

func signIn(t *testing.T, token string) *webtest.Browser {
	t.Helper()
	b := webtest.NewBrowser(webAuth.URL)
	p, err := b.Post("/login", url.Values{"token": {token}, "next": {"/resources"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, p.Code, text(p.Body))
	require.Equal(t, "/resources", p.Location)
	return b
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func suspended(t *testing.T, kind fixtures.Kind, ns, name string) bool {
	t.Helper()
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(kind.GVK)
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj))
	s, _, _ := unstructured.NestedBool(obj.Object, "spec", "suspend")
	return s
}

func TestWithSignInAUserSeesOnlyWhatTheyMayListAndActsAsThemselves(t *testing.T) {
	anon := webtest.NewBrowser(webAuth.URL)
	p := get(t, anon, "/resources?state=failing")
	assert.Equal(t, http.StatusSeeOther, p.Code)
	assert.Equal(t, "/login?next=%2Fresources%3Fstate%3Dfailing", p.Location, "back to the same filters after signing in")
	live, err := anon.Get("/live")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, live.Code)

	bad, err := anon.Post("/login", url.Values{"token": {"not-a-token"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, bad.Code)
	assert.Contains(t, text(bad.Body), "The API server does not accept this token")

	alice := signIn(t, aliceToken(t))
	rs := rows(get(t, alice, "/resources").Body)
	assert.Equal(t, []string{"Kustomization team-a/apps", "Kustomization team-a/waiting", "GitRepository team-a/fleet", "Kustomization team-a/infra"},
		refs(rs), "team-a's objects only: alice may not list team-b's, nor the FluxInstance")
	assert.Empty(t, rows(get(t, alice, "/resources?namespace=team-b").Body))
	assert.Contains(t, text(get(t, alice, "/").Body), "You may not read the FluxReport")
	events := text(get(t, alice, "/events").Body)
	assert.Contains(t, events, "BuildFailed Kustomization team-a/apps")
	assert.NotContains(t, events, "team-b", "events of namespaces alice may not list events in")

	forbidden := get(t, alice, "/resource/Kustomization/team-b/apps-b")
	assert.Equal(t, http.StatusForbidden, forbidden.Code)
	assert.Contains(t, text(forbidden.Body), "you may not get Kustomization in namespace team-b")

	page := get(t, alice, "/resource/Kustomization/team-a/apps")
	require.Equal(t, http.StatusOK, page.Code)
	assert.Contains(t, page.Body, `action="/resource/Kustomization/team-a/apps/suspend"`)
	m := csrfRE.FindStringSubmatch(page.Body)
	require.Len(t, m, 2, "the action forms carry alice's form token")
	csrf := m[1]

	// A form posted from elsewhere (no form token) is refused.
	p, err = alice.Post("/resource/Kustomization/team-a/apps/suspend", url.Values{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, p.Code)
	assert.False(t, suspended(t, fixtures.Kustomization, teamA, "apps"))

	p, err = alice.Post("/resource/Kustomization/team-a/apps/suspend", url.Values{"csrf": {csrf}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, p.Code)
	assert.Contains(t, p.Location, "noticeClass=ok")
	assert.True(t, suspended(t, fixtures.Kustomization, teamA, "apps"), "suspended with alice's token")
	after := get(t, alice, p.Location)
	assert.Contains(t, text(after.Body), "suspend requested by system:serviceaccount:team-a:alice")
	assert.Contains(t, after.Body, `action="/resource/Kustomization/team-a/apps/resume"`, "a suspended object offers resume")

	p, err = alice.Post("/resource/Kustomization/team-a/apps/resume", url.Values{"csrf": {csrf}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, p.Code)
	assert.False(t, suspended(t, fixtures.Kustomization, teamA, "apps"))

	// team-b: the API server refuses alice, whatever the UI's own rights.
	p, err = alice.Post("/resource/Kustomization/team-b/apps-b/suspend", url.Values{"csrf": {csrf}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, p.Code)
	refused := text(get(t, alice, p.Location[:len("/resource/Kustomization/team-b/apps-b")]+"?"+mustQuery(t, p.Location)).Body)
	assert.NotContains(t, refused, "suspend requested")
	assert.False(t, suspended(t, fixtures.Kustomization, teamB, "apps-b"))
	q, err := url.Parse(p.Location)
	require.NoError(t, err)
	assert.Equal(t, "error", q.Query().Get("noticeClass"))
	assert.Contains(t, q.Query().Get("notice"), "user system:serviceaccount:team-a:alice may not patch kustomizations.kustomize.toolkit.fluxcd.io in namespace team-b")

	// A bearer token in the header works too, e.g. behind an auth proxy.
	hb := webtest.NewBrowser(webAuth.URL)
	req, err := http.NewRequest(http.MethodGet, webAuth.URL+"/resources?namespace=team-a&state=failing", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+aliceToken(t))
	resp, err := hb.Client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	out, err := alice.Post("/logout", url.Values{})
	require.NoError(t, err)
	assert.Equal(t, "/login", out.Location)
	assert.Equal(t, http.StatusSeeOther, get(t, alice, "/").Code, "signed out")
}

func mustQuery(t *testing.T, loc string) string {
	u, err := url.Parse(loc)
	require.NoError(t, err)
	return u.RawQuery
}

func TestTheReadOnlyUIHasNoActions(t *testing.T) {
	b := webtest.NewBrowser(web.URL)
	p, err := b.Post("/resource/Kustomization/team-a/apps/suspend", url.Values{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, p.Code, "no action routes without sign-in")
	assert.False(t, suspended(t, fixtures.Kustomization, teamA, "apps"))
	login := get(t, b, "/login")
	assert.Equal(t, http.StatusNotFound, login.Code)
}
