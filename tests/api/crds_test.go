package api_test

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/testenv"
)

func testenvKubectl(ctx context.Context, args ...string) (string, error) {
	return testenv.Kubectl(ctx, env.Kubeconfig, args...)
}

func TestFluxCRDsAreInstalledAsFluxLabelsThem(t *testing.T) {
	ctx := context.Background()
	s := env.Scheme
	require.NoError(t, apiextensionsv1.AddToScheme(s))
	c, err := client.New(env.Config, client.Options{Scheme: s})
	require.NoError(t, err)

	var crds apiextensionsv1.CustomResourceDefinitionList
	require.NoError(t, c.List(ctx, &crds, client.MatchingLabels{"app.kubernetes.io/part-of": "flux"}))
	var kinds []string
	for _, crd := range crds.Items {
		kinds = append(kinds, crd.Spec.Names.Kind)
		assert.Equal(t, "flux-system", crd.Labels["app.kubernetes.io/instance"], crd.Name)
		assert.Regexp(t, `^v2\.\d+\.\d+$`, crd.Labels["app.kubernetes.io/version"], crd.Name)
	}
	sort.Strings(kinds)
	assert.Equal(t, []string{
		"Alert", "ArtifactGenerator", "Bucket", "ExternalArtifact", "GitRepository", "HelmChart", "HelmRelease",
		"HelmRepository", "ImagePolicy", "ImageRepository", "ImageUpdateAutomation", "Kustomization",
		"OCIRepository", "Provider", "Receiver",
	}, kinds)

	// A Flux object of the stored version is accepted with its real schema...
	ns := env.NewNamespace(t, "api-test")
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1",
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": "podinfo", "namespace": ns},
		"spec":       map[string]any{"url": "https://github.com/stefanprodan/podinfo", "interval": "5m", "ref": map[string]any{"branch": "master"}},
	}}
	require.NoError(t, c.Create(ctx, repo))
	// ...and one that breaks it is rejected, which a schemaless CRD would not do.
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
		"kind":       "Kustomization",
		"metadata":   map[string]any{"name": "apps", "namespace": ns},
		"spec":       map[string]any{"interval": "5m", "prune": "yes"},
	}}
	err = c.Create(ctx, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sourceRef")
}
