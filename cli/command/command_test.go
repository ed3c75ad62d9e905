package command

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(kind string, spec map[string]any, ready ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetKind(kind)
	u.SetName("x")
	if len(ready) == 2 {
		u.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": ready[0], "reason": ready[1]}}}
	}
	return u
}

func TestStatesFollowTheReportsRules(t *testing.T) {
	for _, c := range []struct {
		u    *unstructured.Unstructured
		want state
	}{
		{obj("Kustomization", nil, "False", "BuildFailed"), stateFailing},
		{obj("Kustomization", nil, "False", "DependencyNotReady"), stateProgressing},
		{obj("Kustomization", nil, "Unknown", "Progressing"), stateProgressing},
		{obj("Kustomization", map[string]any{"suspend": true}, "False", "BuildFailed"), stateSuspended},
		{obj("Kustomization", nil), stateUnknown},
		{obj("GitRepository", nil, "True", "Succeeded"), stateReady},
		{obj("Alert", nil), stateReady},
		{obj("HelmRepository", map[string]any{"type": "oci"}), stateReady},
	} {
		if got := resourceOf(c.u).State; got != c.want {
			t.Errorf("%s %v: %s, want %s", c.u.GetKind(), c.u.Object, got, c.want)
		}
	}
}

func TestNamePatterns(t *testing.T) {
	for pat, cases := range map[string]map[string]bool{
		"app-*": {"app-frontend": true, "my-app-x": false},
		"APP":   {"my-app": true, "ap": false},
		"a?c":   {"abc": true, "abbc": false},
		"[bad":  {"x[bad": true, "bad": false},
	} {
		m := nameMatcher(pat)
		for name, want := range cases {
			if m(name) != want {
				t.Errorf("%q matching %q: %t, want %t", pat, name, !want, want)
			}
		}
	}
}

func TestUsageErrorsExitWith2AndSayWhy(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute([]string{"get", "resources", "--failing", "--suspended"}, Streams{Out: &out, Err: &errOut})
	if code != ExitUsage || !strings.Contains(errOut.String(), "--failing, --suspended and --ready exclude each other") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	code = Execute([]string{"export", "report", "-o", "xml"}, Streams{Out: &out, Err: &errOut})
	if code != ExitUsage || !strings.Contains(errOut.String(), `-o "xml": use yaml or json`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code = Execute([]string{"version", "--client"}, Streams{Out: &out, Err: &errOut}); code != ExitOK ||
		!strings.HasPrefix(out.String(), "client: dev ") {
		t.Errorf("exit %d, stdout %q", code, out.String())
	}
}

func TestMessagesAreCutToTheirFirstLine(t *testing.T) {
	if got := firstLine("one\ntwo", 80); got != "one" {
		t.Errorf("got %q", got)
	}
	if got := firstLine(strings.Repeat("é", 100), 10); got != strings.Repeat("é", 9)+"…" {
		t.Errorf("got %q", got)
	}
	if got := short("v2.9.5@sha256:2655bbb1c189082f75d3"); got != "v2.9.5@sha256:2655bbb1c189" {
		t.Errorf("got %q", got)
	}
}
