//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// startBinary runs bin/flux-operator-<name> against the e2e cluster as a
// local process, as `make run` does, and waits for its /readyz.
func startBinary(t *testing.T, name, metrics, health string) {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "flux-operator-"+name)
	cmd := exec.Command(bin, "--metrics-addr", metrics, "--health-addr", health, "--log-encoding", "console")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUNTIME_NAMESPACE=flux-system")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() || os.Getenv("E2E_LOGS") != "" {
			t.Logf("%s logs:\n%s", name, logs.String())
		}
	})
	require.NoError(t, testenv.Eventually(context.Background(), time.Minute, func(context.Context) error {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s /readyz: %d", name, resp.StatusCode)
		}
		return nil
	}))
}

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

// A user applies a FluxInstance with kubectl on a cluster that schedules
// and runs pods: Flux v2.6.4 is installed and its Deployments become
// Available, the FluxReport shows it installed and managed by flux-operator;
// then the instance is upgraded to v2.9.5; a Deployment that cannot become
// ready fails the health check by name; deleting the instance uninstalls Flux.
func TestFluxInstanceInstallsAndUpgradesFlux(t *testing.T) {
	ctx := context.Background()
	// The operator's CRDs and namespace, as the install guide applies them.
	out, err := kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(testenv.RepoRoot(), "config", "crd"))
	require.NoError(t, err, out)
	_, _ = kubectl(ctx, "create", "namespace", "flux-system")
	startBinary(t, "installer", "127.0.0.1:19380", "127.0.0.1:19381")
	startBinary(t, "reporter", "127.0.0.1:19480", "127.0.0.1:19481")

	// The sample without its sync: no real Flux controller runs on the kwok
	// cluster, so a sync source would never become ready.
	sample, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "fluxcd_v1_fluxinstance.yaml"))
	require.NoError(t, err)
	text, _, _ := strings.Cut(string(sample), "  sync:\n")
	text = strings.Replace(text, `version: "2.x"`, `version: "2.6.x"`, 1)
	// A failed health check says why within a minute instead of five.
	text = strings.Replace(text, "  namespace: flux-system\n",
		"  namespace: flux-system\n  annotations:\n    "+apiv1.ReconcileTimeoutAnnotation+": 1m\n", 1)
	file := filepath.Join(t.TempDir(), "flux.yaml")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
	out, err = kubectl(ctx, "apply", "--server-side", "-f", file)
	require.NoError(t, err, out)
	t.Cleanup(func() {
		_, _ = kubectl(ctx, "-n", "flux-system", "delete", "fluxinstance", "flux", "--ignore-not-found", "--wait=false")
	})

	start := time.Now()
	fi := waitReady(t, 3*time.Minute)
	t.Logf("Flux v2.6.4 Ready %s after kubectl apply", time.Since(start).Round(time.Millisecond))
	assert.Regexp(t, `^v2\.6\.4@sha256:[0-9a-f]{64}$`, fi.Status.LastAppliedRevision)
	for _, c := range []string{"source-controller", "kustomize-controller", "helm-controller", "notification-controller"} {
		assert.NoError(t, available(ctx, c))
	}
	out, err = kubectl(ctx, "-n", "flux-system", "get", "fluxinstance", "flux")
	require.NoError(t, err)
	assert.Contains(t, out, "Reconciliation finished in")

	// The installer asked for a fresh report: it shows Flux installed by us.
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(ctx context.Context) error {
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
		if ready != 4 {
			return fmt.Errorf("%d of %d components ready: %+v", ready, len(fr.Spec.ComponentsStatus), fr.Spec.ComponentsStatus)
		}
		return nil
	}))

	// Upgrade to the newest release.
	start = time.Now()
	out, err = kubectl(ctx, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge",
		"-p", `{"spec":{"distribution":{"version":"2.x"}}}`)
	require.NoError(t, err, out)
	fi = waitReady(t, 3*time.Minute)
	t.Logf("upgraded to Flux v2.9.5 and Ready %s after the patch", time.Since(start).Round(time.Millisecond))
	assert.Regexp(t, `^v2\.9\.5@sha256:`, fi.Status.LastAppliedRevision)
	var sc appsv1.Deployment
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "source-controller"}, &sc))
	assert.Contains(t, sc.Spec.Template.Spec.Containers[0].Image, "ghcr.io/fluxcd/source-controller:v1.9.5@sha256:")
	require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error { return available(ctx, "source-controller") }))

	// A Deployment that cannot be scheduled fails the health check, by name.
	start = time.Now()
	out, err = kubectl(ctx, "-n", "flux-system", "annotate", "--overwrite", "fluxinstance", "flux",
		apiv1.ReconcileTimeoutAnnotation+"=20s")
	require.NoError(t, err, out)
	out, err = kubectl(ctx, "-n", "flux-system", "patch", "fluxinstance", "flux", "--type=merge", "-p",
		`{"spec":{"kustomize":{"patches":[{"target":{"kind":"Deployment","name":"helm-controller"},`+
			`"patch":"- op: add\n  path: /spec/template/spec/nodeSelector/example.com~1pool\n  value: none\n"}]}}}`)
	require.NoError(t, err, out)
	// As a user sees it: a Warning event that names the Deployment.
	require.NoError(t, testenv.Eventually(ctx, 2*time.Minute, func(ctx context.Context) error {
		out, err := kubectl(ctx, "-n", "flux-system", "events", "--for", "fluxinstance/flux", "--types", "Warning")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, apiv1.HealthCheckFailedReason) && strings.Contains(l, "Deployment/flux-system/helm-controller") {
				return nil
			}
		}
		return fmt.Errorf("no HealthCheckFailed event naming helm-controller:\n%s", out)
	}))
	fi, err = instance(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Failed", fi.Status.History[0].LastReconciledStatus)
	assert.Regexp(t, `^v2\.9\.5@`, fi.Status.LastAppliedRevision, "the failed health check keeps the last applied revision")
	t.Logf("health check failed by name %s after the patch", time.Since(start).Round(time.Millisecond))

	// Deleting the instance removes Flux and keeps the namespace.
	start = time.Now()
	out, err = kubectl(ctx, "-n", "flux-system", "delete", "fluxinstance", "flux", "--timeout=2m")
	require.NoError(t, err, out)
	err = k8s.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "source-controller"}, &appsv1.Deployment{})
	assert.True(t, apierrors.IsNotFound(err), "source-controller survived the uninstall: %v", err)
	t.Logf("uninstalled in %s", time.Since(start).Round(time.Millisecond))
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Name: "flux-system"}, &ns))
	assert.True(t, ns.DeletionTimestamp.IsZero())
}
