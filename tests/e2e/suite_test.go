//go:build e2e

// Package e2e runs end-to-end tests on a local kwok cluster (hack/cluster.sh)
// whose control plane is the Kubernetes built from Go modules by `make testenv`,
// with sigs.k8s.io/e2e-framework: each test is a feature, each step of it an
// assessment named as a user would say it.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const clusterName = "flux-operator-e2e"

var (
	testEnv    env.Environment
	kubeconfig string
	k8s        client.Client
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flux-operator-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")

	testEnv = env.NewWithConfig(envconf.New())
	testEnv.Setup(clusterUp)
	testEnv.Finish(clusterDown)
	code := testEnv.Run(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// clusterUp starts the e2e cluster with hack/cluster.sh, the script of
// `make cluster-up`, and points the environment and k8s at it.
func clusterUp(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	if err := cluster("up"); err != nil {
		_ = cluster("down")
		return ctx, err
	}
	cfg.WithKubeconfigFile(kubeconfig)
	c, err := cfg.NewClient()
	if err != nil {
		return ctx, err
	}
	scheme := bootstrap.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return ctx, err
	}
	k8s, err = client.New(c.RESTConfig(), client.Options{Scheme: scheme})
	return ctx, err
}

func clusterDown(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	return ctx, cluster("down")
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

// kwokctl runs the kwokctl of `make testenv` on the e2e cluster.
func kwokctl(args ...string) error {
	bin := filepath.Join(testenv.KubeBinDir(), "kwokctl")
	cmd := exec.Command(bin, append(args, "--name", clusterName)...)
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+filepath.Join(testenv.RepoRoot(), ".cache", "kwok-e2e"),
		"PATH="+testenv.KubeBinDir()+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kwokctl %v: %w\n%s", args, err, out)
	}
	return nil
}

// step adapts a plain test body to a Setup or an assessment. A feature's
// Setup runs on the feature's t, so what it starts (and registers with
// t.Cleanup) lasts until the feature ends; each assessment is a subtest
// named after it. An assessment that stops (require, t.Fatal) stops the
// feature: e2e-framework runs none of the assessments after it, which build
// on it. One that only records failures (assert) lets them run.
func step(f func(t *testing.T)) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		f(t)
		return ctx
	}
}

func kubectl(ctx context.Context, args ...string) (string, error) {
	return testenv.Kubectl(ctx, kubeconfig, args...)
}
