package installer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// deploymentVersions are the resourceVersions of the Flux Deployments: a
// reconciliation that failed must not change any of them.
func deploymentVersions(t *testing.T) map[string]string {
	t.Helper()
	var list appsv1.DeploymentList
	require.NoError(t, env.Client.List(context.Background(), &list, client.InNamespace(ns),
		client.MatchingLabels{"app.kubernetes.io/part-of": "flux"}))
	out := map[string]string{}
	for _, d := range list.Items {
		out[d.Name] = d.ResourceVersion
	}
	return out
}

// patchSpec changes the instance's spec as a user would with kubectl patch.
func patchSpec(t *testing.T, change func(*apiv1.FluxInstanceSpec)) {
	t.Helper()
	fi := getInstance(t)
	patch := client.MergeFrom(fi.DeepCopy())
	change(&fi.Spec)
	require.NoError(t, env.Client.Patch(context.Background(), fi, patch))
}

// waitReason waits until the instance reports reason for its current
// generation and returns the Ready message.
func waitReason(t *testing.T, status metav1.ConditionStatus, reason string) string {
	t.Helper()
	var msg string
	require.NoError(t, testenv.Eventually(context.Background(), 90*time.Second, func(context.Context) error {
		fi := getInstance(t)
		c := fi.GetReadyCondition()
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != fi.Generation {
			return fmt.Errorf("Ready %+v, want %s %s for generation %d", c, status, reason, fi.Generation)
		}
		msg = c.Message
		return nil
	}))
	return msg
}

// warningEvent waits for a Warning event with reason on the instance, as
// `kubectl events --for fluxinstance/flux --types Warning` lists it, and
// returns its note.
func warningEvent(t *testing.T, reason string) string {
	t.Helper()
	var note string
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(ctx context.Context) error {
		var list eventsv1.EventList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == apiv1.FluxInstanceKind && e.Regarding.Name == "flux" && e.Type == corev1.EventTypeWarning &&
				e.Reason == reason {
				note = e.Note
				return nil
			}
		}
		return fmt.Errorf("no Warning %s event among %d", reason, len(list.Items))
	}))
	return note
}

// denyDeployment makes the API server refuse the Deployment named name with
// a ValidatingAdmissionPolicy, as a quota or a policy engine would, and
// returns a function that lifts the refusal.
func denyDeployment(t *testing.T, name string) func() {
	t.Helper()
	ctx := context.Background()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "no-" + name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptrTo(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"},
						Resources: []string{"deployments"}},
				}}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("object.metadata.name != %q", name),
				Message:    "the controller quota of this cluster is used up",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "no-" + name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	require.NoError(t, env.Client.Create(ctx, policy))
	require.NoError(t, env.Client.Create(ctx, binding))
	lift := func() {
		_ = env.Client.Delete(ctx, binding)
		_ = env.Client.Delete(ctx, policy)
	}
	t.Cleanup(lift)
	// The policy takes effect once the API server has loaded it.
	probe := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/c"}}}}}}
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return nil
		}
		return fmt.Errorf("the policy is not in force yet: %v", err)
	}))
	return lift
}

// Bad input never touches the running installation: a broken patch, an
// unreachable artifact and an object the API server refuses each fail the
// instance with the reason and a Warning event, no Flux Deployment is
// changed or deleted, and the instance converges once the input is fixed.
func TestBadInputLeavesTheInstallationUntouched(t *testing.T) {
	startInstaller(t)
	createInstance(t, &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}, Wait: ptrTo(false)}})
	waitReason(t, metav1.ConditionTrue, apiv1.ReconciliationSucceededReason)
	installed := deploymentVersions(t)
	require.Len(t, installed, 4)
	applied := getInstance(t).Status.LastAppliedRevision

	// A patch that cannot be applied to the build.
	patchSpec(t, func(s *apiv1.FluxInstanceSpec) {
		s.Kustomize = &apiv1.Kustomize{Patches: []apiv1.Patch{{
			Target: &apiv1.PatchSelector{Kind: "Deployment", Name: "source-controller"},
			Patch:  "- op: replace\n  path: /spec/template/spec/nosuchfield/0\n  value: x\n",
		}}}
	})
	msg := waitReason(t, metav1.ConditionFalse, apiv1.BuildFailedReason)
	assert.Contains(t, msg, "build failed")
	assert.Contains(t, warningEvent(t, apiv1.BuildFailedReason), "build failed")
	assert.Equal(t, installed, deploymentVersions(t), "a failed build changed the installation")
	assert.Equal(t, applied, getInstance(t).Status.LastAppliedRevision)

	// An artifact on a registry nobody listens on.
	patchSpec(t, func(s *apiv1.FluxInstanceSpec) {
		s.Kustomize = nil
		s.Distribution.Artifact = "oci://127.0.0.1:9/flux-operator-manifests"
	})
	msg = waitReason(t, metav1.ConditionFalse, apiv1.ArtifactFailedReason)
	assert.Contains(t, msg, "oci://127.0.0.1:9/flux-operator-manifests")
	assert.Contains(t, warningEvent(t, apiv1.ArtifactFailedReason), "127.0.0.1:9")
	assert.Nil(t, apimetaFind(getInstance(t).Status.Conditions, apiv1.StalledCondition),
		"an unreachable registry is retried, not stalled")
	assert.Equal(t, installed, deploymentVersions(t), "an unreachable artifact changed the installation")

	// A new component whose Deployment the API server refuses: what could be
	// applied is applied and in the inventory, nothing else is touched.
	lift := denyDeployment(t, "image-reflector-controller")
	patchSpec(t, func(s *apiv1.FluxInstanceSpec) {
		s.Distribution.Artifact = ""
		s.Components = append(append([]apiv1.Component(nil), apiv1.DefaultComponents...), "image-reflector-controller")
	})
	msg = waitReason(t, metav1.ConditionFalse, apiv1.ReconciliationFailedReason)
	assert.Contains(t, msg, "image-reflector-controller")
	assert.Contains(t, msg, "the controller quota of this cluster is used up")
	assert.Contains(t, warningEvent(t, apiv1.ReconciliationFailedReason), "the controller quota of this cluster is used up")
	fi := getInstance(t)
	assert.True(t, inventoryHas(fi, "_imagerepositories.image.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition"),
		"the CRDs applied before the refusal are not in the inventory: %v", fi.Status.Inventory)
	assert.True(t, inventoryHas(fi, "flux-system_source-controller_apps_Deployment"), "a failed apply dropped inventory entries")
	assert.Equal(t, installed, deploymentVersions(t), "a refused apply changed the running controllers")
	assert.Equal(t, applied, fi.Status.LastAppliedRevision)

	// The refusal lifted, the retry converges without anyone asking.
	lift()
	waitReason(t, metav1.ConditionTrue, apiv1.ReconciliationSucceededReason)
	_, err := deployment(t, "image-reflector-controller")
	assert.NoError(t, err)
	fi = getInstance(t)
	assert.True(t, inventoryHas(fi, "flux-system_image-reflector-controller_apps_Deployment"))
	assert.Len(t, fi.Status.Components, 5)
	for name, rv := range installed {
		d, err := deployment(t, name)
		require.NoError(t, err)
		assert.Equal(t, rv, d.ResourceVersion, "%s was rewritten by a change that did not concern it", name)
	}
}
