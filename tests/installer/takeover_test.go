package installer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// A Flux first installed with kubectl (client-side, field manager kubectl,
// the last-applied annotation) is taken over by an instance: the same
// objects, now owned by flux-operator, no kubectl fields or annotation left,
// no duplicates.
func TestAnInstanceTakesOverAFluxInstalledWithKubectl(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t)
	spec := apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}, Wait: ptrTo(false)}
	res := buildSpec(t, spec)
	applyDefinitions(t, res.Objects)
	for _, o := range res.Objects {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
			continue
		}
		u := o.DeepCopy()
		// What `kubectl apply` leaves: no operator labels, its annotation.
		labels := u.GetLabels()
		delete(labels, "fluxcd.controlplane.io/name")
		delete(labels, "fluxcd.controlplane.io/namespace")
		u.SetLabels(labels)
		annotations := u.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[corev1.LastAppliedConfigAnnotation] = `{"kind":"` + u.GetKind() + `"}`
		u.SetAnnotations(annotations)
		err := env.Client.Create(ctx, u, client.FieldOwner("kubectl"))
		require.NoError(t, client.IgnoreAlreadyExists(err), "%s %s", u.GetKind(), u.GetName())
	}

	startInstaller(t)
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns}, Spec: spec}
	createInstance(t, fi)
	waitInstanceReady(t)

	var list appsv1.DeploymentList
	require.NoError(t, env.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/part-of": "flux"}))
	assert.Len(t, list.Items, 4, "no duplicate controllers")
	sc, err := deployment(t, "source-controller")
	require.NoError(t, err)
	assert.NotContains(t, sc.Annotations, corev1.LastAppliedConfigAnnotation)
	assert.Equal(t, "flux", sc.Labels["fluxcd.controlplane.io/name"])
	var managers []string
	for _, m := range sc.ManagedFields {
		managers = append(managers, m.Manager+"/"+string(m.Operation))
	}
	assert.Contains(t, managers, "flux-operator/Apply")
	assert.NotContains(t, managers, "kubectl/Update", "kubectl still owns fields of the Deployment: %v", managers)
}
