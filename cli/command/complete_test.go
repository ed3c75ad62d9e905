package command

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

func TestCompletionsMatchWhatWasTypedInAnyCase(t *testing.T) {
	got := matching([]string{"kustomization/", "instance", "helmrelease/", "Kustomization/apps"}, "Kus")
	if want := []string{"Kustomization/apps", "kustomization/"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Without a cluster a completion offers what it knows without one, and
// prints nothing else: the shells read __complete's stdout.
func TestCompletionWithoutAClusterIsQuiet(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "resources", ""}, ":1\n"},
		{[]string{"reconcile", ""}, "instance\nreport\n:4\n"},
		{[]string{"suspend", "ins"}, "instance\n:4\n"},
		{[]string{"reconcile", "kustomization/"}, ":1\n"},
		{[]string{"tree", ""}, "instance\n:4\n"},
		{[]string{"events", "--for", ""}, "instance\nreport\n:4\n"},
		{[]string{"get", "resources", "-n", ""}, ":1\n"},
		{[]string{"get", "resources", "-o", ""}, "wide\nyaml\njson\n:4\n"},
		{[]string{"stats", "--color", ""}, "auto\nalways\nnever\n:4\n"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"__complete", "--kubeconfig", missing}, c.args...)
		if code := Execute(args, Streams{Out: &out, Err: &errOut}); code != ExitOK {
			t.Errorf("%q: exit %d, stderr %q", c.args, code, errOut.String())
		}
		if out.String() != c.want {
			t.Errorf("%q: got %q, want %q", c.args, out.String(), c.want)
		}
	}
}
