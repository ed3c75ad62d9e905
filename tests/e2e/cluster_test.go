//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// The local cluster is what the other tests stand on: the Kubernetes built
// from Go modules, fake nodes that are Ready, Deployments that roll out.
func TestTheLocalCluster(t *testing.T) {
	testEnv.Test(t, features.New("the local kwok cluster").
		Assess("kubectl reports the real server version", step(kubectlReportsTheRealServerVersion)).
		Assess("the fake nodes are Ready", step(fakeNodesAreReady)).
		Assess("a Deployment becomes Available", step(deploymentBecomesAvailable)).
		Feature())
}

func kubectlReportsTheRealServerVersion(t *testing.T) {
	out, err := kubectl(context.Background(), "version", "-o", "json")
	require.NoError(t, err)
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct {
			GitVersion string
			Major      string
			Minor      string
		} `json:"serverVersion"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	want := testenv.KubeVersion()
	assert.Equal(t, want, v.ServerVersion.GitVersion)
	assert.Equal(t, "1", v.ServerVersion.Major)
	assert.Equal(t, want, v.ClientVersion.GitVersion, "kubectl is built at the server version")
}

func fakeNodesAreReady(t *testing.T) {
	var nodes corev1.NodeList
	require.NoError(t, k8s.List(context.Background(), &nodes))
	require.Len(t, nodes.Items, 2)
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		assert.True(t, ready, "node %s is not Ready", n.Name)
	}
}

func deploymentBecomesAvailable(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-deploy-"}}
	require.NoError(t, k8s.Create(ctx, ns))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	// Pods need the namespace's default ServiceAccount, created asynchronously.
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
	}))

	labels := map[string]string{"app": "podinfo"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfo", Image: "ghcr.io/stefanprodan/podinfo:6.7.1",
				}}},
			},
		},
	}
	require.NoError(t, k8s.Create(ctx, deploy))

	err := testenv.Eventually(ctx, 90*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy); err != nil {
			return err
		}
		for _, c := range deploy.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && deploy.Status.AvailableReplicas == 2 {
				return nil
			}
		}
		return fmt.Errorf("deployment not available: %+v", deploy.Status)
	})
	require.NoError(t, err)

	var pods corev1.PodList
	require.NoError(t, k8s.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels(labels)))
	require.Len(t, pods.Items, 2)
	for _, p := range pods.Items {
		assert.Equal(t, corev1.PodRunning, p.Status.Phase, p.Name)
		assert.NotEmpty(t, p.Spec.NodeName, "the scheduler placed %s on a node", p.Name)
	}
}
