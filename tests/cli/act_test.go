package cli_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

func fluxObject(t *testing.T, kind fixtures.Kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(kind.GVK)
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u))
	return u
}

// opsNS holds the objects the actions change, created and deleted by each
// test, so that the golden outputs of the other tests never see them.
const opsNS = "ops"

// opsObject creates a Flux object in opsNS for the test's length.
func opsObject(t *testing.T, kind fixtures.Kind, name string, opts ...fixtures.Option) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opsNS}}
	require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(ctx, ns)))
	u, err := kind.Create(ctx, env.Client, opsNS, name, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, env.Client.Delete(context.Background(), u)) })
}

func TestSuspendAndResumeRoundTrip(t *testing.T) {
	opsObject(t, fixtures.Kustomization, "infra", fixtures.Ready("True", "ReconciliationSucceeded", "Applied revision: main@sha1:0123"))
	out, errOut, code := cli(t, "", "suspend", "kustomization/infra", "-n", opsNS)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "✔ Kustomization ops/infra suspended\n", out)
	u := fluxObject(t, fixtures.Kustomization, opsNS, "infra")
	s, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend")
	assert.True(t, s)
	list, _, _ := cli(t, "", "get", "resources", "-n", opsNS, "--suspended")
	assert.Contains(t, list, "Kustomization   infra   Suspended")

	out, errOut, code = cli(t, "", "resume", "kustomization/infra", "-n", opsNS)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "► reconciliation of Kustomization ops/infra requested\n✔ Kustomization ops/infra resumed\n", out)
	u = fluxObject(t, fixtures.Kustomization, opsNS, "infra")
	s, _, _ = unstructured.NestedBool(u.Object, "spec", "suspend")
	assert.False(t, s)
	assert.NotEmpty(t, u.GetAnnotations()[apiv1.ReconcileRequestAnnotation], "resuming asks for a reconcile")

	_, errOut, code = cli(t, "", "suspend", "instance")
	require.Equal(t, 0, code, errOut)
	fi := &apiv1.FluxInstance{}
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: runtimeNS, Name: "flux"}, fi))
	assert.Equal(t, apiv1.DisabledValue, fi.Annotations[apiv1.ReconcileAnnotation])
	_, errOut, code = cli(t, "", "resume", "instance")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: runtimeNS, Name: "flux"}, fi))
	assert.Equal(t, apiv1.EnabledValue, fi.Annotations[apiv1.ReconcileAnnotation])

	_, errOut, code = cli(t, "", "suspend", "kustomization/nothing", "-n", opsNS)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Kustomization ops/nothing does not exist")
	_, errOut, code = cli(t, "", "suspend", "report")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "the FluxReport cannot be suspended or resumed here")

	kc, err := env.UserKubeconfig("viewer-only")
	require.NoError(t, err)
	_, errOut, code = cli(t, kc, "suspend", "instance")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `User "viewer-only" cannot patch resource "fluxinstances"`)
}

// standIn does what a Flux controller does with a reconcile request: once
// the object carries one, it writes status.lastHandledReconcileAt with it
// and the Ready condition status, reason and message.
func standIn(t *testing.T, kind fixtures.Kind, ns, name, status, reason, message string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	go func() {
		defer cancel()
		_ = testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(kind.GVK)
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
				return err
			}
			token := u.GetAnnotations()[apiv1.ReconcileRequestAnnotation]
			handled, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledReconcileAt")
			if token == "" || token == handled {
				return assert.AnError
			}
			_ = unstructured.SetNestedField(u.Object, token, "status", "lastHandledReconcileAt")
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": status, "reason": reason,
				"message": message, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}, "status", "conditions")
			return env.Client.Status().Update(ctx, u)
		})
	}()
	t.Cleanup(func() { <-ctx.Done() })
}

func TestReconcileWaitsAndExitsByTheOutcome(t *testing.T) {
	opsObject(t, fixtures.GitRepository, "fleet")
	opsObject(t, fixtures.Kustomization, "app")
	opsObject(t, fixtures.HelmRepository, "charts")
	standIn(t, fixtures.GitRepository, opsNS, "fleet", "True", "Succeeded", "stored artifact for revision 'main@sha1:4567'")
	out, errOut, code := cli(t, "", "reconcile", "gitrepository/fleet", "-n", opsNS, "--wait", "--timeout", "30s")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "◎ waiting for GitRepository ops/fleet to reconcile\n✔ GitRepository ops/fleet reconciled: stored artifact for revision 'main@sha1:4567'\n", out)

	standIn(t, fixtures.Kustomization, opsNS, "app", "False", "BuildFailed", "kustomize build failed: missing.yaml")
	_, errOut, code = cli(t, "", "reconcile", "kustomization/app", "-n", opsNS, "--wait", "--timeout", "30s")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Error: Kustomization ops/app failed: BuildFailed: kustomize build failed: missing.yaml")

	// Nobody handles the request: the wait ends at --timeout and says where to look.
	_, errOut, code = cli(t, "", "reconcile", "helmrepository/charts", "-n", opsNS, "--wait", "--timeout", "2s")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "HelmRepository ops/charts did not finish reconciling within --timeout: see its events (kubectl -n ops events --for helmrepository/charts)")

	out, _, code = cli(t, "", "reconcile", "report")
	assert.Equal(t, 0, code)
	assert.Equal(t, "► reconciliation of FluxReport flux-system/flux requested\n", out)
}
