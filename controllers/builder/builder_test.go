package builder

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func build(t *testing.T, spec apiv1.FluxInstanceSpec) *Result {
	t.Helper()
	res, err := Build(context.Background(), Request{Spec: &spec, Name: "flux", Namespace: "flux-system",
		Distribution: distribution.Embedded()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func defaultSpec() apiv1.FluxInstanceSpec {
	return apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}}
}

// golden renders the built objects as the golden files hold them: CRDs
// without their schemas (they are controller-gen's output, checked by
// make verify), everything else whole.
func golden(t *testing.T, res *Result) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# revision: " + res.Version + "@sha256:<digest>\n")
	for _, w := range res.Warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	for _, o := range res.Objects {
		obj := o.DeepCopy()
		if obj.GetKind() == "CustomResourceDefinition" {
			versions, _, _ := unstructured.NestedSlice(obj.Object, "spec", "versions")
			var names []any
			for _, v := range versions {
				names = append(names, v.(map[string]any)["name"])
			}
			obj.Object["spec"] = map[string]any{"versions": names}
		}
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.String()
}

func checkGolden(t *testing.T, name string, res *Result) {
	t.Helper()
	got := golden(t, res)
	file := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./builder/ -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the build; run `go test ./builder/ -update` and review the diff", file)
	}
}

// goldenCases are the specs of the golden builds, by golden file name; the
// build fuzzer starts from them too.
func goldenCases() map[string]func(*apiv1.FluxInstanceSpec) {
	truth, falsity := true, false
	interval := &metav1.Duration{Duration: 5 * time.Minute}
	cases := map[string]func(*apiv1.FluxInstanceSpec){
		"default": func(*apiv1.FluxInstanceSpec) {},
		"v2.6.4":  func(s *apiv1.FluxInstanceSpec) { s.Distribution.Version = "2.6.x" },
		"v2.7.5": func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Version = "2.7.x"
			s.Components = allComponents()
		},
		"v2.8.1": func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Version = "2.8.x"
			s.Components = allComponents()
		},
		"all-components": func(s *apiv1.FluxInstanceSpec) { s.Components = allComponents() },
		"subset": func(s *apiv1.FluxInstanceSpec) {
			s.Components = []apiv1.Component{"source-controller", "kustomize-controller"}
		},
		"size-small":  func(s *apiv1.FluxInstanceSpec) { s.Cluster = &apiv1.Cluster{Size: "small"} },
		"size-medium": func(s *apiv1.FluxInstanceSpec) { s.Cluster = &apiv1.Cluster{Size: "medium"} },
		"size-large":  func(s *apiv1.FluxInstanceSpec) { s.Cluster = &apiv1.Cluster{Size: "large"} },
		"multitenant": func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{Multitenant: true, TenantDefaultServiceAccount: "flux-tenant"}
			s.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://github.com/example/fleet.git", Ref: "refs/heads/main", Path: "clusters/prod"}
		},
		"openshift": func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{Type: "openshift", Domain: "apps.example.internal", NetworkPolicy: &falsity}
		},
		"sharding": func(s *apiv1.FluxInstanceSpec) {
			s.Sharding = &apiv1.Sharding{Shards: []string{"shard1", "shard2"}}
		},
		"sharding-persistent": func(s *apiv1.FluxInstanceSpec) {
			s.Sharding = &apiv1.Sharding{Key: "example.com/shard", Shards: []string{"a"}, Storage: "persistent"}
			s.Storage = &apiv1.Storage{Class: "standard", Size: "10Gi"}
		},
		"sharding-size-persistent": func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{Size: "medium"}
			s.Sharding = &apiv1.Sharding{Shards: []string{"a", "b"}, Storage: "persistent"}
			s.Storage = &apiv1.Storage{Class: "standard", Size: "10Gi"}
		},
		"sharding-size-storage": func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{Size: "small"}
			s.Sharding = &apiv1.Sharding{Shards: []string{"a"}}
			s.Storage = &apiv1.Storage{Class: "standard", Size: "10Gi"}
		},
		"storage": func(s *apiv1.FluxInstanceSpec) { s.Storage = &apiv1.Storage{Class: "standard", Size: "10Gi"} },
		"sync-git": func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Name: "cluster-sync", Kind: "GitRepository", URL: "ssh://git@github.com/example/fleet.git",
				Ref: "refs/heads/main", Path: "clusters/prod", PullSecret: "flux-system", Provider: "github", Interval: interval}
		},
		"sync-git-aws": func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Kind: "GitRepository", URL: "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet",
				Ref: "refs/heads/main", Path: "clusters/prod", Provider: "aws"}
		},
		"sync-oci": func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Kind: "OCIRepository", URL: "oci://ghcr.io/example/fleet", Ref: "latest", Path: "./", Provider: "aws"}
		},
		"sync-bucket": func(s *apiv1.FluxInstanceSpec) {
			s.Sync = &apiv1.Sync{Kind: "Bucket", URL: "minio.example.com", Ref: "fleet", Path: "./clusters/prod", PullSecret: "minio"}
		},
		"patches": func(s *apiv1.FluxInstanceSpec) {
			s.Kustomize = &apiv1.Kustomize{Patches: []apiv1.Patch{
				{Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: all\nspec:\n  template:\n    spec:\n      tolerations:\n        - key: dedicated\n          operator: Exists\n",
					Target: &apiv1.PatchSelector{Kind: "Deployment"}},
				{Patch: "- op: add\n  path: /spec/template/spec/containers/0/args/-\n  value: --concurrent=8\n",
					Target: &apiv1.PatchSelector{Kind: "Deployment", Name: "(kustomize|helm)-controller"}},
			}}
		},
		"common-metadata": func(s *apiv1.FluxInstanceSpec) {
			s.CommonMetadata = &apiv1.CommonMetadata{Labels: map[string]string{"team": "platform"},
				Annotations: map[string]string{"example.com/owner": "platform-team"}}
			s.Wait = &truth
		},
		"registry-mirror": func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Registry = "registry.internal:5000/fluxcd"
			s.Distribution.ImagePullSecret = "mirror-credentials"
		},
		"workload-identity": func(s *apiv1.FluxInstanceSpec) {
			s.Cluster = &apiv1.Cluster{Multitenant: true, ObjectLevelWorkloadIdentity: true, MultitenantWorkloadIdentity: true,
				TenantDefaultServiceAccount: "tenant", TenantDefaultDecryptionServiceAccount: "sops", TenantDefaultKubeConfigServiceAccount: "remote"}
		},
		"workload-identity-v2.6.4": func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Version = "2.6.x"
			s.Cluster = &apiv1.Cluster{ObjectLevelWorkloadIdentity: true}
		},
		"registry-mirror-variant": func(s *apiv1.FluxInstanceSpec) {
			s.Distribution.Registry = "registry.internal:5000/fluxcd"
			s.Distribution.Variant = "upstream-alpine"
		},
	}
	return cases
}

func TestGoldenBuilds(t *testing.T) {
	for name, mutate := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			spec := defaultSpec()
			mutate(&spec)
			checkGolden(t, name, build(t, spec))
		})
	}
}

func allComponents() []apiv1.Component {
	out := make([]apiv1.Component, len(AllComponents))
	for i, c := range AllComponents {
		out[i] = apiv1.Component(c)
	}
	return out
}
