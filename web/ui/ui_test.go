package ui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

func obj(kind, ns, name, status, reason string, suspended bool) *fluxobj.Object {
	o := &fluxobj.Object{Suspended: suspended}
	o.Kind, o.Namespace, o.Name = kind, ns, name
	if status != "" {
		o.HasReady, o.Ready = true, fluxobj.Condition{Status: status, Reason: reason}
	}
	return o
}

func TestStatesFollowTheReportsRules(t *testing.T) {
	for _, c := range []struct {
		o    *fluxobj.Object
		want State
	}{
		{obj("Kustomization", "a", "x", "False", "BuildFailed", false), StateFailing},
		{obj("Kustomization", "a", "x", "False", "DependencyNotReady", false), StateProgressing},
		{obj("Kustomization", "a", "x", "Unknown", "Progressing", false), StateProgressing},
		{obj("Kustomization", "a", "x", "False", "BuildFailed", true), StateSuspended},
		{obj("Kustomization", "a", "x", "", "", false), StateUnknown},
		{obj("Kustomization", "a", "x", "True", "Succeeded", false), StateReady},
		{&fluxobj.Object{Static: true}, StateReady},
	} {
		if got := StateOf(c.o); got != c.want {
			t.Errorf("StateOf(%+v) = %s, want %s", c.o.Ready, got, c.want)
		}
	}
}

func TestSelectPagesWhatMatchesInStateOrder(t *testing.T) {
	var objs []*fluxobj.Object
	for i, n := range []string{"e", "d", "c", "b", "a"} {
		st := "True"
		if i%2 == 0 {
			st = "False"
		}
		objs = append(objs, obj("Kustomization", "ns", n, st, "R", false))
	}
	res := Select(objs, Query{Page: 2}, 2, nil)
	if res.Pages != 3 || res.Page != 2 || res.Matched != 5 || res.Counts[StateFailing] != 3 || res.Counts[StateReady] != 2 {
		t.Fatalf("unexpected result %+v", res)
	}
	if got := res.Rows[0].Name() + res.Rows[1].Name(); got != "eb" {
		t.Errorf("page 2 holds %q, want the last failing (e) then the first ready (b)", got)
	}
	if res := Select(objs, Query{Page: 99}, 2, nil); res.Page != 3 || len(res.Rows) != 1 {
		t.Errorf("a page past the end shows the last one, got page %d with %d rows", res.Page, len(res.Rows))
	}
	hidden := Select(objs, Query{}, 10, func(o *fluxobj.Object) bool { return o.Name != "a" })
	if hidden.Matched != 4 || hidden.Counts.Total() != 4 {
		t.Errorf("an object the user may not see is not counted: %+v", hidden)
	}
}

func TestQueriesSurviveTheURL(t *testing.T) {
	q := Query{Kind: "HelmRelease", Namespace: "apps", State: StateFailing, Name: "pod*", Page: 3}
	u, err := url.Parse(q.URL())
	if err != nil {
		t.Fatal(err)
	}
	if got := ParseQuery(u.Query()); got != q {
		t.Errorf("ParseQuery(%s) = %+v, want %+v", q.URL(), got, q)
	}
	if got := ParseQuery(url.Values{"state": {"broken"}, "page": {"-1"}}); got.State != "" || got.Page != 1 {
		t.Errorf("an unknown state and a bad page are ignored, got %+v", got)
	}
	if (Query{}).URL() != "/resources" {
		t.Errorf("the empty query is the plain page")
	}
	for pat, names := range map[string][2][]string{
		"app*":   {{"app", "apps-b"}, {"my-app"}},
		"a?p":    {{"app", "aXp"}, {"apps"}},
		"POD":    {{"podinfo", "my-pod"}, {"po"}},
		"[bad":   {{"x[bad"}, {"bad"}},
		"":       {{"anything"}, nil},
		"*-prod": {{"web-prod"}, {"web-production"}},
	} {
		m := Query{Name: pat}.matcher()
		for _, n := range names[0] {
			if !m(n) {
				t.Errorf("%q does not match %q", pat, n)
			}
		}
		for _, n := range names[1] {
			if m(n) {
				t.Errorf("%q matches %q", pat, n)
			}
		}
	}
}

