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

// The local cluster is what the other tests stand on, as hack/cluster.sh
// (`make cluster-up`, and TestMain) makes it: the API server and kubectl
// that `make testenv` built at KUBE_VERSION, CLUSTER_NODES (2) fake nodes
// Ready when it returns, the default ServiceAccount there, and the
// controller manager and scheduler it starts. What kwok and Kubernetes do
// with the pods after that (their phase, a Deployment's availability) is
// theirs to test, not ours.
func TestTheLocalCluster(t *testing.T) {
	testEnv.Test(t, features.New("the local kwok cluster of hack/cluster.sh").
		Assess("the API server and kubectl are the ones make testenv built", step(kubectlReportsTheRealServerVersion)).
		Assess("the fake nodes are Ready", step(fakeNodesAreReady)).
		Assess("a Deployment's pods are created and scheduled on the fake nodes", step(deploymentPodsAreScheduled)).
		Feature())
}

func kubectlReportsTheRealServerVersion(t *testing.T) {
	out, err := kubectl(context.Background(), "version", "-o", "json")
	require.NoError(t, err)
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	want := testenv.KubeVersion()
	assert.Equal(t, want, v.ServerVersion.GitVersion, "hack/cluster.sh runs the kube-apiserver of make testenv")
	assert.Equal(t, want, v.ClientVersion.GitVersion, "kubectl is built at the server version")
}

func fakeNodesAreReady(t *testing.T) {
	var nodes corev1.NodeList
	require.NoError(t, k8s.List(context.Background(), &nodes))
	require.Len(t, nodes.Items, 2, "hack/cluster.sh makes CLUSTER_NODES (2) nodes")
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		assert.True(t, ready, "node %s is not Ready: hack/cluster.sh up returns once they are", n.Name)
	}
}

func deploymentPodsAreScheduled(t *testing.T) {
	ctx := context.Background()
	// hack/cluster.sh up returns once the default ServiceAccount, which
	// pods need, exists: no wait for it here.
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{}),
		"hack/cluster.sh up returned before the default ServiceAccount existed")

	labels := map[string]string{"app": "e2e-podinfo"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-podinfo", Namespace: "default"},
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
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), deploy) })

	// The controller manager makes the pods and the scheduler places them.
	var pods corev1.PodList
	require.NoError(t, testenv.Eventually(ctx, 90*time.Second, func(ctx context.Context) error {
		if err := k8s.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
			return err
		}
		var unscheduled []string
		for _, p := range pods.Items {
			if p.Spec.NodeName == "" {
				unscheduled = append(unscheduled, p.Name)
			}
		}
		if len(pods.Items) != 2 || len(unscheduled) > 0 {
			return fmt.Errorf("%d pods, not scheduled: %v", len(pods.Items), unscheduled)
		}
		return nil
	}))
}
