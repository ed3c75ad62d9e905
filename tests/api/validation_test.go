package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

func validInstance(ns, name string) *apiv1.FluxInstance {
	return &apiv1.FluxInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{
			Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"},
		},
	}
}

func TestSingletonNames(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "api-test")
	cases := []struct {
		name    string
		obj     client.Object
		message string
	}{
		{
			name:    "a FluxReport named other than flux is rejected",
			obj:     &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: ns}},
			message: "the only accepted name for a FluxReport is 'flux'",
		},
		{
			name:    "a FluxInstance named other than flux is rejected",
			obj:     validInstance(ns, "fluxcd"),
			message: "the only accepted name for a FluxInstance is 'flux'",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, tc.obj)
			require.Error(t, err)
			assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}

	t.Run("objects named flux are accepted", func(t *testing.T) {
		require.NoError(t, env.Client.Create(ctx, &apiv1.FluxReport{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns}}))
		require.NoError(t, env.Client.Create(ctx, validInstance(ns, "flux")))
		var got apiv1.FluxInstance
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, &got))
		assert.Equal(t, "2.x", got.Spec.Distribution.Version)
	})
}

func TestFluxInstanceValidation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		mutate  func(*apiv1.FluxInstance)
		message []string
	}{
		{
			name:    "an unknown component is rejected",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Components = []apiv1.Component{"source-controller", "flagger"} },
			message: []string{"spec.components[1]", "Unsupported value: \"flagger\""},
		},
		{
			name:    "an unknown cluster type is rejected",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Cluster = &apiv1.Cluster{Type: "k3s"} },
			message: []string{"spec.cluster.type", "Unsupported value: \"k3s\""},
		},
		{
			name:    "an unknown cluster size is rejected",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Cluster = &apiv1.Cluster{Size: "huge"} },
			message: []string{"spec.cluster.size", "Unsupported value: \"huge\""},
		},
		{
			name:    "a distribution artifact that is not an oci:// URL is rejected",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Distribution.Artifact = "https://example.com/manifests" },
			message: []string{"spec.distribution.artifact", "should match '^oci://.*$'"},
		},
		{
			name:    "an empty distribution version is rejected",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Distribution.Version = "" },
			message: []string{"spec.distribution.version"},
		},
		{
			name: "an OCIRepository sync with an https URL is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sync = &apiv1.Sync{Kind: "OCIRepository", URL: "https://ghcr.io/org/repo", Ref: "latest", Path: "./"}
			},
			message: []string{"an OCIRepository sync url must start with 'oci://'"},
		},
		{
			name: "a GitRepository sync with an oci URL is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "oci://ghcr.io/org/repo", Ref: "refs/heads/main", Path: "./"}
			},
			message: []string{"a GitRepository sync url must start with 'http://', 'https://' or 'ssh://'"},
		},
		{
			name: "the github provider on a Bucket sync is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sync = &apiv1.Sync{Kind: "Bucket", URL: "s3.amazonaws.com", Ref: "flux", Path: "./", Provider: "github"}
			},
			message: []string{"the 'github' provider is only valid for a GitRepository sync"},
		},
		{
			name: "the gcp provider on a GitRepository sync is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://example.com/fleet.git", Ref: "refs/heads/main", Path: "./", Provider: "gcp"}
			},
			message: []string{"the 'gcp' provider is not valid for a GitRepository sync"},
		},
		{
			name: "an unknown sync kind is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sync = &apiv1.Sync{Kind: "HelmRepository", URL: "https://charts.example.com", Ref: "x", Path: "./"}
			},
			message: []string{"spec.sync.kind", "Unsupported value: \"HelmRepository\""},
		},
		{
			name: "persistent sharding storage without spec.storage is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sharding = &apiv1.Sharding{Shards: []string{"shard1"}, Storage: "persistent"}
			},
			message: []string{"spec.storage must be set when spec.sharding.storage is 'persistent'"},
		},
		{
			name: "multitenant workload identity without object-level workload identity is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Cluster = &apiv1.Cluster{MultitenantWorkloadIdentity: true}
			},
			message: []string{"spec.cluster.objectLevelWorkloadIdentity must be true when spec.cluster.multitenantWorkloadIdentity is true"},
		},
		{
			name: "a shard named by a URL is rejected (it would be fetched as a kustomize resource)",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sharding = &apiv1.Sharding{Shards: []string{"https://attacker.example/x.yaml"}}
			},
			message: []string{"spec.sharding.shards[0]", "should match"},
		},
		{
			name: "a shard named by a Git repository is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sharding = &apiv1.Sharding{Shards: []string{"shard1", "github.com/org/repo"}}
			},
			message: []string{"spec.sharding.shards[1]", "should match"},
		},
		{
			name: "a shard name longer than the limit is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sharding = &apiv1.Sharding{Shards: []string{strings.Repeat("a", apiv1.MaxShardNameLength+1)}}
			},
			message: []string{"spec.sharding.shards[0]", fmt.Sprintf("may not be more than %d bytes", apiv1.MaxShardNameLength)},
		},
		{
			name: "more shards than the limit are rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sharding = &apiv1.Sharding{}
				for i := range apiv1.MaxShards + 1 {
					fi.Spec.Sharding.Shards = append(fi.Spec.Sharding.Shards, fmt.Sprintf("s%d", i))
				}
			},
			message: []string{"spec.sharding.shards", fmt.Sprintf("must have at most %d items", apiv1.MaxShards)},
		},
		{
			name: "a sharding key that is not a label name is rejected (it goes into label selectors)",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Sharding = &apiv1.Sharding{Key: "a,b in (c)", Shards: []string{"s1"}}
			},
			message: []string{"spec.sharding.key", "should match"},
		},
		{
			name:    "a cluster domain that is not a DNS name is rejected (it goes into URLs and arguments)",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Cluster = &apiv1.Cluster{Domain: "evil.example/x?y=z --flag"} },
			message: []string{"spec.cluster.domain", "should match"},
		},
		{
			name: "more patches than the limit are rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Kustomize = &apiv1.Kustomize{}
				for range apiv1.MaxPatches + 1 {
					fi.Spec.Kustomize.Patches = append(fi.Spec.Kustomize.Patches, apiv1.Patch{Patch: "- op: test\n  path: /x\n  value: 1\n"})
				}
			},
			message: []string{"spec.kustomize.patches", fmt.Sprintf("must have at most %d items", apiv1.MaxPatches)},
		},
		{
			name: "a tenant service account that is not a name is rejected",
			mutate: func(fi *apiv1.FluxInstance) {
				fi.Spec.Cluster = &apiv1.Cluster{TenantDefaultServiceAccount: "default --no-remote-bases=false"}
			},
			message: []string{"spec.cluster.tenantDefaultServiceAccount", "should match"},
		},
		{
			name:    "sharding without shards is rejected",
			mutate:  func(fi *apiv1.FluxInstance) { fi.Spec.Sharding = &apiv1.Sharding{Shards: []string{}} },
			message: []string{"spec.sharding.shards"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fi := validInstance(env.NewNamespace(t, "api-test"), "flux")
			tc.mutate(fi)
			err := env.Client.Create(ctx, fi)
			require.Error(t, err, "the API server accepted an invalid FluxInstance")
			assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			for _, m := range tc.message {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

// The aws provider authenticates a GitRepository to AWS CodeCommit from
// Flux 2.9: the API accepts it, and the build refuses it for older releases.
func TestTheAWSProviderIsAcceptedForAGitRepositorySync(t *testing.T) {
	fi := validInstance(env.NewNamespace(t, "api-test"), "flux")
	fi.Spec.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet",
		Ref: "refs/heads/main", Path: "./", Provider: "aws"}
	require.NoError(t, env.Client.Create(context.Background(), fi))
}

func TestFluxInstanceDefaultsAndImmutableSyncName(t *testing.T) {
	ctx := context.Background()
	fi := validInstance(env.NewNamespace(t, "api-test"), "flux")
	fi.Spec.Cluster = &apiv1.Cluster{}
	fi.Spec.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://github.com/org/fleet", Ref: "refs/heads/main", Path: "clusters/prod"}
	require.NoError(t, env.Client.Create(ctx, fi))

	var got apiv1.FluxInstance
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(fi), &got))
	require.NotNil(t, got.Spec.Wait)
	assert.True(t, *got.Spec.Wait, "spec.wait defaults to true")
	require.NotNil(t, got.Spec.MigrateResources)
	assert.True(t, *got.Spec.MigrateResources, "spec.migrateResources defaults to true")
	assert.Equal(t, "kubernetes", got.Spec.Cluster.Type)
	assert.Equal(t, "cluster.local", got.Spec.Cluster.Domain)
	require.NotNil(t, got.Spec.Cluster.NetworkPolicy)
	assert.True(t, *got.Spec.Cluster.NetworkPolicy, "spec.cluster.networkPolicy defaults to true")
	require.NotNil(t, got.Spec.Sync.Interval)
	assert.Equal(t, "1m0s", got.Spec.Sync.Interval.Duration.String())

	// Naming the sync after creation would orphan the objects created under
	// the default name, so it is a change like any other.
	got.Spec.Sync.Name = "renamed"
	err := env.Client.Update(ctx, &got)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec.sync.name is immutable")

	named := validInstance(env.NewNamespace(t, "api-test"), "flux")
	named.Spec.Sync = &apiv1.Sync{Name: "fleet", Kind: "OCIRepository", URL: "oci://ghcr.io/org/fleet", Ref: "latest", Path: "./"}
	require.NoError(t, env.Client.Create(ctx, named))
	named.Spec.Sync.Path = "./clusters/prod"
	require.NoError(t, env.Client.Update(ctx, named), "other sync fields stay mutable")
	named.Spec.Sync.Name = "fleet-2"
	err = env.Client.Update(ctx, named)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec.sync.name is immutable")
}

