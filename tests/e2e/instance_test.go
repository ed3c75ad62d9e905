//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const exporterMetrics = "127.0.0.1:19580"

func instance(ctx context.Context) (*apiv1.FluxInstance, error) {
	fi := &apiv1.FluxInstance{}
	return fi, k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux"}, fi)
}

// waitReady waits until the instance is Ready for its current generation
// and returns it.
func waitReady(t *testing.T, timeout time.Duration) *apiv1.FluxInstance {
	t.Helper()
	var fi *apiv1.FluxInstance
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(ctx context.Context) error {
		var err error
		if fi, err = instance(ctx); err != nil {
			return err
		}
		c := fi.GetReadyCondition()
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != fi.Generation ||
			c.Reason != apiv1.ReconciliationSucceededReason {
			return fmt.Errorf("not ready: %+v", c)
		}
		return nil
	}))
	return fi
}

func available(ctx context.Context, name string) error {
	var d appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: name}, &d); err != nil {
		return err
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.UpdatedReplicas == 1 {
			return nil
		}
	}
	return fmt.Errorf("%s is not available: %+v", name, d.Status)
}

func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(context.Background(), args...)
	require.NoError(t, err, out)
	return out
}

func storedVersions(t *testing.T, crd string) []string {
	t.Helper()
	var c apiextensionsv1.CustomResourceDefinition
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: crd}, &c))
	return c.Status.StoredVersions
}

// The life of a FluxInstance on a cluster that runs pods, as a user lives
// it with kubectl: install from the sample, the report and the metrics
// follow, alerts reach a receiver, an upgrade migrates stored versions, bad
// input and a failed health check are reported by name, suspend, an
// installer killed in the middle of an apply, and uninstall.
func TestAFluxInstanceOnTheLocalCluster(t *testing.T) {
	l := &instanceLife{}
	testEnv.Test(t, features.New("a FluxInstance installs, upgrades, reports and removes Flux").
		Setup(step(l.start)).
		Assess("kubectl apply of the sample installs Flux v2.6.4, its Deployments become Available and the events say so",
			step(l.install)).
		Assess("the FluxReport shows the components ready and the distribution installed by flux-operator", step(l.reported)).
		Assess("no Flux controller may write a FluxInstance, which is as good as cluster-admin; notification-controller may read it",
			step(l.rbac)).
		Assess("flux_instance_info shows the instance ready at v2.6.4", step(l.series)).
		Assess("the seed's Provider and Alert are accepted and the receiver gets the installer's events", step(l.alerting)).
		Assess("upgrades one minor at a time, v2.7.5, v2.8.1, v2.9.5, migrate the stored versions and keep an object of every Flux kind", step(l.upgrade)).
		Assess("an invalid version is refused with a Warning BuildFailed event naming the value, and Flux keeps running",
			step(l.invalidVersion)).
		Assess("a Deployment that cannot be scheduled fails the health check by name", step(l.unschedulable)).
		Assess("a suspended instance says ReconciliationDisabled and flux_instance_info shows it suspended", step(l.suspend)).
		Assess("an installer killed in the middle of an apply converges after a restart, without orphans or duplicates",
			step(l.killedMidApply)).
		Assess("deleting the instance removes Flux, keeps the namespace, and flux_instance_info goes", step(l.uninstall)).
		Feature())
}

// instanceLife is what the steps of TestAFluxInstanceOnTheLocalCluster
// share: the binaries run for the whole feature.
type instanceLife struct {
	installer *binary
	rc        *receiver
}

// instanceComponents are the components of the sample, as the test installs it.
var instanceComponents = []string{"source-controller", "kustomize-controller", "helm-controller", "notification-controller",
	"image-reflector-controller"}