func TestActionsPatchAsTheFluxCLIDoes(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	at := now.Format(time.RFC3339Nano)
	p, _ := patchFor("Kustomization", ActionSuspend, now)
	if p["spec"].(map[string]any)["suspend"] != true || p["metadata"] != nil {
		t.Errorf("suspend: %v", p)
	}
	p, _ = patchFor("Kustomization", ActionResume, now)
	if p["spec"].(map[string]any)["suspend"] != false ||
		p["metadata"].(map[string]any)["annotations"].(map[string]any)["reconcile.fluxcd.io/requestedAt"] != at {
		t.Errorf("resume also asks for a reconcile: %v", p)
	}
	p, _ = patchFor("FluxInstance", ActionSuspend, now)
	if p["spec"] != nil || p["metadata"].(map[string]any)["annotations"].(map[string]any)["fluxcd.controlplane.io/reconcile"] != "disabled" {
		t.Errorf("a FluxInstance is suspended by its annotation: %v", p)
	}
	p, _ = patchFor("GitRepository", ActionReconcile, now)
	if p["metadata"].(map[string]any)["annotations"].(map[string]any)["reconcile.fluxcd.io/requestedAt"] != at {
		t.Errorf("reconcile: %v", p)
	}
	if _, err := patchFor("GitRepository", "delete", now); err == nil || !strings.Contains(err.Error(), "unknown action") {
		t.Errorf("an unknown action is refused, got %v", err)
	}
}

func TestSmallHelpers(t *testing.T) {
	if got := shortRevision("main@sha1:0123456789abcdef0123"); got != "main@sha1:0123456789ab" {
		t.Errorf("shortRevision = %q", got)
	}
	if got := shortRevision("v1.2.3"); got != "v1.2.3" {
		t.Errorf("shortRevision keeps a short revision, got %q", got)
	}
	if got := truncate("héllo wörld", 5); got != "hé…" && got != "héll…" {
		t.Errorf("truncate cuts on a rune boundary, got %q", got)
	}
	for next, want := range map[string]string{"/resources?a=b": "/resources?a=b", "//evil.example": "/",
		"https://evil.example": "/", "/\\evil": "/", "": "/"} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
	if got := ago(time.Now().Add(-90 * time.Minute)); got != "1h30m" {
		t.Errorf("ago = %q", got)
	}
	if got := ago(metav1.Time{}.Time); got != "-" {
		t.Errorf("ago of no time = %q", got)
	}
}

func TestSelectPagesAsAFullSortWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"True", "False", "Unknown", ""}
	var objs []*fluxobj.Object
	for i := range 1000 {
		o := obj([]string{"Kustomization", "HelmRelease", "GitRepository"}[rng.IntN(3)], fmt.Sprintf("ns-%d", rng.IntN(7)),
			fmt.Sprintf("obj-%d", i), statuses[rng.IntN(len(statuses))], "R", rng.IntN(10) == 0)
		objs = append(objs, o)
	}
	all := slices.Clone(objs)
	rows := make([]Row, 0, len(all))
	for _, o := range all {
		rows = append(rows, Row{Object: o, State: StateOf(o)})
	}
	slices.SortFunc(rows, compareRows)
	for _, size := range []int{1, 7, 100, 1000, 2000} {
		for page := 1; page <= (len(rows)+size-1)/size+1; page += max(1, len(rows)/size/5) {
			res := Select(objs, Query{Page: page}, size, nil)
			lo := (res.Page - 1) * size
			want := rows[lo:min(lo+size, len(rows))]
			if len(res.Rows) != len(want) {
				t.Fatalf("size %d page %d: %d rows, want %d", size, page, len(res.Rows), len(want))
			}
			for i := range want {
				if res.Rows[i].Object != want[i].Object {
					t.Fatalf("size %d page %d row %d: %s, want %s", size, page, i, res.Rows[i].Name(), want[i].Name())
				}
			}
		}
	}
}

func TestObjectsAreReadOnceUntilSomethingChanges(t *testing.T) {
	c := &Catalog{Kinds: &fluxobj.KindLister{}}
	// Nothing has changed since the start: version 0.
	objs, failed := c.Objects(context.Background(), nil)
	if len(objs) != 0 || len(failed) != 0 {
		t.Fatalf("no kinds, no objects: %v %v", objs, failed)
	}
	if _, ok := c.snapshots[""]; !ok {
		t.Fatal("the read was not kept")
	}
	c.Changed()
	if c.Version() != 1 {
		t.Fatalf("version %d after a change", c.Version())
	}
	_, _ = c.Objects(context.Background(), nil)
	if c.snapAt != 1 || len(c.snapshots) != 1 {
		t.Errorf("the reads of the old version were not dropped: at %d, %d kept", c.snapAt, len(c.snapshots))
	}
}
