package packaging_test

import (
	"path"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"
)

// helmTemplateCapabilities are the capabilities of `helm template`, which
// talks to no cluster (Install.RunWithContext with ClientOnly in
// helm.sh/helm/v3/pkg/action): chartutil.DefaultCapabilities, with the
// version of --kube-version when kubeVersion is set and the API versions of
// --api-versions added.
func helmTemplateCapabilities(t *testing.T, kubeVersion string, apiVersions ...string) *chartutil.Capabilities {
	t.Helper()
	caps := chartutil.DefaultCapabilities.Copy()
	if kubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(kubeVersion)
		require.NoError(t, err)
		caps.KubeVersion = *kv
	}
	caps.APIVersions = append(slices.Clone(caps.APIVersions), apiVersions...)
	return caps
}

// serverCapabilities are the capabilities Helm reads from the test API server
// for `helm install`, `helm upgrade`, their --dry-run and
// `helm template --validate` (Configuration.getCapabilities and
// GetVersionSet in helm.sh/helm/v3/pkg/action): the server's version, and
// its discovery as group/versions and as group/version/Kinds. When
// reportedVersion is set it replaces the server's version, as the
// GitVersion of an older cluster.
func serverCapabilities(t *testing.T, reportedVersion string) *chartutil.Capabilities {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	require.NoError(t, err)
	info, err := dc.ServerVersion()
	require.NoError(t, err)
	kv := chartutil.KubeVersion{Version: info.GitVersion, Major: info.Major, Minor: info.Minor}
	if reportedVersion != "" {
		v, err := utilversion.ParseGeneric(reportedVersion)
		require.NoError(t, err)
		kv = chartutil.KubeVersion{Version: reportedVersion,
			Major: strconv.FormatUint(uint64(v.Major()), 10), Minor: strconv.FormatUint(uint64(v.Minor()), 10)}
	}
	groups, resources, err := dc.ServerGroupsAndResources()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, g := range groups {
		for _, gv := range g.Versions {
			seen[gv.GroupVersion] = true
		}
	}
	for _, r := range resources {
		for _, res := range r.APIResources {
			seen[path.Join(r.GroupVersion, res.Kind)] = true
		}
	}
	versions := make([]string, 0, len(seen))
	for v := range seen {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	return &chartutil.Capabilities{
		KubeVersion: kv,
		APIVersions: versions,
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}
}

// TestChartRendersWithPlainHelmTemplate renders the chart as a plain
// `helm template flux-operator config/charts/flux-operator -n flux-system`
// does, without --kube-version: Helm then assumes its built-in default
// version (v1.20.0 in the Helm SDK), which is no cluster's version and is
// older than the chart's minimum.
func TestChartRendersWithPlainHelmTemplate(t *testing.T) {
	caps := helmTemplateCapabilities(t, "")
	t.Logf("Helm's default Kubernetes version: %s", caps.KubeVersion.Version)
	r, err := renderChartWith(caps, nil)
	require.NoError(t, err)

	deps := deployments(t, r.Objects)
	assert.Len(t, deps, 3, "Deployments: %v", ids(r.Objects))
	for _, c := range components {
		require.Contains(t, deps, c)
		assert.Equal(t, "ghcr.io/fluxops/flux-operator-"+c+":v0.1.0", deps[c].Spec.Template.Spec.Containers[0].Image, c)
	}
	dryRunApply(t, r.Objects)
	checkPods(t, deps)
	assert.Contains(t, r.Notes, "kubectl -n flux-system get fluxreport/flux -o yaml")
}

// TestChartRefusesAClusterOlderThan130 checks the chart's minimum Kubernetes
// version (templates/checks.yaml): it applies to the version of an API
// server, and not to the default version of `helm template`.
func TestChartRefusesAClusterOlderThan130(t *testing.T) {
	const message = "the flux-operator chart needs Kubernetes 1.30 or later, and the cluster runs "

	t.Run("the test API server (v1.37.2) renders", func(t *testing.T) {
		caps := serverCapabilities(t, "")
		require.Equal(t, "v1.37.2", caps.KubeVersion.Version)
		require.True(t, caps.APIVersions.Has("apps/v1/Deployment"), "discovery lists the served kinds")
		r, err := renderChartWith(caps, nil)
		require.NoError(t, err)
		assert.Len(t, deployments(t, r.Objects), 3, "Deployments: %v", ids(r.Objects))
	})
	for _, v := range []string{"v1.30.0", "v1.30.14-gke.1000", "v1.31.2+k3s1"} {
		t.Run("a "+v+" API server renders", func(t *testing.T) {
			_, err := renderChartWith(serverCapabilities(t, v), nil)
			require.NoError(t, err)
		})
	}
	for _, v := range []string{"v1.29.9", "v1.29.15-eks-1a2b3c4", "v1.20.0"} {
		t.Run("a "+v+" API server fails", func(t *testing.T) {
			_, err := renderChartWith(serverCapabilities(t, v), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), message+v)
		})
	}
	t.Run("helm template --kube-version 1.29.0 --api-versions apps/v1/Deployment fails", func(t *testing.T) {
		_, err := renderChartWith(helmTemplateCapabilities(t, "1.29.0", "apps/v1/Deployment"), nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), message+"v1.29.0")
	})
	t.Run("helm template --kube-version 1.29.0 renders: without a server the version is not a cluster's", func(t *testing.T) {
		_, err := renderChartWith(helmTemplateCapabilities(t, "1.29.0"), nil)
		require.NoError(t, err)
	})
}
