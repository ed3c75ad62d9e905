package packaging_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// applyRBAC applies the ServiceAccounts, roles and bindings of
// config/<overlay> for real.
func applyRBAC(t *testing.T, overlay string) {
	t.Helper()
	objs, err := renderKustomize(overlay)
	require.NoError(t, err)
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding":
			require.NoError(t, env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o),
				client.ForceOwnership, client.FieldOwner("packaging-test")), "%s %s", o.GetKind(), o.GetName())
		}
	}
}

// sa is the user of a component's ServiceAccount.
func sa(c string) string { return "system:serviceaccount:" + namespace + ":flux-operator-" + c }

// allowed asks the API server (SubjectAccessReview) whether user may verb the
// resource in ns ("" for cluster-scoped or all namespaces).
func allowed(t *testing.T, user, verb, group, resource, ns string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: group, Resource: resource, Namespace: ns},
	}}
	require.NoError(t, env.Client.Create(context.Background(), sar))
	return sar.Status.Allowed
}

var (
	writes    = []string{"create", "update", "patch", "delete", "deletecollection"}
	fluxKinds = []struct{ group, resource string }{
		{"source.toolkit.fluxcd.io", "gitrepositories"},
		{"source.toolkit.fluxcd.io", "ocirepositories"},
		{"kustomize.toolkit.fluxcd.io", "kustomizations"},
		{"helm.toolkit.fluxcd.io", "helmreleases"},
		{"notification.toolkit.fluxcd.io", "receivers"},
		{"image.toolkit.fluxcd.io", "imagepolicies"},
	}
)

// TestRBAC applies the RBAC of config/default for real and asks the API
// server (SubjectAccessReview) what each ServiceAccount may do.
func TestRBAC(t *testing.T) {
	applyRBAC(t, "default")
	can := func(user, verb, group, resource, ns string) bool {
		t.Helper()
		return allowed(t, user, verb, group, resource, ns)
	}

	// Reporter and exporter read Flux objects everywhere and write none.
	for _, c := range []string{"reporter", "exporter"} {
		for _, k := range fluxKinds {
			for _, ns := range []string{namespace, "apps"} {
				assert.True(t, can(sa(c), "list", k.group, k.resource, ns), "%s lists %s in %s", c, k.resource, ns)
				assert.True(t, can(sa(c), "watch", k.group, k.resource, ns), "%s watches %s in %s", c, k.resource, ns)
				for _, verb := range writes {
					assert.False(t, can(sa(c), verb, k.group, k.resource, ns), "%s must not %s %s in %s", c, verb, k.resource, ns)
				}
			}
		}
		for _, verb := range writes {
			assert.False(t, can(sa(c), verb, "fluxcd.controlplane.io", "fluxinstances", namespace), "%s must not %s fluxinstances", c, verb)
			assert.False(t, can(sa(c), verb, "", "secrets", namespace), "%s must not %s secrets", c, verb)
			assert.False(t, can(sa(c), verb, "apps", "deployments", namespace), "%s must not %s deployments", c, verb)
		}
		assert.False(t, can(sa(c), "get", "", "secrets", namespace), "%s must not read secrets", c)
	}

	// The reporter writes its FluxReport, in its namespace only.
	assert.True(t, can(sa("reporter"), "patch", "fluxcd.controlplane.io", "fluxreports", namespace))
	assert.True(t, can(sa("reporter"), "patch", "fluxcd.controlplane.io", "fluxreports/status", namespace))
	assert.False(t, can(sa("reporter"), "patch", "fluxcd.controlplane.io", "fluxreports", "apps"))
	assert.False(t, can(sa("reporter"), "delete", "fluxcd.controlplane.io", "fluxreports", namespace))

	// The exporter writes nothing, not even its report or events.
	for _, verb := range writes {
		assert.False(t, can(sa("exporter"), verb, "fluxcd.controlplane.io", "fluxreports", namespace), "exporter must not %s fluxreports", verb)
		assert.False(t, can(sa("exporter"), verb, "", "events", namespace), "exporter must not %s events", verb)
	}
	assert.True(t, can(sa("exporter"), "get", "fluxcd.controlplane.io", "fluxreports", namespace))
	assert.True(t, can(sa("exporter"), "watch", "fluxcd.controlplane.io", "fluxinstances", namespace))

	// The installer may do what a Flux installation needs.
	for _, r := range []struct{ group, resource, ns string }{
		{"apiextensions.k8s.io", "customresourcedefinitions", ""},
		{"rbac.authorization.k8s.io", "clusterrolebindings", ""},
		{"apps", "deployments", namespace},
		{"kustomize.toolkit.fluxcd.io", "kustomizations", namespace},
	} {
		assert.True(t, can(sa("installer"), "create", r.group, r.resource, r.ns), "installer creates %s", r.resource)
	}
}

