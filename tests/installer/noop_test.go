package installer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// reconcileCounted asks for a reconciliation and returns the installer's
// requests for it, up to and including the FluxReport refresh request it
// ends with.
func reconcileCounted(t *testing.T, rc *testenv.RequestCounter, token string, also ...string) []testenv.Request {
	t.Helper()
	mark := rc.Count()
	waitHandled(t, token, also...)
	var reqs []testenv.Request
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		reqs = rc.Since(mark)
		for i, r := range reqs {
			if r.Method == "PATCH" && strings.HasSuffix(r.Path, "/fluxreports/flux") {
				reqs = reqs[:i+1]
				return nil
			}
		}
		return fmt.Errorf("the reconciliation has not asked for a report yet: %d requests", len(reqs))
	}))
	return withoutWatches(reqs)
}

// withoutWatches drops the cache's watch requests, which come whenever
// the API server ends a watch, not because of a reconciliation.
func withoutWatches(reqs []testenv.Request) []testenv.Request {
	var out []testenv.Request
	for _, r := range reqs {
		if !r.Watch {
			out = append(out, r)
		}
	}
	return out
}

func dryRuns(reqs []testenv.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.DryRun {
			out = append(out, r.Path)
		}
	}
	return out
}

// writes are the requests that change something, but the instance's status
// and the report request every reconciliation ends with.
func writes(reqs []testenv.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method == "GET" || r.DryRun || strings.HasSuffix(r.Path, "/fluxinstances/flux/status") ||
			strings.HasSuffix(r.Path, "/fluxreports/flux") {
			continue
		}
		out = append(out, r.String())
	}
	return out
}

// A reconciliation of an installed revision with nothing changed lists the
// objects' metadata instead of a server-side dry-run per object: at most 30
// requests (INSTALLER.md), no dry-run, no write, the objects untouched.
func TestANoopReconcileComparesWithWhatWasApplied(t *testing.T) {
	rc := &testenv.RequestCounter{}
	startInstallerWith0(t, rc)
	fi := waitInstanceReady(t)
	objects := len(fi.Status.Inventory.Entries)
	require.Greater(t, objects, 25, "a default instance has its CRDs, RBAC, Services and Deployments")
	sc, err := deployment(t, "source-controller")
	require.NoError(t, err)

	reqs := reconcileCounted(t, rc, "noop-1")
	t.Logf("a no-op reconciliation of %d objects: %d requests\n%s", objects, len(reqs), requestLines(reqs))
	assert.LessOrEqual(t, len(reqs), 30, "requests of a no-op reconciliation")
	assert.Empty(t, dryRuns(reqs), "a no-op reconciliation dry-ran objects")
	assert.Empty(t, writes(reqs), "a no-op reconciliation wrote objects")
	after, err := deployment(t, "source-controller")
	require.NoError(t, err)
	assert.Equal(t, sc.ResourceVersion, after.ResourceVersion)

	// A status write (the Deployment controller's rollout status) is not
	// drift.
	status := after.DeepCopy()
	status.Status.ObservedGeneration = after.Generation
	status.Status.Replicas, status.Status.ReadyReplicas, status.Status.AvailableReplicas = 1, 1, 1
	require.NoError(t, env.Client.Status().Update(context.Background(), status, client.FieldOwner("kube-controller-manager")))
	reqs = reconcileCounted(t, rc, "noop-2")
	assert.Empty(t, dryRuns(reqs), "a status write was taken for drift")

	// A forced reconciliation compares every object with a dry-run.
	reqs = reconcileCounted(t, rc, "forced", apiv1.ForceRequestAnnotation)
	assert.Len(t, dryRuns(reqs), objects, "a forced reconciliation dry-runs every object")
	assert.Empty(t, writes(reqs), "a forced reconciliation with nothing changed wrote objects")
}

