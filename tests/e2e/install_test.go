//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// TestKustomizeInstall: the operator installed as the install guide says.
func TestKustomizeInstall(t *testing.T) {
	testEnv.Test(t, features.New("install the operator with kubectl apply -k config/default").
		Assess("the three Deployments roll out under restricted Pod Security and the Service has their endpoints",
			step(kustomizeInstall)).
		Feature())
}

// kustomizeInstall applies config/default with kubectl, as the install
// guide says, on a cluster with a controller manager and a scheduler: the
// three Deployments roll out, their pods are admitted by the restricted Pod
// Security of flux-system, and the Service gets their endpoints on 8080.
func kustomizeInstall(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(testenv.RepoRoot(), "config", "default")
	out, err := kubectl(ctx, "apply", "--server-side", "--field-manager", "e2e", "-k", dir)
	require.NoError(t, err, out)
	deleteOperatorAtEnd(t)
	for _, c := range operatorComponents {
		assert.Contains(t, out, "deployment.apps/flux-operator-"+c+" serverside-applied")
	}

	var ns corev1.Namespace
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Name: "flux-system"}, &ns))
	assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"])

	require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error {
		for _, c := range operatorComponents {
			var d appsv1.Deployment
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux-operator-" + c}, &d); err != nil {
				return err
			}
			available := false
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
					available = true
				}
			}
			if !available || d.Status.ReadyReplicas != 1 {
				return fmt.Errorf("flux-operator-%s: available=%v ready=%d", c, available, d.Status.ReadyReplicas)
			}
		}
		return nil
	}))

	// No pod was refused by Pod Security: the ReplicaSets created them all.
	var rs appsv1.ReplicaSetList
	require.NoError(t, k8s.List(ctx, &rs, client.InNamespace("flux-system"),
		client.MatchingLabels{"app.kubernetes.io/name": "flux-operator"}))
	for _, r := range rs.Items {
		for _, cond := range r.Status.Conditions {
			assert.NotEqual(t, appsv1.ReplicaSetReplicaFailure, cond.Type, "%s: %s", r.Name, cond.Message)
		}
	}

	// The Service has the three pods behind port 8080. The EndpointSlice
	// controller adds a pod shortly after it is ready: wait for it.
	var slices string
	_ = testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		slices, err = kubectl(ctx, "-n", "flux-system", "get", "endpointslices",
			"-l", "kubernetes.io/service-name=flux-operator", "-o", "jsonpath={range .items[*]}{.ports[0].port}{\" \"}{range .endpoints[*]}{.targetRef.name}{\" \"}{end}{end}")
		if err != nil {
			return err
		}
		for _, c := range operatorComponents {
			if !strings.Contains(slices, "flux-operator-"+c+"-") {
				return fmt.Errorf("no %s pod in the EndpointSlices yet", c)
			}
		}
		return nil
	})
	require.NoError(t, err, slices)
	assert.Contains(t, slices, "8080")
	for _, c := range operatorComponents {
		assert.Contains(t, slices, "flux-operator-"+c+"-", "the Service selects the %s pod: %s", c, strings.TrimSpace(slices))
	}
}

// TestReleaseInstall: the install.yaml of `make release`, applied as the
// install guide says, rolls out the three Deployments with the images
// pinned by digest.
func TestReleaseInstall(t *testing.T) {
	testEnv.Test(t, features.New("install a release with kubectl apply -f dist/install.yaml").
		Assess("the three Deployments roll out with the release's images by digest", step(func(t *testing.T) {
			ctx := context.Background()
			file := filepath.Join(testenv.RepoRoot(), "dist", "install.yaml")
			out, err := kubectl(ctx, "apply", "--server-side", "-f", file)
			require.NoError(t, err, "run `make release` (make test does): %s", out)
			deleteOperatorAtEnd(t)
			require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error {
				for _, c := range operatorComponents {
					var d appsv1.Deployment
					if err := k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "flux-operator-" + c}, &d); err != nil {
						return err
					}
					if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedReplicas != 1 || d.Status.AvailableReplicas != 1 {
						return fmt.Errorf("flux-operator-%s is not rolled out: %+v", c, d.Status)
					}
					if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "ghcr.io/fluxops/flux-operator-"+c+"@sha256:") {
						return fmt.Errorf("flux-operator-%s runs %s, not the release's image by digest", c, img)
					}
				}
				return nil
			}))
			var pods corev1.PodList
			require.NoError(t, k8s.List(ctx, &pods, client.InNamespace("flux-system"),
				client.MatchingLabels{"app.kubernetes.io/name": "flux-operator"}))
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil {
					assert.Contains(t, p.Spec.Containers[0].Image, "@sha256:", p.Name)
				}
			}
		})).
		Feature())
}
