package installer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// widgetCRD is a CRD no FluxInstance installed.
func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptrTo(true)}}}},
		},
	}
}

// Uninstalling trusts status.inventory only as far as ownership goes: a CRD
// the instance did not install keeps its objects' finalizers, even when a
// status writer lists it, and a Flux object keeps every finalizer but
// Flux's own.
func TestUninstallStripsOnlyFluxFinalizersOfCRDsTheInstanceInstalled(t *testing.T) {
	ctx := context.Background()
	startInstaller(t)

	crd := widgetCRD()
	require.NoError(t, env.Client.Create(ctx, crd))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), crd) })
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "keep", "namespace": ns, "finalizers": []any{"example.com/keep"}},
	}}
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		return env.Client.Create(ctx, widget.DeepCopy()) // once the CRD is established
	}))
	t.Cleanup(func() {
		w := widget.DeepCopy()
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(w), w); err == nil {
			w.SetFinalizers(nil)
			_ = env.Client.Update(context.Background(), w)
		}
	})

	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{
			Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
			Components:   []apiv1.Component{"source-controller"},
			Wait:         ptrTo(false),
		}}
	require.NoError(t, env.Client.Create(ctx, fi))
	fi = waitInstanceReady(t)

	// A Flux object with Flux's finalizer and another controller's.
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"name": "app", "namespace": ns, "finalizers": []any{"finalizers.fluxcd.io", "example.com/audit"}},
		"spec":     map[string]any{"url": "https://github.com/example/app", "interval": "1m"},
	}}
	require.NoError(t, env.Client.Create(ctx, repo))

	// Whoever may write the status lists the foreign CRD in the inventory.
	patch := client.MergeFrom(fi.DeepCopy())
	fi.Status.Inventory.Entries = append(fi.Status.Inventory.Entries,
		apiv1.ResourceRef{ID: "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition", Version: "v1"})
	require.NoError(t, env.Client.Status().Patch(ctx, fi, patch))
	require.NoError(t, env.Client.Delete(ctx, fi))
	require.NoError(t, testenv.Eventually(ctx, 90*time.Second, func(context.Context) error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, &apiv1.FluxInstance{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the instance is still there: %v", err)
		}
		return nil
	}))

	got := widget.DeepCopy()
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(widget), got), "the foreign object was deleted")
	assert.Equal(t, []string{"example.com/keep"}, got.GetFinalizers(), "the finalizers of a CRD the instance did not install were stripped")
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, &apiextensionsv1.CustomResourceDefinition{}),
		"the foreign CRD was deleted")

	// The GitRepository CRD is being deleted; its object waits for the
	// other controller's finalizer, which was kept.
	gotRepo := repo.DeepCopy()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(repo), gotRepo); err == nil {
		assert.False(t, slices.Contains(gotRepo.GetFinalizers(), "finalizers.fluxcd.io"), "Flux's finalizer was left: %v", gotRepo.GetFinalizers())
		assert.Contains(t, gotRepo.GetFinalizers(), "example.com/audit", "another controller's finalizer was stripped")
		gotRepo.SetFinalizers(nil)
		require.NoError(t, env.Client.Update(ctx, gotRepo))
	} else {
		t.Errorf("the GitRepository with another controller's finalizer is gone: %v", err)
	}
}

// The controllers are deleted in the background, so their pods may still be
// running when their Deployments are gone: Flux's finalizers are stripped
// only once the pods are gone, or a terminating kustomize-controller would
// put its finalizer back and garbage-collect every workload it applied.
func TestUninstallStripsFinalizersOnlyOnceTheControllersPodsAreGone(t *testing.T) {
	ctx := context.Background()
	// The uninstall of a test before may still be deleting the CRD.
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(ctx context.Context) error {
		var crd apiextensionsv1.CustomResourceDefinition
		err := env.Client.Get(ctx, client.ObjectKey{Name: "gitrepositories.source.toolkit.fluxcd.io"}, &crd)
		if err == nil && crd.DeletionTimestamp != nil {
			return fmt.Errorf("the GitRepository CRD is still being deleted")
		}
		return client.IgnoreNotFound(err)
	}))
	startInstaller(t)
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{
			Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
			Components:   []apiv1.Component{"source-controller"},
			Wait:         ptrTo(false),
		}}
	require.NoError(t, env.Client.Create(ctx, fi))
	waitInstanceReady(t)

	// The pod of source-controller (the test control plane runs none, and
	// deletes none: it stays until the test deletes it, as a terminating pod).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "source-controller-7d9f", Namespace: ns, Labels: map[string]string{"app": "source-controller"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "ghcr.io/fluxcd/source-controller:v1.9.5"}}},
	}
	require.NoError(t, env.Client.Create(ctx, pod))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pod) })
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"name": "app", "namespace": ns, "finalizers": []any{"finalizers.fluxcd.io"}},
		"spec":     map[string]any{"url": "https://github.com/example/app", "interval": "1m"},
	}}
	require.NoError(t, env.Client.Create(ctx, repo))

	require.NoError(t, env.Client.Delete(ctx, fi))
	require.NoError(t, testenv.Consistently(ctx, 5*time.Second, func(ctx context.Context) error {
		got := repo.DeepCopy()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(repo), got); err != nil {
			return fmt.Errorf("the GitRepository went while its controller's pod runs: %w", err)
		}
		if !slices.Contains(got.GetFinalizers(), "finalizers.fluxcd.io") {
			return fmt.Errorf("Flux's finalizer was stripped while its controller's pod runs")
		}
		return nil
	}))

	require.NoError(t, env.Client.Delete(ctx, pod))
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo.DeepCopy()); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the GitRepository is still there once the pod is gone: %v", err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, &apiv1.FluxInstance{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the instance is still there: %v", err)
		}
		return nil
	}))
}
