package builder

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

func TestBadInputGetsAnErrorNamingTheFieldAndWhatToDo(t *testing.T) {
	cases := []struct {
		name string
		edit func(*apiv1.FluxInstanceSpec)
		want string
	}{
		{"an unknown component", func(s *apiv1.FluxInstanceSpec) { s.Components = []apiv1.Component{"source-controller", "flagger"} },
			`spec.components: "flagger" is not a Flux component: use source-controller, kustomize-controller`},
		{"source-watcher on a release without it", func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Version = "2.6.x"
			s.Components = []apiv1.Component{"source-controller", "source-watcher"}
		}, "spec.components: source-watcher is part of Flux from v2.7.0: remove it or set spec.distribution.version to 2.7.x or later"},
		{"a version range with no match", func(s *apiv1.FluxInstanceSpec) { s.Distribution.Version = "2.5.x" },
			`spec.distribution.version "2.5.x" matches none of the available Flux releases (v2.9.5, v2.8.1, v2.7.5, v2.6.4)`},
		{"a variant the distribution has no image list for", func(s *apiv1.FluxInstanceSpec) { s.Distribution.Variant = "enterprise-distroless" },
			`spec.distribution.variant "enterprise-distroless": the Flux distribution in use has image lists for upstream-alpine only ` +
				`for v2.9.5 in flux-images/v2.9.5; set spec.distribution.artifact (or the installer's --manifests-path) to a ` +
				`distribution that lists the enterprise-distroless images, or use a variant it has`},
		{"a registry whose variant the distribution has no image list for", func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Registry = "ghcr.io/controlplaneio-fluxcd/distroless"
		}, `spec.distribution.registry "ghcr.io/controlplaneio-fluxcd/distroless" (variant enterprise-distroless): the Flux distribution in use has image lists for upstream-alpine only`},
		{"no registry", func(s *apiv1.FluxInstanceSpec) { s.Distribution.Registry = "" },
			"spec.distribution.registry is required: the registry of the Flux images, such as ghcr.io/fluxcd"},
		{"the aws provider for a Git sync before Flux 2.9", func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Version = "2.6.x"
			s.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet", Ref: "refs/heads/main", Path: "./", Provider: "aws"}
		}, "spec.sync.provider 'aws' for a GitRepository sync needs Flux 2.9 or later, not v2.6.4: upgrade, or use an OCIRepository or a Bucket sync"},
		{"the gcp provider for a Git sync", func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://example.com/fleet.git", Ref: "refs/heads/main", Path: "./", Provider: "gcp"}
		}, "spec.sync.provider 'gcp' is not valid for a GitRepository sync: use an OCIRepository or a Bucket"},
		{"a malformed patch", func(s *apiv1.FluxInstanceSpec) {
			s.Kustomize = &apiv1.Kustomize{Patches: []apiv1.Patch{{Patch: "- op: add\n  path: [not a path\n",
				Target: &apiv1.PatchSelector{Kind: "Deployment"}}}}
		}, "spec.kustomize.patches[0] (target kind=Deployment) failed"},
		{"a patch whose JSON path is not in the target", func(s *apiv1.FluxInstanceSpec) {
			s.Kustomize = &apiv1.Kustomize{Patches: []apiv1.Patch{{Patch: "- op: replace\n  path: /spec/template/spec/containers/5/image\n  value: x\n",
				Target: &apiv1.PatchSelector{Kind: "Deployment", Name: "source-controller"}}}}
		}, "spec.kustomize.patches[0] (target kind=Deployment, name=source-controller) failed"},
		{"a sync provider of another kind", func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Kind: "OCIRepository", URL: "oci://ghcr.io/x/y", Ref: "latest", Path: "./", Provider: "github"}
		}, "spec.sync.provider 'github' is only valid for a GitRepository sync, not OCIRepository"},
		{"an OCI sync without oci://", func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Kind: "OCIRepository", URL: "https://ghcr.io/x/y", Ref: "latest", Path: "./"}
		}, `spec.sync.url "https://ghcr.io/x/y" of an OCIRepository sync must start with oci://`},
		{"persistent shards without storage", func(s *apiv1.FluxInstanceSpec) {
			s.Sharding = &apiv1.Sharding{Shards: []string{"a"}, Storage: "persistent"}
		}, "spec.storage must be set when spec.sharding.storage is 'persistent'"},
		{"multitenant workload identity on Flux 2.6", func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Version = "2.6.x"
			s.Cluster = &apiv1.Cluster{ObjectLevelWorkloadIdentity: true, MultitenantWorkloadIdentity: true}
		}, "spec.cluster.multitenantWorkloadIdentity needs Flux 2.7 or later, not v2.6.4"},
		{"multitenant workload identity without object-level", func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{MultitenantWorkloadIdentity: true}
		}, "spec.cluster.objectLevelWorkloadIdentity must be true when spec.cluster.multitenantWorkloadIdentity is true"},
		{"a cluster domain that is not a DNS name", func(s *apiv1.FluxInstanceSpec) { s.Cluster = &apiv1.Cluster{Domain: "evil/x?y= --flag"} },
			`spec.cluster.domain "evil/x?y= --flag" is not a DNS name such as cluster.local`},
		{"a tenant service account that is not a name", func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{Multitenant: true, TenantDefaultServiceAccount: "default --x"}
		}, `spec.cluster.tenantDefaultServiceAccount "default --x" is not a service account name`},
		{"a sharding key that is not a label key", func(s *apiv1.FluxInstanceSpec) {
			s.Sharding = &apiv1.Sharding{Key: "a,b in (c)", Shards: []string{"s1"}}
		}, `spec.sharding.key "a,b in (c)" is not a label key such as sharding.fluxcd.io/key`},
		{"more shards than the limit", func(s *apiv1.FluxInstanceSpec) {
			s.Sharding = &apiv1.Sharding{}
			for i := range apiv1.MaxShards + 1 {
				s.Sharding.Shards = append(s.Sharding.Shards, fmt.Sprintf("s%d", i))
			}
		}, fmt.Sprintf("spec.sharding.shards lists %d shards, at most %d are allowed", apiv1.MaxShards+1, apiv1.MaxShards)},
		{"more patches than the limit", func(s *apiv1.FluxInstanceSpec) {
			s.Kustomize = &apiv1.Kustomize{Patches: make([]apiv1.Patch, apiv1.MaxPatches+1)}
		}, fmt.Sprintf("spec.kustomize.patches lists %d patches, at most %d are allowed", apiv1.MaxPatches+1, apiv1.MaxPatches)},
		{"a shard listed twice", func(s *apiv1.FluxInstanceSpec) { s.Sharding = &apiv1.Sharding{Shards: []string{"a", "a"}} },
			`spec.sharding.shards lists "a" twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := defaultSpec()
			tc.edit(&spec)
			_, err := Build(context.Background(), Request{Spec: &spec, Distribution: distribution.Embedded()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
	spec := defaultSpec()
	spec.Distribution.Version = "2.6.x"
	_, err := Build(context.Background(), Request{Spec: &spec, Distribution: distribution.Embedded(), LastAppliedVersion: "v2.9.5"})
	if err == nil || !strings.Contains(err.Error(), "downgrading from v2.9.5 to v2.6.4 is not supported") {
		t.Errorf("a minor downgrade: %v", err)
	}
}

func TestTheRevisionFollowsTheBuiltManifests(t *testing.T) {
	a, b := build(t, defaultSpec()), build(t, defaultSpec())
	if a.Revision != b.Revision || !strings.HasPrefix(a.Revision, "v2.9.5@sha256:") || len(a.Revision) != len("v2.9.5@sha256:")+64 {
		t.Errorf("revisions %s and %s of one spec", a.Revision, b.Revision)
	}
	spec := defaultSpec()
	spec.Distribution.ImagePullSecret = "creds"
	if c := build(t, spec); c.Revision == a.Revision {
		t.Errorf("a changed spec kept the revision %s", c.Revision)
	}
	if got := a.Components; len(got) != 4 || got[0].Name != "source-controller" || got[0].Repository != "ghcr.io/fluxcd/source-controller" ||
		got[0].Tag != "v1.9.5" || !strings.HasPrefix(got[0].Digest, "sha256:") {
		t.Errorf("components = %+v", got)
	}
}

func TestObjectsComeInApplyOrder(t *testing.T) {
	res := build(t, defaultSpec())
	rank := map[string]int{"CustomResourceDefinition": 0, "Namespace": 1, "ClusterRole": 2, "ClusterRoleBinding": 3,
		"ResourceQuota": 4, "ServiceAccount": 5, "Service": 6, "Deployment": 7}
	last := -1
	for _, o := range res.Objects {
		r, ok := rank[o.GetKind()]
		if !ok {
			continue
		}
		if r < last {
			t.Fatalf("%s %s comes after a later kind", o.GetKind(), o.GetName())
		}
		last = r
	}
	if res.Objects[0].GetKind() != "CustomResourceDefinition" {
		t.Errorf("first object is a %s", res.Objects[0].GetKind())
	}
}

// kindEnums returns the kind enums of the Alert CRD's versions.
func kindEnums(t *testing.T, res *Result) [][]any {
	t.Helper()
	for _, o := range res.Objects {
		if o.GetName() != "alerts.notification.toolkit.fluxcd.io" {
			continue
		}
		var out [][]any
		versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
		for _, v := range versions {
			enum, _, _ := unstructured.NestedSlice(v.(map[string]any), "schema", "openAPIV3Schema", "properties", "spec",
				"properties", "eventSources", "items", "properties", "kind", "enum")
			out = append(out, enum)
		}
		return out
	}
	t.Fatal("no Alert CRD")
	return nil
}

func TestTheNotificationCRDsAcceptFluxInstance(t *testing.T) {
	for _, version := range []string{"2.9.x", "2.6.x"} {
		spec := defaultSpec()
		spec.Distribution.Version = version
		for i, enum := range kindEnums(t, build(t, spec)) {
			found := false
			for _, k := range enum {
				found = found || k == "FluxInstance"
			}
			if !found {
				t.Errorf("Flux %s: Alert version %d kind enum %v has no FluxInstance", version, i, enum)
			}
		}
	}
}

// reshaped returns the embedded tree with the notification-controller file
// of v2.9.5 changed by edit, as a future release might change it.
func reshaped(t *testing.T, edit func(string) string) fstest.MapFS {
	t.Helper()
	tree := fstest.MapFS{}
	err := fs.WalkDir(distribution.Embedded(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(distribution.Embedded(), p)
		if strings.HasSuffix(p, "v2.9.5/notification-controller.yaml") {
			data = []byte(edit(string(data)))
		}
		tree[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestTheCRDPatchFindsEnumsByWhatTheyHoldNotWhereTheySit(t *testing.T) {
	// The enum moves under another property name, as a new release might
	// reshape the schema: it is still found and patched.
	moved := reshaped(t, func(s string) string { return strings.ReplaceAll(s, "eventSources:", "sources:") })
	res, err := Build(context.Background(), Request{Spec: ptr(defaultSpec()), Distribution: moved})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.YAML), "- FluxInstance") || len(res.Warnings) != 0 {
		t.Errorf("a moved enum was not patched (warnings %v)", res.Warnings)
	}
	// No enum of Flux kinds at all: the build succeeds, unpatched, and says so.
	noEnum := reshaped(t, func(s string) string { return strings.ReplaceAll(s, "- GitRepository", "- GitRepo") })
	res, err = Build(context.Background(), Request{Spec: ptr(defaultSpec()), Distribution: noEnum})
	if err != nil {
		t.Fatalf("a CRD without the enum failed the build: %v", err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "alerts.notification.toolkit.fluxcd.io has no enum of Flux kinds") {
		t.Errorf("warnings = %v", res.Warnings)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAnArtifactReleaseIsBuiltByItsReleaseRulesOrSaysWhatItLacks(t *testing.T) {
	// An artifact that carries Flux v2.5.1 (2.6.4's files as a stand-in):
	// it builds, with the rules of 2.5.
	tree := reshaped(t, func(s string) string { return s })
	for p, f := range tree {
		if rest, ok := strings.CutPrefix(p, "flux/v2.6.4/"); ok {
			tree["flux/v2.5.1/"+rest] = f
		}
		if rest, ok := strings.CutPrefix(p, "flux-images/v2.6.4/"); ok {
			tree["flux-images/v2.5.1/"+rest] = f
		}
	}
	spec := defaultSpec()
	spec.Distribution.Version = "2.5.x"
	res, err := Build(context.Background(), Request{Spec: &spec, Distribution: tree})
	if err != nil {
		t.Fatalf("2.5.x: %v", err)
	}
	if res.Version != "v2.5.1" {
		t.Errorf("2.5.x built %s", res.Version)
	}
	spec.Cluster = &apiv1.Cluster{ObjectLevelWorkloadIdentity: true}
	_, err = Build(context.Background(), Request{Spec: &spec, Distribution: tree})
	if err == nil || !strings.Contains(err.Error(), "need Flux 2.6 or later, not v2.5.1") {
		t.Errorf("workload identity on 2.5: %v", err)
	}

	// A release whose files lack the layout: the error names what is missing.
	tree["flux/v2.8.3/source-controller.yaml"] = &fstest.MapFile{Data: []byte("kind: Deployment\n")}
	spec = defaultSpec()
	spec.Distribution.Version = "2.8.3"
	_, err = Build(context.Background(), Request{Spec: &spec, Distribution: tree})
	if err == nil || !strings.Contains(err.Error(), "the distribution of Flux v2.8.3 has no policies.yaml") {
		t.Errorf("an incomplete release: %v", err)
	}

	// Releases older than MinVersion are not built.
	only := fstest.MapFS{"flux/v2.1.0/source-controller.yaml": &fstest.MapFile{Data: []byte("kind: Deployment\n")}}
	_, err = Build(context.Background(), Request{Spec: ptr(defaultSpec()), Distribution: only})
	if err == nil || !strings.Contains(err.Error(), "the distribution has no Flux 2 release from v2.2.0 on to build (it has v2.1.0)") {
		t.Errorf("an artifact of older releases only: %v", err)
	}
}

func TestAnImageListWithoutDigestsIsBuiltByTagAndSaysSo(t *testing.T) {
	tree := reshaped(t, func(s string) string { return s })
	list := "flux-images/v2.9.5/upstream-alpine.yaml"
	var kept []string
	for _, l := range strings.Split(string(tree[list].Data), "\n") {
		if !strings.Contains(l, "digest:") {
			kept = append(kept, l)
		}
	}
	tree[list] = &fstest.MapFile{Data: []byte(strings.Join(kept, "\n"))}
	res, err := Build(context.Background(), Request{Spec: ptr(defaultSpec()), Distribution: tree})
	if err != nil {
		t.Fatal(err)
	}
	want := "the upstream-alpine image list of Flux v2.9.5 has no digest for source-controller:v1.9.5"
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
		t.Errorf("warnings %q, want one saying %q", res.Warnings, want)
	}
	if !strings.Contains(string(res.YAML), "image: ghcr.io/fluxcd/source-controller:v1.9.5\n") {
		t.Error("source-controller's image is not ghcr.io/fluxcd/source-controller:v1.9.5 by tag")
	}
}
