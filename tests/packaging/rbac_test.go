package packaging_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestRBAC applies the RBAC of config/default for real and asks the API
// server (SubjectAccessReview) what each ServiceAccount may do.
func TestRBAC(t *testing.T) {
	ctx := context.Background()
	objs, err := renderKustomize("default")
	require.NoError(t, err)
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding":
			require.NoError(t, env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.ForceOwnership, client.FieldOwner("packaging-test")),
				"%s %s", o.GetKind(), o.GetName())
		}
	}
	sa := func(c string) string { return "system:serviceaccount:" + namespace + ":flux-operator-" + c }
	can := func(user, verb, group, resource, ns string) bool {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: group, Resource: resource, Namespace: ns},
		}}
		require.NoError(t, env.Client.Create(ctx, sar))
		return sar.Status.Allowed
	}
	writes := []string{"create", "update", "patch", "delete", "deletecollection"}
	fluxKinds := []struct{ group, resource string }{
		{"source.toolkit.fluxcd.io", "gitrepositories"},
		{"source.toolkit.fluxcd.io", "ocirepositories"},
		{"kustomize.toolkit.fluxcd.io", "kustomizations"},
		{"helm.toolkit.fluxcd.io", "helmreleases"},
		{"notification.toolkit.fluxcd.io", "receivers"},
		{"image.toolkit.fluxcd.io", "imagepolicies"},
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