func startInstallerWith0(t *testing.T, rc *testenv.RequestCounter) {
	t.Helper()
	stop := runInstallerOn(t, rc.Config(env.Config), controller.Config{Namespace: ns})
	t.Cleanup(stop)
	createInstance(t, &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
			Wait: ptrTo(false)}})
}

// settles checks that what was just applied is recorded: the next
// reconciliation dry-runs at most the objects written in the same second as
// the installer's apply (whose order the API server's timestamps cannot
// tell), the one after none.
func settles(t *testing.T, rc *testenv.RequestCounter, token string) {
	t.Helper()
	reqs := reconcileCounted(t, rc, token+"-a")
	if d := dryRuns(reqs); len(d) > 0 {
		assert.LessOrEqual(t, len(d), 1, "dry-runs after a repair: %v", d)
		reqs = reconcileCounted(t, rc, token+"-b")
	}
	assert.Empty(t, dryRuns(reqs), "what was applied is not recorded")
}

func requestLines(reqs []testenv.Request) string {
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString("  " + r.String() + "\n")
	}
	return b.String()
}

// Drift made by other field managers, and by no manager at all (a deletion),
// is found by the comparison with what was applied and repaired with a
// dry-run and apply of the changed object alone.
func TestDriftIsRepairedWithoutADryRunPerObject(t *testing.T) {
	ctx := context.Background()
	rc := &testenv.RequestCounter{}
	startInstallerWith0(t, rc)
	waitInstanceReady(t)
	reconcileCounted(t, rc, "settled")

	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
	cases := []struct {
		name  string
		drift func(t *testing.T)
		// repaired says what is still wrong, "" when repaired.
		repaired func(t *testing.T) string
	}{{
		name: "a merge patch by another field manager",
		drift: func(t *testing.T) {
			d, err := deployment(t, "source-controller")
			require.NoError(t, err)
			patch := client.MergeFrom(d.DeepCopy())
			d.Spec.Template.Spec.Containers[0].Args = append(d.Spec.Template.Spec.Containers[0].Args, "--log-level=debug")
			require.NoError(t, env.Client.Patch(ctx, d, patch, client.FieldOwner("kubectl-edit")))
		},
		repaired: func(t *testing.T) string {
			d, err := deployment(t, "source-controller")
			require.NoError(t, err)
			if args := d.Spec.Template.Spec.Containers[0].Args; strings.Contains(strings.Join(args, " "), "--log-level=debug") {
				return fmt.Sprintf("args %v", args)
			}
			return ""
		},
	}, {
		name: "a server-side apply by another owner, forced",
		drift: func(t *testing.T) {
			d := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": "kustomize-controller", "namespace": ns},
				"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
					"containers": []any{map[string]any{"name": "manager", "image": "example.com/intruder:1"}}}}}}}
			require.NoError(t, env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(d),
				client.FieldOwner("intruder"), client.ForceOwnership))
		},
		repaired: func(t *testing.T) string {
			d, err := deployment(t, "kustomize-controller")
			require.NoError(t, err)
			if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "ghcr.io/fluxcd/kustomize-controller:") {
				return "image " + img
			}
			return ""
		},
	}, {
		name: "a ClusterRole's rules replaced",
		drift: func(t *testing.T) {
			cr := &rbacv1.ClusterRole{}
			require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "crd-controller-" + ns}, cr))
			cr.Rules = cr.Rules[:1]
			require.NoError(t, env.Client.Update(ctx, cr, client.FieldOwner("kubectl-replace")))
		},
		repaired: func(t *testing.T) string {
			cr := &rbacv1.ClusterRole{}
			require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "crd-controller-" + ns}, cr))
			if len(cr.Rules) < 2 {
				return fmt.Sprintf("%d rules", len(cr.Rules))
			}
			return ""
		},
	}, {
		name: "a deleted ServiceAccount",
		drift: func(t *testing.T) {
			require.NoError(t, env.Client.Delete(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "helm-controller", Namespace: ns}}))
		},
		repaired: func(*testing.T) string {
			if err := env.Client.Get(ctx, key("helm-controller"), &corev1.ServiceAccount{}); err != nil {
				return err.Error()
			}
			return ""
		},
	}, {
		name: "the owner label removed",
		drift: func(t *testing.T) {
			svc := &corev1.Service{}
			require.NoError(t, env.Client.Get(ctx, key("source-controller"), svc))
			patch := client.MergeFrom(svc.DeepCopy())
			delete(svc.Labels, "fluxcd.controlplane.io/name")
			require.NoError(t, env.Client.Patch(ctx, svc, patch, client.FieldOwner("kubectl-label")))
		},
		repaired: func(t *testing.T) string {
			svc := &corev1.Service{}
			require.NoError(t, env.Client.Get(ctx, key("source-controller"), svc))
			if svc.Labels["fluxcd.controlplane.io/name"] != "flux" {
				return fmt.Sprintf("labels %v", svc.Labels)
			}
			return ""
		},
	}, {
		name: "scaled through the scale subresource",
		drift: func(t *testing.T) {
			d, err := deployment(t, "helm-controller")
			require.NoError(t, err)
			scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
			require.NoError(t, env.Client.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale),
				client.FieldOwner("kubectl-scale")))
		},
		repaired: func(t *testing.T) string {
			d, err := deployment(t, "helm-controller")
			require.NoError(t, err)
			if r := *d.Spec.Replicas; r != 1 {
				return fmt.Sprintf("%d replicas", r)
			}
			return ""
		},
	}}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.drift(t)
			require.NotEmpty(t, c.repaired(t), "the drift was not made")
			reqs := reconcileCounted(t, rc, fmt.Sprintf("drift-%d", i))
			assert.Empty(t, c.repaired(t), "drift not repaired")
			assert.Len(t, dryRuns(reqs), 1, "only the changed object is dry-run:\n%s", requestLines(reqs))
			fi := getInstance(t)
			assert.Equal(t, metav1.ConditionTrue, fi.GetReadyCondition().Status, fi.GetReadyCondition().Message)

			settles(t, rc, fmt.Sprintf("after-drift-%d", i))
		})
	}
}

