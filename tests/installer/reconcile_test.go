package installer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const ns = "flux-system"

// startInstaller runs the installer's manager in the test process, wired as
// the binary wires it, and stops it at the end of the test.
func startInstaller(t *testing.T) { startInstallerWith(t, controller.Config{Namespace: ns}) }

func startInstallerWith(t *testing.T, cfg controller.Config, options ...func(*ctrl.Options)) {
	t.Helper()
	t.Cleanup(runInstaller(t, cfg, options...))
}

// runInstaller starts the installer as startInstaller does and returns what
// stops it, as SIGTERM would; the caller stops it.
func runInstaller(t *testing.T, cfg controller.Config, options ...func(*ctrl.Options)) (stop func()) {
	t.Helper()
	return runInstallerOn(t, env.Config, cfg, options...)
}

// runInstallerOn is runInstaller with the installer's clients made from
// restConfig (a request counter's, for instance).
func runInstallerOn(t *testing.T, restConfig *rest.Config, cfg controller.Config, options ...func(*ctrl.Options)) (stop func()) {
	t.Helper()
	ensureNamespace(t)
	mo := ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptrTo(true)}}
	for _, o := range options {
		o(&mo)
	}
	controller.ConfigureCache(ns, &mo)
	mgr, err := ctrl.NewManager(restConfig, mo)
	require.NoError(t, err)
	_, err = controller.Setup(mgr, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); require.NoError(t, <-done) }) }
}

func ptrTo[T any](v T) *T { return &v }

// ensureNamespace creates the runtime namespace, where the instance lives.
func ensureNamespace(t *testing.T) {
	t.Helper()
	err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	require.NoError(t, client.IgnoreAlreadyExists(err))
}

// createInstance creates the instance and uninstalls it at the end of the
// test.
func createInstance(t *testing.T, fi *apiv1.FluxInstance) {
	t.Helper()
	require.NoError(t, env.Client.Create(context.Background(), fi))
	uninstallOnCleanup(t, fi)
}

// uninstallOnCleanup deletes the instance at the end of the test and waits
// until the installer has uninstalled it, so the next test starts clean.
func uninstallOnCleanup(t *testing.T, fi *apiv1.FluxInstance) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		_ = env.Client.Delete(ctx, fi)
		err := testenv.Eventually(ctx, time.Minute, func(ctx context.Context) error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(fi), &apiv1.FluxInstance{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("not uninstalled yet: %v", err)
			}
			return nil
		})
		assert.NoError(t, err)
	})
}

func getInstance(t *testing.T) *apiv1.FluxInstance {
	t.Helper()
	fi := &apiv1.FluxInstance{}
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "flux"}, fi))
	return fi
}

// waitHandled asks for a reconciliation with requestedAt (and the also
// annotations, set to the same token) and waits until the installer has
// handled it, then returns the instance.
func waitHandled(t *testing.T, token string, also ...string) *apiv1.FluxInstance {
	t.Helper()
	ctx := context.Background()
	fi := getInstance(t)
	patch := client.MergeFrom(fi.DeepCopy())
	if fi.Annotations == nil {
		fi.Annotations = map[string]string{}
	}
	fi.Annotations[apiv1.ReconcileRequestAnnotation] = token
	for _, a := range also {
		fi.Annotations[a] = token
	}
	require.NoError(t, env.Client.Patch(ctx, fi, patch))
	var out *apiv1.FluxInstance
	require.NoError(t, testenv.Eventually(ctx, 60*time.Second, func(context.Context) error {
		out = getInstance(t)
		if out.Status.LastHandledReconcileAt != token {
			return fmt.Errorf("lastHandledReconcileAt %q, want %q; conditions %v", out.Status.LastHandledReconcileAt, token, out.Status.Conditions)
		}
		return nil
	}))
	return out
}

// waitInstanceReady waits up to a minute for the instance to be Ready and
// returns it.
func waitInstanceReady(t *testing.T) *apiv1.FluxInstance {
	t.Helper()
	var fi *apiv1.FluxInstance
	require.NoError(t, testenv.Eventually(context.Background(), 60*time.Second, func(context.Context) error {
		fi = getInstance(t)
		if st, reason, msg := ready(fi); st != metav1.ConditionTrue {
			return fmt.Errorf("Ready %s %s: %s", st, reason, msg)
		}
		return nil
	}))
	return fi
}

func ready(fi *apiv1.FluxInstance) (metav1.ConditionStatus, string, string) {
	c := fi.GetReadyCondition()
	if c == nil {
		return "", "", ""
	}
	return c.Status, c.Reason, c.Message
}

func deployment(t *testing.T, name string) (*appsv1.Deployment, error) {
	t.Helper()
	d := &appsv1.Deployment{}
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d)
	return d, err
}