func TestStatusIsOnlyWritableThroughSubresource(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "api-test")
	report := &apiv1.FluxReport{
		ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxReportSpec{Distribution: apiv1.FluxDistributionStatus{
			Entitlement: apiv1.DistributionUnknown, Status: apiv1.DistributionUnknown,
		}},
		Status: apiv1.FluxReportStatus{LastHandledReconcileAt: "on-create"},
	}
	require.NoError(t, env.Client.Create(ctx, report))

	var got apiv1.FluxReport
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(report), &got))
	assert.Empty(t, got.Status.LastHandledReconcileAt, "status set on create must be dropped")

	got.Status.LastHandledReconcileAt = "on-update"
	got.Spec.Distribution.Version = "v2.9.5"
	require.NoError(t, env.Client.Update(ctx, &got))
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(report), &got))
	assert.Equal(t, "v2.9.5", got.Spec.Distribution.Version, "spec is written by a main resource update")
	assert.Empty(t, got.Status.LastHandledReconcileAt, "status written by a main resource update must be ignored")

	got.Status.LastHandledReconcileAt = "on-status-update"
	got.Status.Conditions = []metav1.Condition{{
		Type: apiv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: apiv1.ReconciliationSucceededReason,
		Message: "Reporting finished in 12ms", LastTransitionTime: metav1.Now(),
	}}
	got.Spec.Distribution.Version = "v9.9.9"
	require.NoError(t, env.Client.Status().Update(ctx, &got))
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(report), &got))
	assert.Equal(t, "on-status-update", got.Status.LastHandledReconcileAt)
	assert.Equal(t, "v2.9.5", got.Spec.Distribution.Version, "spec written through the status subresource must be ignored")
	require.NotNil(t, got.GetReadyCondition())
	assert.Equal(t, "Reporting finished in 12ms", got.GetReadyCondition().Message)
}

