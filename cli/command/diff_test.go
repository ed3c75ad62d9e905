package command

import (
	"errors"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fluxops/flux-operator/controllers/builder"
)

func deployment(args ...any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "source-controller", "namespace": "flux-system",
			"resourceVersion": "12", "uid": "u-1", "generation": int64(3), "managedFields": []any{"x"}},
		"spec":   map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"args": args}}}}},
		"status": map[string]any{"replicas": int64(1)},
	}}
	return u
}

// The diff shows what changes and nothing the API server keeps for itself;
// in colour, the added lines are green and the removed red, and the text is
// the same once the colours are stripped. Changes exit 1 without an Error
// line; none exits 0.
func TestDiffPrintsChangesAndExitsByThem(t *testing.T) {
	res := &builder.Result{Revision: "v2.9.5@sha256:abc"}
	changes := []change{
		{subject: "Namespace/flux-system", action: string(ssa.UnchangedAction)},
		{subject: "Deployment/flux-system/source-controller", action: string(ssa.ConfiguredAction),
			before: deployment("--log-level=info", "--log-level=debug"), after: deployment("--log-level=info")},
		{subject: "Deployment/flux-system/helm-controller", action: string(ssa.CreatedAction)},
		{subject: "Service/flux-system/webhook-receiver", action: string(ssa.DeletedAction)},
	}
	var plain, coloured strings.Builder
	err := printChanges(&plain, painter{}, res, changes, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitFailed {
		t.Fatalf("changes: got %v, want exit code %d", err, ExitFailed)
	}
	out := plain.String()
	for _, s := range []string{"resourceVersion", "uid", "generation", "managedFields", "status", "replicas"} {
		if strings.Contains(out, s) {
			t.Errorf("the diff shows %s:\n%s", s, out)
		}
	}
	for _, s := range []string{"-        - --log-level=debug\n", "► Deployment/flux-system/helm-controller would be created\n",
		"► Service/flux-system/webhook-receiver would be deleted\n",
		"Revision v2.9.5@sha256:abc: 1 to create, 1 to change, 1 to delete, 1 unchanged\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("the diff lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "Namespace/flux-system") {
		t.Errorf("an unchanged object is listed without --show-unchanged:\n%s", out)
	}
	_ = printChanges(&coloured, painter{on: true}, res, changes, false)
	if got := escapes.ReplaceAllString(coloured.String(), ""); got != out {
		t.Errorf("coloured and stripped:\n%s\nplain:\n%s", got, out)
	}
	if !strings.Contains(coloured.String(), string(red)+"-        - --log-level=debug"+reset) {
		t.Errorf("the removed line is not red:\n%q", coloured.String())
	}

	plain.Reset()
	if err := printChanges(&plain, painter{}, res, changes[:1], true); err != nil {
		t.Fatalf("no change: got %v, want exit code 0", err)
	}
	if want := "  Namespace/flux-system unchanged\nRevision v2.9.5@sha256:abc: 0 to create, 0 to change, 0 to delete, 1 unchanged\n"; plain.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", plain.String(), want)
	}
}