func inventoryHas(fi *apiv1.FluxInstance, id string) bool {
	if fi.Status.Inventory == nil {
		return false
	}
	return slices.ContainsFunc(fi.Status.Inventory.Entries, func(e apiv1.ResourceRef) bool { return e.ID == id })
}

// The life of an instance on the real API server: install, a reconcile
// that changes nothing, drift repaired, a component removed and pruned
// while a prune-disabled object stays, a bad version that leaves the
// installation untouched, suspend, and uninstall.
func TestInstanceLifecycle(t *testing.T) {
	ctx := context.Background()
	startInstaller(t)

	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{
			Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
			Components: []apiv1.Component{"source-controller", "kustomize-controller", "helm-controller", "notification-controller",
				"image-reflector-controller", "image-automation-controller"},
			Wait: ptrTo(false),
		}}
	require.NoError(t, env.Client.Create(ctx, fi))

	// Installed.
	fi = waitInstanceReady(t)
	assert.Regexp(t, `^v2\.9\.5@sha256:[0-9a-f]{64}$`, fi.Status.LastAppliedRevision)
	assert.Equal(t, fi.Status.LastAppliedRevision, fi.Status.LastAttemptedRevision)
	assert.Contains(t, fi.Finalizers, apiv1.Finalizer)
	require.Len(t, fi.Status.Components, 6)
	assert.Equal(t, apiv1.ComponentImage{Name: "source-controller", Repository: "ghcr.io/fluxcd/source-controller", Tag: "v1.9.5",
		Digest: fi.Status.Components[0].Digest}, fi.Status.Components[0])
	assert.True(t, inventoryHas(fi, "flux-system_source-controller_apps_Deployment"), "inventory: %v", fi.Status.Inventory)
	assert.True(t, inventoryHas(fi, "_gitrepositories.source.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition"))
	require.Len(t, fi.Status.History, 1)
	assert.Equal(t, "Succeeded", fi.Status.History[0].LastReconciledStatus)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "gitrepositories.source.toolkit.fluxcd.io"}, &crd))
	assert.Equal(t, "flux-operator", crd.Labels["app.kubernetes.io/managed-by"])
	assert.Equal(t, "v2.9.5", crd.Labels["app.kubernetes.io/version"])
	sc, err := deployment(t, "source-controller")
	require.NoError(t, err)
	assert.Equal(t, "flux", sc.Labels["fluxcd.controlplane.io/name"])

	// A reconciliation with nothing to do changes nothing.
	before := sc.ResourceVersion
	fi = waitHandled(t, "noop")
	sc, err = deployment(t, "source-controller")
	require.NoError(t, err)
	assert.Equal(t, before, sc.ResourceVersion, "a no-op reconcile rewrote the Deployment")
	assert.Equal(t, int64(2), fi.Status.History[0].TotalReconciliations, "the history merges repeated outcomes")

	// Drift is repaired.
	patch := client.MergeFrom(sc.DeepCopy())
	sc.Spec.Template.Spec.Containers[0].Args = append(sc.Spec.Template.Spec.Containers[0].Args, "--log-level=debug")
	require.NoError(t, env.Client.Patch(ctx, sc, patch, client.FieldOwner("someone")))
	waitHandled(t, "drift")
	sc, err = deployment(t, "source-controller")
	require.NoError(t, err)
	assert.NotContains(t, sc.Spec.Template.Spec.Containers[0].Args, "--log-level=debug", "drift was not repaired")

	// A forced request is echoed in status.lastHandledForceAt, as Flux's
	// controllers and the Flux Operator do; a plain request after it is not.
	fi = waitHandled(t, "forced", apiv1.ForceRequestAnnotation)
	assert.Equal(t, "forced", fi.Status.LastHandledForceAt)
	fi = waitHandled(t, "plain")
	assert.Equal(t, "forced", fi.Status.LastHandledForceAt, "a plain request changed lastHandledForceAt")

	// A removed component is pruned; an object marked prune-disabled stays.
	ia, err := deployment(t, "image-automation-controller")
	require.NoError(t, err)
	patch = client.MergeFrom(ia.DeepCopy())
	ia.Annotations["fluxcd.controlplane.io/prune"] = "disabled"
	require.NoError(t, env.Client.Patch(ctx, ia, patch))
	fi = getInstance(t)
	patch = client.MergeFrom(fi.DeepCopy())
	fi.Spec.Components = fi.Spec.Components[:4]
	require.NoError(t, env.Client.Patch(ctx, fi, patch))
	require.NoError(t, testenv.Eventually(ctx, 60*time.Second, func(context.Context) error {
		if _, err := deployment(t, "image-reflector-controller"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("image-reflector-controller not pruned: %v", err)
		}
		if fi = getInstance(t); readyGeneration(fi) != fi.Generation || len(fi.Status.Components) != 4 {
			return fmt.Errorf("status not written for generation %d yet: %v", fi.Generation, fi.Status.Components)
		}
		return nil
	}))
	_, err = deployment(t, "image-automation-controller")
	assert.NoError(t, err, "a prune-disabled Deployment was deleted")
	assert.False(t, inventoryHas(fi, "flux-system_image-reflector-controller_apps_Deployment"))
	assert.Equal(t, metav1.ConditionTrue, fi.GetReadyCondition().Status)

	// A bad version: BuildFailed, stalled, and the installation untouched.
	applied := fi.Status.LastAppliedRevision
	patch = client.MergeFrom(fi.DeepCopy())
	fi.Spec.Distribution.Version = "3.x"
	require.NoError(t, env.Client.Patch(ctx, fi, patch))
	require.NoError(t, testenv.Eventually(ctx, 60*time.Second, func(context.Context) error {
		fi = getInstance(t)
		if st, reason, _ := ready(fi); st != metav1.ConditionFalse || reason != apiv1.BuildFailedReason {
			return fmt.Errorf("Ready %s %s", st, reason)
		}
		return nil
	}))
	_, _, msg := ready(fi)
	assert.Contains(t, msg, `spec.distribution.version "3.x" matches none of the available Flux releases (v2.9.5, v2.8.1, v2.7.5, v2.6.4)`)
	stalled := apimetaFind(fi.Status.Conditions, apiv1.StalledCondition)
	require.NotNil(t, stalled)
	assert.Equal(t, metav1.ConditionTrue, stalled.Status)
	assert.Equal(t, applied, fi.Status.LastAppliedRevision)
	_, err = deployment(t, "source-controller")
	assert.NoError(t, err, "a failed build removed the installation")

	// Suspended: a spec change is not acted on.
	patch = client.MergeFrom(fi.DeepCopy())
	fi.Spec.Distribution.Version = "2.x"
	fi.Annotations[apiv1.ReconcileAnnotation] = apiv1.DisabledValue
	require.NoError(t, env.Client.Patch(ctx, fi, patch))
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		fi = getInstance(t)
		if _, reason, _ := ready(fi); reason != apiv1.ReconciliationDisabledReason {
			return fmt.Errorf("Ready reason %s", reason)
		}
		return nil
	}))
	resumed := fi.DeepCopy()
	patch = client.MergeFrom(resumed.DeepCopy())
	delete(resumed.Annotations, apiv1.ReconcileAnnotation)
	require.NoError(t, env.Client.Patch(ctx, resumed, patch))
	require.NoError(t, testenv.Eventually(ctx, 60*time.Second, func(context.Context) error {
		fi = getInstance(t)
		if st, reason, msg := ready(fi); st != metav1.ConditionTrue || reason != apiv1.ReconciliationSucceededReason {
			return fmt.Errorf("Ready %s %s: %s", st, reason, msg)
		}
		return nil
	}))

	// Uninstall: a Flux object with a finalizer does not block it, the CRDs
	// and controllers go, the namespace stays.
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"name": "app", "namespace": ns, "finalizers": []any{"finalizers.fluxcd.io"}},
		"spec":     map[string]any{"url": "https://github.com/example/app", "interval": "1m"},
	}}
	require.NoError(t, env.Client.Create(ctx, repo))
	require.NoError(t, env.Client.Delete(ctx, getInstance(t)))
	require.NoError(t, testenv.Eventually(ctx, 60*time.Second, func(context.Context) error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, &apiv1.FluxInstance{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the instance is still there: %v", err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "gitrepositories.source.toolkit.fluxcd.io"}, &apiextensionsv1.CustomResourceDefinition{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the GitRepository CRD is still there: %v", err)
		}
		return nil
	}))
	_, err = deployment(t, "source-controller")
	assert.True(t, apierrors.IsNotFound(err), "source-controller survived the uninstall: %v", err)
	var namespace corev1.Namespace
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: ns}, &namespace))
	assert.True(t, namespace.DeletionTimestamp.IsZero(), "the namespace was deleted")
	kept, err := deployment(t, "image-automation-controller")
	assert.NoError(t, err, "a prune-disabled Deployment was deleted by the uninstall")
	if err == nil {
		require.NoError(t, env.Client.Delete(ctx, kept)) // what its owner would do next
	}
}

func readyGeneration(fi *apiv1.FluxInstance) int64 {
	if c := fi.GetReadyCondition(); c != nil && c.Reason != apiv1.ProgressingReason && c.Reason != apiv1.ProgressingWithRetryReason {
		return c.ObservedGeneration
	}
	return -1
}

func apimetaFind(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}
