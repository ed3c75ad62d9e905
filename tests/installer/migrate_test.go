package installer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// Upgrading v2.6.4 to v2.9.5 with the image automation controllers: their
// v2.9.5 CRDs no longer have v1beta2, the version v2.6.4 stores objects in.
// The installer migrates the stored objects to v1 first, so the upgrade
// goes through and the objects survive it.
func TestAMinorUpgradeMigratesStoredVersions(t *testing.T) {
	ctx := context.Background()
	startInstaller(t)
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Wait: ptrTo(false), Distribution: apiv1.Distribution{Version: "2.6.x", Registry: "ghcr.io/fluxcd"},
			Components: []apiv1.Component{"source-controller", "kustomize-controller", "helm-controller", "notification-controller",
				"image-reflector-controller", "image-automation-controller"}}}
	createInstance(t, fi)
	waitReadyAt := func(version string) *apiv1.FluxInstance {
		t.Helper()
		var got *apiv1.FluxInstance
		require.NoError(t, testenv.Eventually(ctx, 90*time.Second, func(context.Context) error {
			got = getInstance(t)
			st, reason, msg := ready(got)
			if st != metav1.ConditionTrue || readyGeneration(got) != got.Generation {
				return fmt.Errorf("Ready %s %s: %s", st, reason, msg)
			}
			if v := got.Status.LastAppliedRevision; len(v) < len(version) || v[:len(version)] != version {
				return fmt.Errorf("applied %s, want %s", v, version)
			}
			return nil
		}))
		return got
	}
	waitReadyAt("v2.6.4@")

	// An object stored in v1beta2, as Flux v2.6.4 stores it.
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy",
		"metadata": map[string]any{"name": "app", "namespace": ns},
		"spec": map[string]any{"imageRepositoryRef": map[string]any{"name": "app"},
			"policy": map[string]any{"semver": map[string]any{"range": ">=1.0.0"}}},
	}}
	require.NoError(t, env.Client.Create(ctx, policy))

	patch := client.MergeFrom(getInstance(t).DeepCopy())
	up := getInstance(t)
	up.Spec.Distribution.Version = "2.7.x"
	require.NoError(t, env.Client.Patch(ctx, up, patch))

	// One minor at a time, as users upgrade: the object survives each step,
	// readable in the release's storage version.
	for _, step := range []struct{ version, want string }{{"2.7.x", "v2.7.5@"}, {"2.8.x", "v2.8.1@"}, {"2.x", "v2.9.5@"}} {
		if step.version != "2.7.x" {
			patch := client.MergeFrom(getInstance(t).DeepCopy())
			up := getInstance(t)
			up.Spec.Distribution.Version = step.version
			require.NoError(t, env.Client.Patch(ctx, up, patch))
		}
		waitReadyAt(step.want)
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "imagepolicies.image.toolkit.fluxcd.io"}, &crd))
		storage := ""
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				storage = v.Name
			}
		}
		assert.Contains(t, crd.Status.StoredVersions, storage, "%s: the storage version is not among the stored ones", step.want)
		got := &unstructured.Unstructured{}
		got.SetAPIVersion("image.toolkit.fluxcd.io/" + storage)
		got.SetKind("ImagePolicy")
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, got), "%s: the object is gone", step.want)
		r, _, _ := unstructured.NestedString(got.Object, "spec", "policy", "semver", "range")
		assert.Equal(t, ">=1.0.0", r, "%s: the object changed", step.want)
	}

	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "imagepolicies.image.toolkit.fluxcd.io"}, &crd))
	assert.Equal(t, []string{"v1"}, crd.Status.StoredVersions)
	var names []string
	for _, v := range crd.Spec.Versions {
		names = append(names, v.Name)
	}
	assert.Equal(t, []string{"v1"}, names, "the old versions are gone after the upgrade")
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("image.toolkit.fluxcd.io/v1")
	got.SetKind("ImagePolicy")
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, got), "the object survived the upgrade")
	r, _, _ := unstructured.NestedString(got.Object, "spec", "policy", "semver", "range")
	assert.Equal(t, ">=1.0.0", r)
	require.NoError(t, env.Client.Delete(ctx, got))
}