// start applies the operator's CRDs and namespace, as the install guide
// does, and starts the three binaries.
func (l *instanceLife) start(t *testing.T) {
	mustKubectl(t, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(testenv.RepoRoot(), "config", "crd"))
	_, _ = kubectl(context.Background(), "create", "namespace", "flux-system")
	l.rc = startReceiver(t)
	l.installer = startBinary(t, "installer", "127.0.0.1:19380", "127.0.0.1:19381",
		"NOTIFICATION_CONTROLLER_ADDRESS="+l.rc.URL)
	startBinary(t, "reporter", "127.0.0.1:19480", "127.0.0.1:19481")
	startBinary(t, "exporter", exporterMetrics, "127.0.0.1:19581")
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "fluxinstance", "flux", "--ignore-not-found", "--wait=false")
	})
}

func (l *instanceLife) install(t *testing.T) {
	ctx := context.Background()
	// The sample without its sync: no real Flux controller runs on
	// the kwok cluster, so a sync source would never become ready.
	sample, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "fluxcd_v1_fluxinstance.yaml"))
	require.NoError(t, err)
	text, _, _ := strings.Cut(string(sample), "  sync:\n")
	text = strings.Replace(text, `version: "2.x"`, `version: "2.6.x"`, 1)
	text = strings.Replace(text, "    - notification-controller\n", "    - notification-controller\n    - image-reflector-controller\n", 1)
	// A failed health check says why within a minute instead of five.
	text = strings.Replace(text, "  namespace: flux-system\n",
		"  namespace: flux-system\n  annotations:\n    "+apiv1.ReconcileTimeoutAnnotation+": 1m\n", 1)
	file := writeFile(t, "flux.yaml", text)
	start := time.Now()
	mustKubectl(t, "apply", "--server-side", "-f", file)

	fi := waitReady(t, 3*time.Minute)
	t.Logf("Flux v2.6.4 Ready %s after kubectl apply", time.Since(start).Round(time.Millisecond))
	assert.Regexp(t, `^v2\.6\.4@sha256:[0-9a-f]{64}$`, fi.Status.LastAppliedRevision)
	for _, c := range instanceComponents {
		assert.NoError(t, available(ctx, c))
	}
	assert.Contains(t, mustKubectl(t, "-n", "flux-system", "get", "fluxinstance", "flux"), "Reconciliation finished in")
	assert.Contains(t, mustKubectl(t, "-n", "flux-system", "get", "fluxinstance", "flux", "-o", "wide"), "v2.6.4@sha256:")

	waitEvent(t, 30*time.Second, nil, "Normal", apiv1.ProgressingReason, "Installing revision v2.6.4@sha256:")
	waitEvent(t, 30*time.Second, nil, "Normal", apiv1.ReconciliationSucceededReason, "Flux v2.6.4 installed")
	out, err := events(ctx)
	require.NoError(t, err)
	assert.Contains(t, out, "CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io created", "the event lists the changes")
}

func (l *instanceLife) reported(t *testing.T) {
	require.NoError(t, testenv.Eventually(context.Background(), time.Minute, func(ctx context.Context) error {
		var fr apiv1.FluxReport
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux"}, &fr); err != nil {
			return err
		}
		d := fr.Spec.Distribution
		if d.Status != apiv1.DistributionInstalled || d.Version != "v2.6.4" || d.ManagedBy != "flux-operator" {
			return fmt.Errorf("distribution %+v", d)
		}
		ready := 0
		for _, c := range fr.Spec.ComponentsStatus {
			if c.Ready {
				ready++
			}
		}
		if ready != len(instanceComponents) {
			return fmt.Errorf("%d of %d components ready: %+v", ready, len(fr.Spec.ComponentsStatus), fr.Spec.ComponentsStatus)
		}
		return nil
	}))
}

func (l *instanceLife) rbac(t *testing.T) {
	for _, sa := range []string{"source-controller", "notification-controller", "image-reflector-controller"} {
		for _, verb := range []string{"update", "patch", "delete", "create"} {
			out, _ := kubectl(context.Background(), "auth", "can-i", verb, "fluxinstances.fluxcd.controlplane.io", "-n", "flux-system",
				"--as=system:serviceaccount:flux-system:"+sa)
			assert.Equal(t, "no", strings.TrimSpace(out), "kubectl auth can-i %s fluxinstances --as %s", verb, sa)
		}
	}
	out, _ := kubectl(context.Background(), "auth", "can-i", "list", "fluxinstances.fluxcd.controlplane.io", "-n", "flux-system",
		"--as=system:serviceaccount:flux-system:notification-controller")
	assert.Equal(t, "yes", strings.TrimSpace(out), "notification-controller reads the FluxInstances its Alerts name")
}

