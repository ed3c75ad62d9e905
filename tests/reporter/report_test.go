package reporter_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
)

const (
	ready    = "True"
	notReady = "False"
)

// installFixture creates a Flux installation in ns and objects across two
// more namespaces: healthy, failing, suspended and DependencyNotReady objects
// of six kinds, artifacts with sizes, two controllers (one not ready), and a
// sync Kustomization named after ns with a GitRepository source.
func installFixture(t *testing.T, ns string) {
	ctx := context.Background()
	require.NoError(t, fixtures.FluxDeployment(ctx, env.Client, ns, "source-controller", "ghcr.io/fluxcd/source-controller:v1.9.5", true))
	require.NoError(t, fixtures.FluxDeployment(ctx, env.Client, ns, "kustomize-controller", "ghcr.io/fluxcd/kustomize-controller:v1.9.5", false))

	createFlux(t, fixtures.GitRepository, ns, ns, fixtures.Ready(ready, "Succeeded", "stored artifact for revision 'main@sha1:0123'"), fixtures.Artifact(1536))
	createFlux(t, fixtures.Kustomization, ns, ns, fixtures.Spec("./clusters/prod", "path"),
		fixtures.Spec(ns, "sourceRef", "name"),
		fixtures.Ready(ready, "ReconciliationSucceeded", "Applied revision: main@sha1:0123"))

	apps, infra := env.NewNamespace(t, "apps"), env.NewNamespace(t, "infra")
	createFlux(t, fixtures.GitRepository, apps, "app1", fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(2*1024*1024))
	createFlux(t, fixtures.GitRepository, apps, "app2", fixtures.Ready(notReady, "GitOperationFailed", "auth failed"))
	createFlux(t, fixtures.GitRepository, infra, "infra", fixtures.Suspended(), fixtures.Ready(notReady, "GitOperationFailed", "suspended and failing"), fixtures.Artifact(1024))
	createFlux(t, fixtures.OCIRepository, infra, "manifests", fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(512))
	createFlux(t, fixtures.Bucket, infra, "bucket", fixtures.Ready(notReady, "BucketOperationFailed", "no such bucket"))
	createFlux(t, fixtures.HelmRepository, apps, "charts", fixtures.Ready(ready, "Succeeded", "ok"), fixtures.Artifact(10*1024))
	createFlux(t, fixtures.Kustomization, apps, "app1", fixtures.Ready(ready, "ReconciliationSucceeded", "ok"))
	createFlux(t, fixtures.Kustomization, apps, "app2", fixtures.Ready(notReady, "DependencyNotReady", "dependency 'apps/app1' is not ready"))
	createFlux(t, fixtures.Kustomization, infra, "infra", fixtures.Ready(notReady, "BuildFailed", "kustomization.yaml not found"))
	createFlux(t, fixtures.Kustomization, infra, "paused", fixtures.Suspended())
	createFlux(t, fixtures.HelmRelease, apps, "podinfo", fixtures.Ready(ready, "InstallSucceeded", "ok"))
	createFlux(t, fixtures.HelmRelease, apps, "broken", fixtures.Ready(notReady, "InstallFailed", "timeout"))
}

func TestReportMatchesGoldenFile(t *testing.T) {
	ns := env.NewNamespace(t, "flux-golden")
	installFixture(t, ns)
	startReporter(t, env.Config, ns, time.Hour)

	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))
	assert.Regexp(t, `^Reporting finished in \d+(\.\d+)?(µs|ms|s)$`, r.GetReadyCondition().Message)
	assert.Equal(t, apiv1.ReconciliationSucceededReason, r.GetReadyCondition().Reason)

	// The server's platform depends on the machine; the rest is fixed.
	require.NotNil(t, r.Spec.Cluster)
	assert.Regexp(t, `^[a-z0-9]+/[a-z0-9]+$`, r.Spec.Cluster.Platform)
	r.Spec.Cluster.Platform = "<platform>"
	got, err := yaml.Marshal(r.Spec)
	require.NoError(t, err)
	got = []byte(strings.ReplaceAll(string(got), ns, "<namespace>"))

	golden := filepath.Join("testdata", "report.golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./reporter/ -update to create it")
	assert.Equal(t, string(want), string(got))

	// Aggregates only: the object stays small whatever the cluster holds.
	raw, err := yaml.Marshal(r)
	require.NoError(t, err)
	assert.Less(t, len(raw), 8*1024)
}

func TestStatsSemantics(t *testing.T) {
	ns := env.NewNamespace(t, "flux-stats")
	installFixture(t, ns)
	startReporter(t, env.Config, ns, time.Hour)
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionTrue))

	stats := map[string]apiv1.FluxReconcilerStats{}
	for _, rec := range r.Spec.ReconcilersStatus {
		stats[rec.Kind] = rec.Stats
	}
	cases := []struct {
		name string
		kind string
		want apiv1.FluxReconcilerStats
	}{
		{"a suspended failing object counts as suspended, not failing; sizes of all artifacts add up",
			"GitRepository", apiv1.FluxReconcilerStats{Running: 3, Failing: 1, Suspended: 1, TotalSize: "2.0 MiB"}},
		{"DependencyNotReady is not failing", "Kustomization",
			apiv1.FluxReconcilerStats{Running: 4, Failing: 1, Suspended: 1}},
		{"a kind with no objects reports zeros", "ImagePolicy", apiv1.FluxReconcilerStats{}},
		{"HelmRelease failures are counted", "HelmRelease", apiv1.FluxReconcilerStats{Running: 2, Failing: 1}},
		{"the operator's own kind is reported", "FluxInstance", apiv1.FluxReconcilerStats{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, stats[tc.kind])
		})
	}

	require.Len(t, r.Spec.ComponentsStatus, 2)
	kc, sc := r.Spec.ComponentsStatus[0], r.Spec.ComponentsStatus[1]
	assert.Equal(t, "kustomize-controller", kc.Name, "components are sorted by name")
	assert.False(t, kc.Ready)
	assert.True(t, strings.HasPrefix(kc.Status, "InProgress "), kc.Status)
	assert.True(t, sc.Ready)
	assert.True(t, strings.HasPrefix(sc.Status, "Current "), sc.Status)
	assert.Equal(t, "ghcr.io/fluxcd/source-controller:v1.9.5", sc.Image)

	require.NotNil(t, r.Spec.SyncStatus)
	assert.Equal(t, "kustomization/"+ns, r.Spec.SyncStatus.ID)
	assert.Equal(t, "./clusters/prod", r.Spec.SyncStatus.Path)
	assert.True(t, r.Spec.SyncStatus.Ready)
	assert.Equal(t, "https://github.com/example/"+ns, r.Spec.SyncStatus.Source)
}