// The record is in memory: an installer that starts compares everything
// once, so drift made while it was down is repaired.
func TestDriftMadeWhileTheInstallerWasDownIsRepaired(t *testing.T) {
	ctx := context.Background()
	rc := &testenv.RequestCounter{}
	stop := runInstallerOn(t, rc.Config(env.Config), controller.Config{Namespace: ns})
	t.Cleanup(stop)
	inst := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
			Wait: ptrTo(false)}}
	require.NoError(t, env.Client.Create(ctx, inst))
	fi := waitInstanceReady(t)
	reconcileCounted(t, rc, "before-restart")
	stop()

	// Drift made while down, in a write that also clears the managedFields
	// (managedFields: [{}]), so no trace of who made it is left.
	d, err := deployment(t, "notification-controller")
	require.NoError(t, err)
	d.Spec.Template.Spec.Containers[0].Args = append(d.Spec.Template.Spec.Containers[0].Args, "--log-level=debug")
	d.ManagedFields = []metav1.ManagedFieldsEntry{{}}
	require.NoError(t, env.Client.Update(ctx, d))

	rc2 := &testenv.RequestCounter{}
	t.Cleanup(runInstallerOn(t, rc2.Config(env.Config), controller.Config{Namespace: ns}))
	uninstallOnCleanup(t, inst) // before the second installer stops
	reqs := reconcileCounted(t, rc2, "after-restart")
	assert.Len(t, dryRuns(reqs), len(fi.Status.Inventory.Entries), "an installer that starts compares every object")
	d, err = deployment(t, "notification-controller")
	require.NoError(t, err)
	assert.NotContains(t, d.Spec.Template.Spec.Containers[0].Args, "--log-level=debug", "drift made while down was not repaired")
	settles(t, rc2, "after-restart")
}