func (l *instanceLife) series(t *testing.T) {
	waitInstanceSeries(t, exporterMetrics, map[string]string{"ready": "True", "reason": apiv1.ReconciliationSucceededReason,
		"revision": `v2\.6\.4@sha256:[0-9a-f]{64}`, "registry": "ghcr.io/fluxcd", "suspended": "False", "name": "flux"})
}

func (l *instanceLife) alerting(t *testing.T) {
	alerting := fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: receiver
  namespace: flux-system
spec:
  type: generic
  address: %s
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: flux-operator
  namespace: flux-system
spec:
  providerRef:
    name: receiver
  eventSeverity: info
  eventSources:
    - kind: FluxInstance
      name: flux
`, l.rc.URL)
	file := writeFile(t, "alerting.yaml", alerting)
	out := mustKubectl(t, "apply", "--server-side", "-f", file)
	assert.Contains(t, out, "alert.notification.toolkit.fluxcd.io/flux-operator serverside-applied")

	fi, err := instance(context.Background())
	require.NoError(t, err)
	var e eventv1.Event
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		e, err = l.rc.find(apiv1.ReconciliationSucceededReason, "Flux v2.6.4 installed")
		return err
	}))
	assert.Equal(t, "FluxInstance", e.InvolvedObject.Kind)
	assert.Equal(t, "flux", e.InvolvedObject.Name)
	assert.Equal(t, "flux-system", e.InvolvedObject.Namespace)
	assert.Equal(t, eventv1.EventSeverityInfo, e.Severity)
	assert.Equal(t, "flux-operator", e.ReportingController)
	assert.Equal(t, fi.Status.LastAppliedRevision, e.Metadata["fluxcd.controlplane.io/revision"])
}

// upgrade walks Flux one minor at a time, as users upgrade: every step
// migrates what it must, rolls the controllers out, and leaves every Flux
// object as it was.
func (l *instanceLife) upgrade(t *testing.T) {
	ctx := context.Background()
	// An ImageRepository stored as v1beta2, a version v2.9.5 no longer serves.
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImageRepository",
		"metadata": map[string]any{"name": "podinfo", "namespace": "flux-system"},
		"spec":     map[string]any{"image": "ghcr.io/stefanprodan/podinfo", "interval": "1h"},
	}}
	require.NoError(t, k8s.Create(ctx, repo))
	require.Equal(t, []string{"v1beta2"}, storedVersions(t, "imagerepositories.image.toolkit.fluxcd.io"))
	mustKubectl(t, "create", "namespace", "upgrade-walk")
	t.Cleanup(func() { _, _ = kubectl(context.Background(), "delete", "namespace", "upgrade-walk", "--wait=false") })
	objs := createNewKinds(t, "upgrade-walk", nil)
	require.Len(t, objs, 12, "the instance installs the kinds of source-, kustomize-, helm-, notification- and image-reflector-controller")
	t.Logf("%d Flux objects, one of each kind installed, walk the upgrades", len(objs))

	// The first step also turns on the components the sample leaves out,
	// source-watcher among them (from 2.7), so that objects of every Flux
	// kind walk the rest of the way.
	every, err := json.Marshal(builder.AllComponents)
	require.NoError(t, err)
	steps := []struct{ patch, release, image string }{
		{`{"spec":{"distribution":{"version":"2.7.x"},"components":` + string(every) + `}}`, "v2.7.5",
			"ghcr.io/fluxcd/source-controller:v1.7.4@sha256:16f21ac1795528df80ddef51ccbb14a57b78ea26e66dc8551636ef9a3cec71b3"},
		{`{"spec":{"distribution":{"version":"2.8.x"}}}`, "v2.8.1",
			"ghcr.io/fluxcd/source-controller:v1.8.0@sha256:c87d5a6ef18a449f2cbb7108fef0e8e9664cf405938674487e7b8aaef86b12b8"},
		{`{"spec":{"distribution":{"version":"2.x"}}}`, "v2.9.5", "ghcr.io/fluxcd/source-controller:v1.9.5@sha256:"},
	}
	for i, step := range steps {
		start := time.Now()
		mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p", step.patch)
		fi := waitReady(t, 3*time.Minute)
		t.Logf("upgraded to Flux %s and Ready %s after the patch", step.release, time.Since(start).Round(time.Millisecond))
		require.Regexp(t, `^`+regexp.QuoteMeta(step.release)+`@sha256:`, fi.Status.LastAppliedRevision)
		var sc appsv1.Deployment
		require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "source-controller"}, &sc))
		assert.Contains(t, sc.Spec.Template.Spec.Containers[0].Image, step.image)
		require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error { return available(ctx, "source-controller") }))
		assertSurvived(t, objs, step.release)
		if i < len(steps)-1 {
			added := createNewKinds(t, "upgrade-walk", objs)
			objs = append(objs, added...)
			t.Logf("%s serves %d new Flux kinds: %d objects walk on", step.release, len(added), len(objs))
		}
	}
	kinds := make([]string, 0, len(objs))
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	assert.ElementsMatch(t, everyFluxKind, kinds, "an object of every Flux kind walked at least one upgrade")
	_, _ = kubectl(ctx, "delete", "namespace", "upgrade-walk", "--wait=false")
	// Back to the sample's components: the installer removes the other two.
	sample, err := json.Marshal(instanceComponents)
	require.NoError(t, err)
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p", `{"spec":{"components":`+string(sample)+`}}`)
	waitReady(t, 2*time.Minute)
	for _, name := range []string{"image-automation-controller", "source-watcher"} {
		_, err := deploymentOf(ctx, name)
		assert.True(t, apierrors.IsNotFound(err), "%s was not removed with its component: %v", name, err)
	}

	assert.Equal(t, []string{"v1"}, storedVersions(t, "imagerepositories.image.toolkit.fluxcd.io"))
	migrated := &unstructured.Unstructured{}
	migrated.SetGroupVersionKind(schema.GroupVersionKind{Group: "image.toolkit.fluxcd.io", Version: "v1", Kind: "ImageRepository"})
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "podinfo"}, migrated))
	assert.Equal(t, "ghcr.io/stefanprodan/podinfo", migrated.Object["spec"].(map[string]any)["image"])
	waitEvent(t, 30*time.Second, nil, apiv1.ReconciliationSucceededReason, "Flux v2.9.5 updated")
	waitInstanceSeries(t, exporterMetrics, map[string]string{"ready": "True", "revision": `v2\.9\.5@sha256:[0-9a-f]{64}`})
}

// fluxKinds are the Flux kinds of every release from 2.6 on, and those of
// 2.7 on (ExternalArtifact, ArtifactGenerator).
var fluxKinds = []fixtures.Kind{fixtures.GitRepository, fixtures.OCIRepository, fixtures.Bucket, fixtures.HelmRepository,
	fixtures.HelmChart, fixtures.Kustomization, fixtures.HelmRelease, fixtures.Receiver, fixtures.Alert, fixtures.Provider,
	fixtures.ImageRepository, fixtures.ImagePolicy, fixtures.ImageUpdateAutomation, fixtures.ExternalArtifact,
	fixtures.ArtifactGenerator}

// everyFluxKind names the kinds of fluxKinds.
var everyFluxKind = func() []string {
	var out []string
	for _, k := range fluxKinds {
		out = append(out, k.GVK.Kind)
	}
	return out
}()

// storageVersion is the version the API server stores objects of group and
// kind in now, "" when no CRD serves the kind.
func storageVersion(t *testing.T, group, kind string) string {
	t.Helper()
	var crds apiextensionsv1.CustomResourceDefinitionList
	require.NoError(t, k8s.List(context.Background(), &crds))
	for _, c := range crds.Items {
		if c.Spec.Group == group && c.Spec.Names.Kind == kind {
			for _, v := range c.Spec.Versions {
				if v.Storage {
					return v.Name
				}
			}
		}
	}
	return ""
}

// createNewKinds creates in namespace ns one object of every Flux kind the
// cluster serves now and objs has none of, each in the version its kind is
// stored in; the namespace's deletion deletes them.
func createNewKinds(t *testing.T, ns string, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	have := map[string]bool{}
	for _, o := range objs {
		have[o.GetKind()] = true
	}
	var out []*unstructured.Unstructured
	for _, k := range fluxKinds {
		version := storageVersion(t, k.GVK.Group, k.GVK.Kind)
		if version == "" || have[k.GVK.Kind] {
			continue // a component the instance does not install, or a kind that has its object
		}
		o, _ := k.Object(ns, strings.ToLower(k.GVK.Kind))
		o.SetAPIVersion(k.GVK.Group + "/" + version)
		require.NoError(t, k8s.Create(context.Background(), o), "%s", k.GVK.Kind)
		out = append(out, o)
	}
	return out
}

// assertSurvived checks that every object is still there, read in the
// version its kind is stored in now, with every spec field it was created
// with.
func assertSurvived(t *testing.T, objs []*unstructured.Unstructured, release string) {
	t.Helper()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		version := storageVersion(t, gvk.Group, gvk.Kind)
		if !assert.NotEmpty(t, version, "%s: no CRD serves %s any more", release, gvk.Kind) {
			continue
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(gvk.GroupKind().WithVersion(version))
		if !assert.NoError(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(o), got), "%s: %s is gone", release, gvk.Kind) {
			continue
		}
		spec, _ := got.Object["spec"].(map[string]any)
		for k, want := range o.Object["spec"].(map[string]any) {
			assert.Equal(t, want, spec[k], "%s: %s spec.%s changed", release, gvk.Kind, k)
		}
	}
}

func (l *instanceLife) invalidVersion(t *testing.T) {
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge",
		"-p", `{"spec":{"distribution":{"version":"3.x"}}}`)
	waitEvent(t, time.Minute, []string{"--types", "Warning"}, apiv1.BuildFailedReason, `"3.x"`)
	waitInstanceSeries(t, exporterMetrics, map[string]string{"ready": "False", "reason": apiv1.BuildFailedReason,
		"revision": `v2\.9\.5@sha256:[0-9a-f]{64}`})
	assert.NoError(t, available(context.Background(), "source-controller"))
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge",
		"-p", `{"spec":{"distribution":{"version":"2.x"}}}`)
	waitReady(t, 2*time.Minute)
}

func (l *instanceLife) unschedulable(t *testing.T) {
	start := time.Now()
	mustKubectl(t, "-n", "flux-system", "annotate", "--overwrite", "fluxinstance", "flux", apiv1.ReconcileTimeoutAnnotation+"=20s")
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p",
		`{"spec":{"kustomize":{"patches":[{"target":{"kind":"Deployment","name":"helm-controller"},`+
			`"patch":"- op: add\n  path: /spec/template/spec/nodeSelector/example.com~1pool\n  value: none\n"}]}}}`)
	waitEvent(t, 2*time.Minute, []string{"--types", "Warning"}, apiv1.HealthCheckFailedReason, "Deployment/flux-system/helm-controller")
	fi, err := instance(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "Failed", fi.Status.History[0].LastReconciledStatus)
	assert.Regexp(t, `^v2\.9\.5@`, fi.Status.LastAppliedRevision, "the failed health check keeps the last applied revision")
	t.Logf("health check failed by name %s after the patch", time.Since(start).Round(time.Millisecond))
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p", `{"spec":{"kustomize":null}}`)
	waitReady(t, 2*time.Minute)
}

func (l *instanceLife) suspend(t *testing.T) {
	mustKubectl(t, "-n", "flux-system", "annotate", "--overwrite", "fluxinstance", "flux", apiv1.ReconcileAnnotation+"=disabled")
	waitEvent(t, time.Minute, nil, apiv1.ReconciliationDisabledReason, "Reconciliation is disabled")
	waitInstanceSeries(t, exporterMetrics, map[string]string{"suspended": "True", "reason": apiv1.ReconciliationDisabledReason})
	mustKubectl(t, "-n", "flux-system", "annotate", "fluxinstance", "flux", apiv1.ReconcileAnnotation+"-")
	waitInstanceSeries(t, exporterMetrics, map[string]string{"suspended": "False", "ready": "True",
		"reason": apiv1.ReconciliationSucceededReason})
}

func (l *instanceLife) killedMidApply(t *testing.T) {
	ctx := context.Background()
	// The apply of the new component is held at its Deployment.
	wh, release := startBlockingWebhook(t, "image-automation-controller")
	mustKubectl(t, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=json", "-p",
		`[{"op":"add","path":"/spec/components/-","value":"image-automation-controller"}]`)
	select {
	case <-wh.blocked:
	case <-time.After(2 * time.Minute):
		t.Fatal("the apply never reached the image-automation-controller Deployment")
	}
	l.installer.stop(syscall.SIGKILL)
	release()
	// Killed mid-apply: the new CRD is there, the Deployment is not.
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Name: "imageupdateautomations.image.toolkit.fluxcd.io"}, &crd))
	_, err := deploymentOf(ctx, "image-automation-controller")
	require.True(t, apierrors.IsNotFound(err), "the Deployment was applied before the kill: %v", err)

	start := time.Now()
	l.installer.start(t)
	fi := waitReady(t, 3*time.Minute)
	t.Logf("converged %s after the restart", time.Since(start).Round(time.Millisecond))
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(ctx context.Context) error { return available(ctx, "image-automation-controller") }))
	inventory := map[string]bool{}
	for _, e := range fi.Status.Inventory.Entries {
		inventory[e.ID] = true
	}
	assert.True(t, inventory["flux-system_image-automation-controller_apps_Deployment"])
	assert.True(t, inventory["_imageupdateautomations.image.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition"])
	// Everything the instance owns is in its inventory: no orphans.
	var deployments appsv1.DeploymentList
	require.NoError(t, k8s.List(ctx, &deployments, client.InNamespace("flux-system"),
		client.MatchingLabels{"fluxcd.controlplane.io/name": "flux"}))
	var names []string
	for _, d := range deployments.Items {
		names = append(names, d.Name)
		assert.True(t, inventory["flux-system_"+d.Name+"_apps_Deployment"], "%s is not in the inventory", d.Name)
	}
	slices.Sort(names)
	assert.Equal(t, []string{"helm-controller", "image-automation-controller", "image-reflector-controller",
		"kustomize-controller", "notification-controller", "source-controller"}, names)
	var crds apiextensionsv1.CustomResourceDefinitionList
	require.NoError(t, k8s.List(ctx, &crds, client.MatchingLabels{"fluxcd.controlplane.io/name": "flux"}))
	for _, c := range crds.Items {
		assert.True(t, inventory["_"+c.Name+"_apiextensions.k8s.io_CustomResourceDefinition"], "%s is not in the inventory", c.Name)
	}
	assert.Len(t, fi.Status.Components, 6)
}

func (l *instanceLife) uninstall(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	mustKubectl(t, "-n", "flux-system", "delete", "fluxinstance", "flux", "--timeout=2m")
	_, err := deploymentOf(ctx, "source-controller")
	assert.True(t, apierrors.IsNotFound(err), "source-controller survived the uninstall: %v", err)
	t.Logf("uninstalled in %s", time.Since(start).Round(time.Millisecond))
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Name: "flux-system"}, &ns))
	assert.True(t, ns.DeletionTimestamp.IsZero())
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		line, err := instanceSeries(exporterMetrics)
		if err != nil {
			return err
		}
		if line != "" {
			return fmt.Errorf("flux_instance_info is still served: %s", line)
		}
		return nil
	}))
}

// writeFile writes a manifest for kubectl -f into a directory whose name,
// unlike t.TempDir's, has no commas from the assessment name.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flux-operator-e2e-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	return file
}

func deploymentOf(ctx context.Context, name string) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	return d, k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: name}, d)
}
