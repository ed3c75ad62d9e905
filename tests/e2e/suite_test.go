//go:build e2e

// Package e2e runs end-to-end tests on a local kwok cluster (hack/cluster.sh)
// whose control plane is the Kubernetes built from Go modules by `make testenv`.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const clusterName = "flux-operator-e2e"

var (
	kubeconfig string
	k8s        client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flux-operator-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")

	if err := cluster("up"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = cluster("down")
		return 1
	}
	defer func() {
		if err := cluster("down"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()

	cfg, err := config.GetConfigWithContext("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: bootstrap.NewScheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// cluster runs hack/cluster.sh for the e2e cluster, which has its own name and
// kubeconfig so it never touches the cluster of `make run`.
func cluster(action string) error {
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "cluster.sh"), action)
	cmd.Env = append(os.Environ(),
		"CLUSTER_NAME="+clusterName,
		"CLUSTER_KUBECONFIG="+kubeconfig,
		"KWOK_WORKDIR="+filepath.Join(testenv.RepoRoot(), ".cache", "kwok-e2e"),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hack/cluster.sh %s: %w\n%s", action, err, out)
	}
	// Later clients find the cluster through KUBECONFIG, as a user's would.
	return os.Setenv("KUBECONFIG", kubeconfig)
}

func kubectl(ctx context.Context, args ...string) (string, error) {
	return testenv.Kubectl(ctx, kubeconfig, args...)
}
