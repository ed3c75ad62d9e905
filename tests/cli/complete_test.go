package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// complete asks the CLI for the completions of its last argument as the
// shells' scripts do (flux-operator __complete ARGS... WORD) and returns the
// completions and cobra's directive (:4 no file completion, :6 and no space
// after the word, :1 an error: nothing to offer). Anything on stderr but
// cobra's own last line would be garbage a broken completion prints.
func complete(t *testing.T, kubeconfig string, args ...string) ([]string, string) {
	t.Helper()
	out, errOut, code := cli(t, kubeconfig, append([]string{"__complete"}, args...)...)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^Completion ended with directive: [\w, ]+\n$`, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	directive := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(directive, ":"), "no directive in %q", out)
	return lines[:len(lines)-1], directive
}

func TestCompletionOffersWhatTheCommandsAccept(t *testing.T) {
	kinds := []string{"alert/", "gitrepository/", "helmrelease/", "helmrepository/", "kustomization/"}
	for _, c := range []struct {
		name      string
		args      []string
		want      []string
		directive string
	}{
		{"get resources completes the kinds the report lists", []string{"get", "resources", ""},
			[]string{"alert", "fluxinstance", "gitrepository", "helmrelease", "helmrepository", "kustomization"}, ":4"},
		{"as far as they are typed", []string{"get", "resources", "Helm"}, []string{"helmrelease", "helmrepository"}, ":4"},
		{"and one kind only", []string{"get", "resources", "alert", ""}, nil, ":4"},
		{"reconcile completes instance, report and KIND/ without a space after it", []string{"reconcile", ""},
			append(kinds, "instance", "report"), ":6"},
		{"then the names of that kind in -n", []string{"reconcile", "-n", appsNS, "kustomization/"},
			[]string{"kustomization/app-backend", "kustomization/app-frontend"}, ":4"},
		{"as the kind was typed, as far as the name is typed", []string{"suspend", "-n", appsNS, "Kustomizations/app-f"},
			[]string{"Kustomizations/app-frontend"}, ":4"},
		{"suspend and resume do not take the report", []string{"resume", "re"}, nil, ":4"},
		{"tree completes the kinds it follows", []string{"tree", ""}, []string{"helmrelease/", "instance", "kustomization/"}, ":6"},
		{"and no other", []string{"tree", "-n", infraNS, "gitrepository/"}, nil, ":4"},
		{"events --for completes as reconcile", []string{"events", "--for", ""}, append(kinds, "instance", "report"), ":6"},
		{"with the names in -n", []string{"events", "-n", infraNS, "--for", "gitrepository/"}, []string{"gitrepository/fleet"}, ":4"},
		{"none for a kind without objects in the namespace", []string{"reconcile", "-n", infraNS, "helmrelease/"}, nil, ":4"},
		{"none in the context's namespace when it has none", []string{"reconcile", "alert/"}, nil, ":4"},
		{"-n completes the namespaces", []string{"get", "resources", "-n", "in"}, []string{infraNS}, ":4"},
		{"so does --operator-namespace", []string{"get", "report", "--operator-namespace", "flux-"}, []string{runtimeNS}, ":4"},
		{"--color its values", []string{"stats", "--color", ""}, []string{"auto", "always", "never"}, ":4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, directive := complete(t, "", c.args...)
			if c.want == nil {
				assert.Empty(t, got)
			} else {
				assert.ElementsMatch(t, c.want, got)
			}
			assert.Equal(t, c.directive, directive)
		})
	}

	got, _ := complete(t, "", "get", "resources", "-n", "")
	assert.Subset(t, got, []string{appsNS, infraNS, runtimeNS, "default", "kube-system"})
}

func TestCompletionWithoutAccessOrClusterOffersNothingFromIt(t *testing.T) {
	kc, err := env.UserKubeconfig("nobody")
	require.NoError(t, err)
	got, directive := complete(t, kc, "get", "resources", "")
	assert.Empty(t, got)
	assert.Equal(t, ":1", directive)
	got, directive = complete(t, kc, "get", "resources", "-n", "")
	assert.Empty(t, got)
	assert.Equal(t, ":1", directive)
	got, directive = complete(t, kc, "reconcile", "")
	assert.Equal(t, []string{"instance", "report"}, got, "what needs no cluster")
	assert.Equal(t, ":4", directive)

	missing := filepath.Join(t.TempDir(), "missing")
	got, directive = complete(t, missing, "suspend", "kustomization/")
	assert.Empty(t, got)
	assert.Equal(t, ":1", directive)
}