// TestWebRBAC checks the generated RBAC of the web UI, as written and as
// the API server applies it (config/web-ui): it reads the Flux kinds
// everywhere and the FluxInstance and FluxReport in its namespace, lists
// events, reviews tokens and access for sign-in, and nothing else: no
// Secrets, no writes (it acts only with a signed-in user's own token).
func TestWebRBAC(t *testing.T) {
	cr, role, err := testenv.GeneratedRBAC("web")
	require.NoError(t, err)
	fluxGroups := []string{"helm.toolkit.fluxcd.io", "image.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io",
		"notification.toolkit.fluxcd.io", "source.extensions.fluxcd.io", "source.toolkit.fluxcd.io"}
	for _, r := range cr.Rules {
		assert.Empty(t, r.NonResourceURLs, "no non-resource URLs")
		assert.Empty(t, r.ResourceNames, "no rule restricted to names")
		assert.NotContains(t, r.Resources, "secrets", "the web UI never reads Secrets: %v", r)
		switch {
		case slices.Equal(r.APIGroups, []string{""}):
			assert.Equal(t, []string{"events"}, r.Resources, "the only core resource is events")
			assert.Equal(t, []string{"list"}, r.Verbs, "events are listed")
		case slices.Equal(r.APIGroups, []string{"authentication.k8s.io"}):
			assert.Equal(t, []string{"tokenreviews"}, r.Resources)
			assert.Equal(t, []string{"create"}, r.Verbs)
		case slices.Equal(r.APIGroups, []string{"authorization.k8s.io"}):
			assert.Equal(t, []string{"subjectaccessreviews"}, r.Resources)
			assert.Equal(t, []string{"create"}, r.Verbs)
		default:
			for _, g := range r.APIGroups {
				assert.Contains(t, fluxGroups, g, "a ClusterRole rule on a group that is not Flux's: %v", r)
			}
			assert.ElementsMatch(t, []string{"get", "list", "watch"}, r.Verbs, "Flux kinds are read only: %v", r)
		}
	}
	require.Len(t, role.Rules, 1)
	assert.Equal(t, []string{"fluxcd.controlplane.io"}, role.Rules[0].APIGroups)
	assert.ElementsMatch(t, []string{"fluxinstances", "fluxreports"}, role.Rules[0].Resources)
	assert.ElementsMatch(t, []string{"get", "list", "watch"}, role.Rules[0].Verbs)

	applyRBAC(t, "web-ui")
	web := sa("web")
	for _, k := range fluxKinds {
		for _, ns := range []string{namespace, "apps", ""} {
			for _, verb := range []string{"get", "list", "watch"} {
				assert.True(t, allowed(t, web, verb, k.group, k.resource, ns), "web %s %s in %q", verb, k.resource, ns)
			}
			for _, verb := range writes {
				assert.False(t, allowed(t, web, verb, k.group, k.resource, ns), "web must not %s %s in %q", verb, k.resource, ns)
			}
		}
	}
	for _, ns := range []string{namespace, "apps", ""} {
		assert.True(t, allowed(t, web, "list", "", "events", ns), "web lists events in %q", ns)
		for _, verb := range append([]string{"get", "list", "watch"}, writes...) {
			assert.False(t, allowed(t, web, verb, "", "secrets", ns), "web must not %s secrets in %q", verb, ns)
		}
		for _, verb := range writes {
			assert.False(t, allowed(t, web, verb, "", "events", ns), "web must not %s events in %q", verb, ns)
		}
	}
	for _, r := range []string{"fluxinstances", "fluxreports"} {
		assert.True(t, allowed(t, web, "watch", "fluxcd.controlplane.io", r, namespace), "web watches %s", r)
		assert.False(t, allowed(t, web, "list", "fluxcd.controlplane.io", r, "apps"), "web reads %s in its namespace only", r)
		for _, verb := range writes {
			assert.False(t, allowed(t, web, verb, "fluxcd.controlplane.io", r, namespace), "web must not %s %s", verb, r)
		}
	}
	assert.True(t, allowed(t, web, "create", "authentication.k8s.io", "tokenreviews", ""))
	assert.True(t, allowed(t, web, "create", "authorization.k8s.io", "subjectaccessreviews", ""))
	for _, r := range []struct{ group, resource string }{{"", "configmaps"}, {"", "pods"}, {"apps", "deployments"},
		{"coordination.k8s.io", "leases"}, {"apiextensions.k8s.io", "customresourcedefinitions"}} {
		assert.False(t, allowed(t, web, "list", r.group, r.resource, namespace), "web must not list %s", r.resource)
	}
}
