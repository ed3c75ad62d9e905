package command

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

var escapes = regexp.MustCompile("\x1b\\[[0-9;]*m")

func fullReport() *apiv1.FluxReport {
	r := &apiv1.FluxReport{Spec: apiv1.FluxReportSpec{
		Distribution: apiv1.FluxDistributionStatus{Status: "Installed", Version: "v2.9.5", ManagedBy: "flux-operator"},
		Cluster:      &apiv1.ClusterInfo{ServerVersion: "v1.37.2", Platform: "linux/amd64", Nodes: 3},
		Operator:     &apiv1.OperatorInfo{Version: "v0.1.0", Platform: "linux/amd64"},
		ComponentsStatus: []apiv1.FluxComponentStatus{
			{Name: "kustomize-controller", Image: "ghcr.io/fluxcd/kustomize-controller:v1.9.5", Ready: true, Status: "Current"},
			{Name: "source-controller", Image: "ghcr.io/fluxcd/source-controller:v1.9.5", Ready: false, Status: "Replicas: 0"},
		},
		ReconcilersStatus: []apiv1.FluxReconcilerStatus{
			{Kind: "GitRepository", Stats: apiv1.FluxReconcilerStats{Running: 12, TotalSize: "2.0 KiB"}},
			{Kind: "Kustomization", Stats: apiv1.FluxReconcilerStats{Running: 3, Failing: 1}},
			{Kind: "HelmRelease", Stats: apiv1.FluxReconcilerStats{Suspended: 10}},
		},
		SyncStatus: &apiv1.FluxSyncStatus{ID: "kustomization/flux-system", Ready: false, Source: "https://example.com/fleet.git",
			Status: "Applied revision: main@sha1:0123"},
	}}
	r.Status.Conditions = []metav1.Condition{{Type: apiv1.ReadyCondition, Status: metav1.ConditionTrue, Message: "Reporting finished",
		LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
	return r
}

func instance(status metav1.ConditionStatus, disabled bool) *apiv1.FluxInstance {
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "flux"}}
	if disabled {
		fi.Annotations = map[string]string{apiv1.ReconcileAnnotation: apiv1.DisabledValue}
	}
	if status != "" {
		fi.Status.Conditions = []metav1.Condition{{Type: apiv1.ReadyCondition, Status: status, Reason: "Some", Message: "msg",
			LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
	}
	fi.Status.History = []apiv1.HistorySnapshot{{Digest: "sha256:2655bbb1c189082f75d3", LastReconciledStatus: "ReconciliationSucceeded"}}
	return fi
}

func TestColouredTablesAreThePlainTablesOnceStripped(t *testing.T) {
	since := time.Now().Add(-72 * time.Hour)
	resources := []resource{
		{Kind: "Kustomization", Namespace: "apps", Name: "app-frontend", State: stateFailing, Reason: "BuildFailed", Since: since, Message: "failed"},
		{Kind: "Kustomization", Namespace: "apps", Name: "app-backend", State: stateProgressing, Reason: "DependencyNotReady", Since: since},
		{Kind: "Alert", Namespace: "apps", Name: "a", State: stateUnknown, Since: since},
		{Kind: "HelmRelease", Namespace: "apps", Name: "podinfo", State: stateSuspended, Since: since},
		{Kind: "GitRepository", Namespace: "infrastructure", Name: "fleet", State: stateReady, Since: since, Revision: "main@sha1:0123"},
	}
	noOperator := fullReport()
	noOperator.Spec.Operator = nil
	bare := fullReport()
	bare.Spec.Operator, bare.Spec.Cluster = nil, nil
	events := []corev1.Event{
		{Type: corev1.EventTypeNormal, Reason: "ReconciliationSucceeded", Message: "done", Count: 2,
			InvolvedObject: corev1.ObjectReference{Kind: "FluxInstance", Name: "flux"}, LastTimestamp: metav1.NewTime(since)},
		{Type: corev1.EventTypeWarning, Reason: "BuildFailed", Message: "failed",
			InvolvedObject: corev1.ObjectReference{Kind: "Kustomization", Name: "app-frontend"}, LastTimestamp: metav1.NewTime(since)},
	}
	tree := &node{ref: "Kustomization/ops/root", children: []*node{
		{ref: "Kustomization/ops/child", children: []*node{{ref: "Kustomization/ops/root", note: noteCycle}}},
		{ref: "HelmRelease/ops/gone", note: noteNotFound},
	}}
	for name, write := range map[string]func(w *bytes.Buffer, p painter) error{
		"get resources": func(w *bytes.Buffer, p painter) error { return writeResources(w, w, resources, "", false, p) },
		"get resources -A -o wide": func(w *bytes.Buffer, p painter) error {
			return writeResources(w, w, resources, "wide", true, p)
		},
		"get report":                        func(w *bytes.Buffer, p painter) error { return writeReport(w, fullReport(), p) },
		"get report without an operator":    func(w *bytes.Buffer, p painter) error { return writeReport(w, noOperator, p) },
		"get report without operator nodes": func(w *bytes.Buffer, p painter) error { return writeReport(w, bare, p) },
		"get instance ready":                func(w *bytes.Buffer, p painter) error { return writeInstance(w, instance("True", false), p) },
		"get instance failing and suspended": func(w *bytes.Buffer, p painter) error {
			return writeInstance(w, instance("False", true), p)
		},
		"get instance not reconciled yet": func(w *bytes.Buffer, p painter) error { return writeInstance(w, instance("", false), p) },
		"stats":                           func(w *bytes.Buffer, p painter) error { return writeStats(w, fullReport(), "", p) },
		"events":                          func(w *bytes.Buffer, p painter) error { return writeEvents(w, events, false, p) },
		"events -A":                       func(w *bytes.Buffer, p painter) error { return writeEvents(w, events, true, p) },
		"tree":                            func(w *bytes.Buffer, p painter) error { printTree(w, tree, p); return nil },
	} {
		t.Run(name, func(t *testing.T) {
			var plainOut, coloured bytes.Buffer
			if err := write(&plainOut, painter{}); err != nil {
				t.Fatal(err)
			}
			if err := write(&coloured, painter{on: true}); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(plainOut.String(), "\x1b") {
				t.Errorf("escapes in the uncoloured output:\n%q", plainOut.String())
			}
			if !strings.Contains(coloured.String(), "\x1b[3") {
				t.Errorf("no colour in the coloured output:\n%s", coloured.String())
			}
			if got := escapes.ReplaceAllString(coloured.String(), ""); got != plainOut.String() {
				t.Errorf("coloured output, escapes stripped, is not the plain output:\n%s\nwant:\n%s", got, plainOut.String())
			}
		})
	}
}

func TestTheStateTakesItsColour(t *testing.T) {
	var out bytes.Buffer
	rs := []resource{{Kind: "Kustomization", Name: "a", State: stateFailing}, {Kind: "Kustomization", Name: "b", State: stateReady}}
	if err := writeResources(&out, &out, rs, "", false, painter{on: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\x1b[31mFailing\x1b[0m", "\x1b[32mReady\x1b[0m", "\x1b[39mSTATE\x1b[0m"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("%q not in\n%q", want, out.String())
		}
	}
	out.Reset()
	events := []corev1.Event{{Type: corev1.EventTypeWarning, Reason: "BuildFailed"}}
	if err := writeEvents(&out, events, false, painter{on: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\x1b[33mWarning\x1b[0m") {
		t.Errorf("the Warning is not yellow:\n%q", out.String())
	}
}

func TestEveryColourIsAsLongAsTheOthers(t *testing.T) {
	for _, c := range []colour{red, green, yellow, cyan} {
		if len(c) != len(plain) {
			t.Errorf("%q is %d bytes, plain %d: painted cells of one column would differ in width", c, len(c), len(plain))
		}
	}
}

func TestYAMLAndJSONAreNeverColoured(t *testing.T) {
	rs := []resource{{Kind: "Kustomization", Name: "a", State: stateFailing}}
	for _, format := range []string{"yaml", "json"} {
		var out bytes.Buffer
		if err := writeResources(&out, &out, rs, format, true, painter{on: true}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "\x1b") {
			t.Errorf("-o %s coloured:\n%q", format, out.String())
		}
	}
}

func TestColourOnlyOnATerminalUnlessAskedFor(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name     string
		mode     colorMode
		env      func(string) string
		terminal bool
		want     bool
	}{
		{"auto on a terminal", colorAuto, env("TERM", "xterm-256color"), true, true},
		{"auto on a pipe", colorAuto, env("TERM", "xterm-256color"), false, false},
		{"auto on a terminal with NO_COLOR", colorAuto, env("NO_COLOR", "1"), true, false},
		{"auto on a terminal with NO_COLOR empty", colorAuto, env("NO_COLOR", ""), true, true},
		{"auto on a dumb terminal", colorAuto, env("TERM", "dumb"), true, false},
		{"always on a pipe with NO_COLOR", colorAlways, env("NO_COLOR", "1"), false, true},
		{"never on a terminal", colorNever, env(), true, false},
	} {
		if got := colorOn(c.mode, c.env, c.terminal); got != c.want {
			t.Errorf("%s: %t, want %t", c.name, got, c.want)
		}
	}
}

func TestColorFlagAndEnvironment(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute([]string{"version", "--client", "--color", "sometimes"}, Streams{Out: &out, Err: &errOut})
	if code != ExitUsage || !strings.Contains(errOut.String(), `invalid argument "sometimes" for "--color" flag: use auto, always or never`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}

	t.Setenv(colorEnv, "sometimes")
	errOut.Reset()
	code = Execute([]string{"version", "--client"}, Streams{Out: &out, Err: &errOut})
	if code != ExitUsage || !strings.Contains(errOut.String(), `FLUX_OPERATOR_COLOR="sometimes": use auto, always or never`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code = Execute([]string{"version", "--client", "--color", "never"}, Streams{Out: &out, Err: &errOut}); code != ExitOK {
		t.Errorf("--color overrides the environment: exit %d, stderr %q", code, errOut.String())
	}

	t.Setenv(colorEnv, "always")
	root := NewRoot(Streams{Out: &out, Err: &errOut})
	if got := root.PersistentFlags().Lookup("color").DefValue; got != "always" {
		t.Errorf("FLUX_OPERATOR_COLOR=always: --color defaults to %q", got)
	}
}

func TestAutoDoesNotColourABuffer(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	o := &options{streams: Streams{Out: &bytes.Buffer{}}, color: colorAuto}
	if o.painter().on {
		t.Error("auto colours what is not a terminal")
	}
	o.color = colorAlways
	if !o.painter().on {
		t.Error("always does not colour")
	}
}
