package reporter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// unservedCRD is a Flux-labelled CRD whose only (storage) version the API
// server does not serve: the kind is in the CRD list but not in discovery.
func unservedCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.unserved.fluxcd.io",
			Labels: map[string]string{"app.kubernetes.io/part-of": "flux"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "unserved.fluxcd.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: false, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true)}},
			}},
		},
	}
}

func TestUnservedFluxAPIIsAPartialReport(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, apiextensionsv1.AddToScheme(env.Scheme))
	crdClient, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)
	crd := unservedCRD()
	require.NoError(t, crdClient.Create(ctx, crd))
	deleteCRD := func() {
		t.Helper()
		require.NoError(t, client.IgnoreNotFound(crdClient.Delete(ctx, crd)))
		require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
			err := crdClient.Get(ctx, client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("CRD %s not deleted yet (%v)", crd.Name, err)
		}))
	}
	t.Cleanup(deleteCRD)

	ns := env.NewNamespace(t, "flux-notserved")
	createFlux(t, fixtures.GitRepository, ns, ns, fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(2048))
	createFlux(t, fixtures.Kustomization, ns, ns, fixtures.Ready(notReady, "BuildFailed", "bad"))
	startReporter(t, env.Config, ns, time.Hour)

	const part = "failed to list Widget (unserved.fluxcd.io/v1): API not served"
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionFalse))
	c := r.GetReadyCondition()
	assert.Equal(t, apiv1.ReportPartialReason, c.Reason)
	assert.Contains(t, c.Message, part)
	assert.Contains(t, c.Message, "API not served")
	assert.Contains(t, c.Message, "Widget")
	assert.Equal(t, 1, strings.Count(c.Message, "failed to"), "the unserved kind is the only failed part: %s", c.Message)

	// The rest of the report is filled in.
	_, listed := statsOf(r, "Widget")
	assert.False(t, listed, "the unserved kind has no stats")
	git, _ := statsOf(r, "GitRepository")
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1, TotalSize: "2.0 KiB"}, git)
	ks, _ := statsOf(r, "Kustomization")
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1, Failing: 1}, ks)
	instances, listed := statsOf(r, apiv1.FluxInstanceKind)
	assert.True(t, listed)
	assert.Equal(t, apiv1.FluxReconcilerStats{}, instances)
	assert.Equal(t, apiv1.DistributionInstalled, r.Spec.Distribution.Status)
	require.NotNil(t, r.Spec.Cluster)
	assert.Equal(t, 2, r.Spec.Cluster.Nodes)
	assert.NotEmpty(t, r.Spec.Cluster.ServerVersion)
	require.NotNil(t, r.Spec.SyncStatus, "the sync Kustomization named after the namespace is reported")
	assert.Equal(t, "kustomization/"+ns, r.Spec.SyncStatus.ID)

	warning := waitOneEvent(t, ns, apiv1.ReportPartialReason)
	assert.Equal(t, "Warning", warning.Type)
	assert.Contains(t, warning.Note, part)

	// Once the CRD is gone the report is complete again.
	deleteCRD()
	r = requestUntil(t, ns, "crd-deleted", readyWith(metav1.ConditionTrue))
	_, listed = statsOf(r, "Widget")
	assert.False(t, listed)
}