func TestPrinterColumns(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "api-test")
	report := &apiv1.FluxReport{
		ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxReportSpec{Distribution: apiv1.FluxDistributionStatus{
			Entitlement: "Unknown", Status: apiv1.DistributionInstalled, Version: "v2.9.5",
		}},
	}
	require.NoError(t, env.Client.Create(ctx, report))
	report.Status.Conditions = []metav1.Condition{{
		Type: apiv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: apiv1.ReconciliationSucceededReason,
		Message: "Reporting finished in 133ms", LastTransitionTime: metav1.Now(),
	}}
	require.NoError(t, env.Client.Status().Update(ctx, report))

	out, err := testenvKubectl(ctx, "-n", ns, "get", "fluxreports")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	assert.Equal(t, []string{"NAME", "AGE", "READY", "STATUS", "LASTUPDATED"}, strings.Fields(lines[0]))
	assert.Contains(t, lines[1], "flux")
	assert.Contains(t, lines[1], "True")
	assert.Contains(t, lines[1], "Reporting finished in 133ms")
	assert.NotContains(t, lines[0], "ENTITLEMENT", "Entitlement is a priority-10 column, shown with -o wide only")

	wide, err := testenvKubectl(ctx, "-n", ns, "get", "fluxreport/flux", "-o", "wide")
	require.NoError(t, err)
	wideLines := strings.Split(strings.TrimSpace(wide), "\n")
	assert.Equal(t, []string{"NAME", "ENTITLEMENT", "AGE", "READY", "STATUS", "LASTUPDATED"}, strings.Fields(wideLines[0]))
	assert.Contains(t, wideLines[1], "Unknown")

	fi := validInstance(ns, "flux")
	require.NoError(t, env.Client.Create(ctx, fi))
	fi.Status.LastAttemptedRevision = "v2.9.5@sha256:0123456789abcdef"
	require.NoError(t, env.Client.Status().Update(ctx, fi))
	out, err = testenvKubectl(ctx, "-n", ns, "get", "fluxinstance", "flux", "-o", "wide")
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, []string{"NAME", "AGE", "READY", "STATUS", "REVISION"}, strings.Fields(lines[0]))
	assert.Contains(t, lines[1], "v2.9.5@sha256:0123456789abcdef")

	// Short names work as a user would type them.
	out, err = testenvKubectl(ctx, "-n", ns, "get", "fr,fi", "-o", "name")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"fluxreport.fluxcd.controlplane.io/flux", "fluxinstance.fluxcd.controlplane.io/flux",
	}, strings.Fields(out))
}
