package builder

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// deployments are the Deployments of a build by name.
func deployments(res *Result) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range res.Objects {
		if o.GetKind() == "Deployment" {
			out[o.GetName()] = o
		}
	}
	return out
}

func containerArgs(t *testing.T, d *unstructured.Unstructured) []string {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	var args []string
	for _, a := range cs[0].(map[string]any)["args"].([]any) {
		args = append(args, a.(string))
	}
	return args
}

// lastFlag is the value of the last occurrence of flag in args: the one a
// Go controller's flag parsing keeps.
func lastFlag(args []string, flag string) string {
	v := ""
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, flag+"="); ok {
			v = s
		}
	}
	return v
}

// claims are the PersistentVolumeClaims a Deployment's pods mount, by
// volume name; a volume name used twice is an error the API server returns.
func claims(t *testing.T, d *unstructured.Unstructured) map[string]string {
	t.Helper()
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	out := map[string]string{}
	for _, v := range vols {
		m := v.(map[string]any)
		name := m["name"].(string)
		if _, dup := out[name]; dup {
			t.Errorf("%s has two volumes named %s", d.GetName(), name)
		}
		claim := ""
		if pvc, ok := m["persistentVolumeClaim"].(map[string]any); ok {
			claim = pvc["claimName"].(string)
		}
		out[name] = claim
	}
	return out
}

func TestShardsKeepTheirRoleWithASizeProfileAndStorage(t *testing.T) {
	for _, size := range []string{"small", "medium", "large"} {
		for _, storage := range []string{"ephemeral", "persistent"} {
			t.Run(size+"/"+storage, func(t *testing.T) {
				spec := defaultSpec()
				spec.Components = allComponents()
				spec.Cluster = &apiv1.Cluster{Size: size}
				spec.Storage = &apiv1.Storage{Class: "standard", Size: "10Gi"}
				spec.Sharding = &apiv1.Sharding{Shards: []string{"s1", "s2"}, Storage: storage}
				deps := deployments(build(t, spec))

				for _, c := range shardable(9) {
					main := deps[c]
					if main == nil {
						t.Fatalf("no %s", c)
					}
					if got := lastFlag(containerArgs(t, main), "--watch-label-selector"); got != "!"+defaultShardingKey {
						t.Errorf("%s watches %q, want the objects without the sharding key", c, got)
					}
					if got := main.GetAnnotations()[profileAnnotation]; got != size {
						t.Errorf("%s profile annotation %q, want %q", c, got, size)
					}
					for _, shard := range []string{"s1", "s2"} {
						name := c + "-" + shard
						d := deps[name]
						if d == nil {
							t.Fatalf("no %s", name)
						}
						if got := d.GetAnnotations()[ShardRoleAnnotation]; got != "shard" {
							t.Errorf("%s lost its %s annotation: %v", name, ShardRoleAnnotation, d.GetAnnotations())
						}
						if got := d.GetAnnotations()[profileAnnotation]; got != size {
							t.Errorf("%s profile annotation %q, want %q", name, got, size)
						}
						want := defaultShardingKey + "=" + shard
						if got := lastFlag(containerArgs(t, d), "--watch-label-selector"); got != want {
							t.Errorf("%s watches %q, want %q", name, got, want)
						}
					}
				}
				if got := claims(t, deps[SourceController])["persistent-data"]; got != SourceController {
					t.Errorf("source-controller mounts claim %q, want its own", got)
				}
				for _, shard := range []string{"s1", "s2"} {
					name := SourceController + "-" + shard
					got := claims(t, deps[name])
					switch storage {
					case "persistent":
						if got["persistent-data"] != name {
							t.Errorf("%s mounts %v, want its own claim %s", name, got, name)
						}
					default:
						for v, claim := range got {
							if claim != "" {
								t.Errorf("%s (ephemeral) mounts claim %s as %s", name, claim, v)
							}
						}
					}
					if addr := lastFlag(containerArgs(t, deps[name]), "--storage-adv-addr"); !strings.HasPrefix(addr, name+".") {
						t.Errorf("%s serves artifacts from %q", name, addr)
					}
				}
			})
		}
	}
}

func TestEveryFluxPodIsLabelledPartOfFlux(t *testing.T) {
	for _, version := range []string{"2.6.x", "2.9.x"} {
		t.Run(version, func(t *testing.T) {
			spec := defaultSpec()
			spec.Distribution.Version = version
			spec.Components = allComponents()
			if version == "2.6.x" {
				spec.Components = spec.Components[:len(spec.Components)-1] // no source-watcher before 2.7
			}
			spec.Sharding = &apiv1.Sharding{Shards: []string{"s1"}}
			for name, d := range deployments(build(t, spec)) {
				labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
				if labels[apiv1.PartOfLabel] != "flux" {
					t.Errorf("the pods of %s lack %s=flux: %v", name, apiv1.PartOfLabel, labels)
				}
			}
		})
	}
}
