package installer_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
	"github.com/fluxops/flux-operator/tests/testenv"
)

const fieldManager = "installer-test"

func buildSpec(t *testing.T, spec apiv1.FluxInstanceSpec) *builder.Result {
	t.Helper()
	res, err := builder.Build(context.Background(), builder.Request{Spec: &spec, Name: "flux", Namespace: "flux-system",
		Distribution: distribution.Embedded()})
	require.NoError(t, err)
	return res
}

// applyDefinitions applies the CRDs and the Namespace for real and waits for
// the CRDs to be established, as the installer's first apply stage does.
func applyDefinitions(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	var crds []string
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "Namespace" {
			continue
		}
		require.NoError(t, env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.ForceOwnership, client.FieldOwner(fieldManager)), "%s %s", o.GetKind(), o.GetName())
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o.GetName())
		}
	}
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		for _, name := range crds {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
				return err
			}
			established := false
			for _, c := range crd.Status.Conditions {
				established = established || c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
			}
			if !established {
				return fmt.Errorf("CRD %s is not established", name)
			}
		}
		return nil
	}))
}

// dryRun server-side applies every other object with dryRun=All.
func dryRun(t *testing.T, objs []*unstructured.Unstructured) int {
	t.Helper()
	n := 0
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
			continue
		}
		err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.DryRunAll, client.ForceOwnership, client.FieldOwner(fieldManager))
		assert.NoError(t, err, "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		n++
	}
	return n
}

// v2.6.4 first, then v2.9.5 over it, as a user upgrades. The default
// components upgrade in place; the image automation CRDs of v2.9.5 no
// longer have v1beta2, the storage version of v2.6.4, so an upgrade that
// installed them needs the stored objects migrated first: that is the
// installer's reconcile (TestAMinorUpgradeMigratesStoredVersions), not a
// plain apply, so they are applied here with v2.9.5 only.
func TestBuiltManifestsAreAcceptedByTheAPIServer(t *testing.T) {
	for _, tc := range []struct {
		version    string
		components []apiv1.Component
	}{
		{"2.6.x", nil},
		{"2.9.x", []apiv1.Component{"source-controller", "kustomize-controller", "helm-controller", "notification-controller",
			"image-reflector-controller", "image-automation-controller", "source-watcher"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			spec := apiv1.FluxInstanceSpec{
				Distribution: apiv1.Distribution{Version: tc.version, Registry: "ghcr.io/fluxcd"},
				Components:   tc.components,
				Sync:         &apiv1.Sync{Kind: "GitRepository", URL: "https://github.com/example/fleet.git", Ref: "refs/heads/main", Path: "clusters/prod"},
			}
			res := buildSpec(t, spec)
			applyDefinitions(t, res.Objects)
			n := dryRun(t, res.Objects)
			assert.Greater(t, n, 20, "objects dry-run applied")

			// The distribution the reporter would now report.
			var crd apiextensionsv1.CustomResourceDefinition
			require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Name: "gitrepositories.source.toolkit.fluxcd.io"}, &crd))
			assert.Equal(t, res.Version, crd.Labels["app.kubernetes.io/version"])
			assert.Equal(t, "flux-operator", crd.Labels["app.kubernetes.io/managed-by"])
			assert.Equal(t, "flux", crd.Labels["app.kubernetes.io/part-of"])
		})
	}
}

const seedAlerting = `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: slack-bot
  namespace: flux-system
spec:
  type: slack
  channel: general
  address: https://slack.com/api/chat.postMessage
  secretRef:
    name: slack-bot-token
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: flux-operator
  namespace: flux-system
spec:
  providerRef:
    name: slack-bot
  eventSeverity: info
  eventSources:
    - kind: FluxInstance
      name: flux
`

// The seed's Provider and Alert, applied after the build's CRDs, are
// accepted: the build added FluxInstance to the Alert's kind enum. Without
// that patch the API server refuses the Alert, which the control proves.
func TestTheSeedAlertIsAcceptedAfterTheBuild(t *testing.T) {
	ctx := context.Background()
	res := buildSpec(t, apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}})
	applyDefinitions(t, res.Objects)
	var docs []*unstructured.Unstructured
	for _, doc := range strings.Split(seedAlerting, "---\n") {
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
		docs = append(docs, u)
	}
	for _, u := range docs {
		require.NoError(t, env.Client.Create(ctx, u.DeepCopy()), "%s %s", u.GetKind(), u.GetName())
	}
	t.Cleanup(func() {
		for _, u := range docs {
			_ = env.Client.Delete(ctx, u)
		}
	})

	// Control: the unpatched Alert CRD from the API module refuses it.
	var alerts apiextensionsv1.CustomResourceDefinition
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "alerts.notification.toolkit.fluxcd.io"}, &alerts))
	bad := docs[1].DeepCopy()
	bad.SetName("other-kind")
	require.NoError(t, unstructured.SetNestedSlice(bad.Object, []any{map[string]any{"kind": "NotAFluxKind", "name": "x"}}, "spec", "eventSources"))
	err := env.Client.Create(ctx, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unsupported value: \"NotAFluxKind\"")
}

// installerBinary is bin/flux-operator-installer, built by `make build`
// (which `make test` runs first).
func installerBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(testenv.RepoRoot(), "bin", "flux-operator-installer")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found: run `make build` (make test does)", p)
	}
	return p
}

// The build command, run as a user would on config/samples, prints YAML
// that kubectl apply --dry-run=server accepts (CRDs applied first, as the
// installer applies them).
func TestTheBuildCommandPrintsWhatKubectlAccepts(t *testing.T) {
	ctx := context.Background()
	sample := filepath.Join(testenv.RepoRoot(), "config", "samples", "fluxcd_v1_fluxinstance.yaml")
	cmd := exec.CommandContext(ctx, installerBinary(t), "build", "-f", sample)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	text := string(out)
	require.True(t, strings.HasPrefix(text, "# Revision: v2.9.5@sha256:"), "first line: %.80s", text)

	file := filepath.Join(t.TempDir(), "flux.yaml")
	require.NoError(t, os.WriteFile(file, out, 0o600))
	// CRDs and the namespace for real, then everything with a server-side dry run.
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(text, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err == nil && u.GetKind() != "" {
			objs = append(objs, u)
		}
	}
	applyDefinitions(t, objs)
	kout, err := testenv.Kubectl(ctx, env.Kubeconfig, "apply", "--server-side", "--force-conflicts",
		"--field-manager", fieldManager, "--dry-run=server", "-f", file)
	require.NoError(t, err)
	assert.Contains(t, kout, "deployment.apps/source-controller serverside-applied (server dry run)")
	assert.Contains(t, kout, "gitrepository.source.toolkit.fluxcd.io/flux-system serverside-applied (server dry run)")

	// Bad input: a clear message and exit code 1, nothing on stdout.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(mustRead(t, sample), `version: "2.x"`, `version: "3.x"`, 1)), 0o600))
	cmd = exec.CommandContext(ctx, installerBinary(t), "build", "-f", bad)
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	require.Error(t, err)
	assert.Empty(t, out)
	assert.Contains(t, stderr.String(), `spec.distribution.version "3.x" matches none of the available Flux releases (v2.9.5, v2.8.1, v2.7.5, v2.6.4)`)
}

func mustRead(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(data)
}
