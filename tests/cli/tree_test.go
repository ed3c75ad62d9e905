package cli_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxops/flux-operator/tests/fixtures"
)

func inventory(ids ...string) fixtures.Option {
	entries := make([]any, 0, len(ids))
	for _, id := range ids {
		entries = append(entries, map[string]any{"id": id, "v": "v1"})
	}
	return fixtures.Status(entries, "inventory", "entries")
}

func TestTreeFollowsTheInventoriesItContains(t *testing.T) {
	opsObject(t, fixtures.Kustomization, "root", inventory(
		"ops_web_apps_Deployment",
		"ops_child_kustomize.toolkit.fluxcd.io_Kustomization",
		"_ops__Namespace",
		"ops_podinfo_helm.toolkit.fluxcd.io_HelmRelease",
	))
	opsObject(t, fixtures.Kustomization, "child", inventory("ops_settings__ConfigMap", "ops_root_kustomize.toolkit.fluxcd.io_Kustomization"))
	hr := inventory("ops_podinfo__Service", "ops_podinfo_apps_Deployment")
	opsObject(t, fixtures.HelmRelease, "podinfo", hr)

	out, errOut, code := cli(t, "", "tree", "kustomization/root", "-n", opsNS)
	require.Equal(t, 0, code, errOut)
	golden(t, "tree-kustomization", out)

	out, errOut, code = cli(t, "", "tree", "instance")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "FluxInstance/flux-system/flux\n├── Deployment/flux-system/kustomize-controller\n└── Deployment/flux-system/source-controller\n", out)

	_, errOut, code = cli(t, "", "tree", "gitrepository/fleet")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `"gitrepository/fleet": give instance, kustomization/NAME or helmrelease/NAME`)
	_, errOut, code = cli(t, "", "tree", "kustomization/gone", "-n", opsNS)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Kustomization/ops/gone does not exist")
}
