package builder

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"
)

type shardOutput struct {
	resources []string
	patches   []types.Patch
}

// sharding writes one copy of every shardable controller per shard, named
// <component>-<shard>, that reconciles only the objects labelled
// <key>=<shard>; the main controllers reconcile the objects without the
// label. Shards share the main ServiceAccounts, CRDs and RBAC.
func (g *generator) sharding() (*shardOutput, error) {
	s := g.spec.Sharding
	out := &shardOutput{}
	if s == nil || len(s.Shards) == 0 {
		return out, nil
	}
	comps := g.shardComponents()
	if len(comps) == 0 {
		return out, nil
	}
	seen := map[string]bool{}
	for _, shard := range s.Shards {
		if seen[shard] {
			return nil, fmt.Errorf("spec.sharding.shards lists %q twice", shard)
		}
		seen[shard] = true
	}
	key := s.Key
	if key == "" {
		key = defaultShardingKey
	}
	// The main controllers leave the shards' objects alone.
	out.patches = append(out.patches, patch(&types.Selector{ResId: resID("apps", "Deployment", strings.Join(comps, "|")),
		AnnotationSelector: "!" + ShardRoleAnnotation}, addArgs("--watch-label-selector=!"+key)...))

	persistent := s.Storage == "persistent" && g.spec.Storage != nil && slices.Contains(comps, SourceController)
	for i, shard := range s.Shards {
		// The shard's directory is named by its index, never by its name:
		// a kustomize resource that is not in the tree is fetched (a URL)
		// or cloned (a Git address), and the names come from the spec.
		dir := fmt.Sprintf("shards/%d", i)
		k := g.shardKustomization(shard, key, comps, persistent)
		if persistent {
			if err := g.writeYAML(dir+"/pvc.yaml", pvc(SourceController, g.spec.Storage)); err != nil {
				return nil, err
			}
		}
		if err := g.writeYAML(dir+"/kustomization.yaml", k); err != nil {
			return nil, err
		}
		out.resources = append(out.resources, dir)
	}
	return out, nil
}

// shardComponents are the components of the build that shard.
func (g *generator) shardComponents() []string {
	var comps []string
	for _, c := range shardable(g.minor) {
		if g.has(c) {
			comps = append(comps, c)
		}
	}
	return comps
}

// shardKustomization is the kustomization of one shard: the components'
// Deployments and Services renamed with the shard's suffix, without what
// the main installation already has.
func (g *generator) shardKustomization(shard, key string, comps []string, persistent bool) *types.Kustomization {
	k := newKustomization()
	k.Namespace = g.req.Namespace
	k.NameSuffix = "-" + shard
	k.CommonAnnotations = map[string]string{ShardRoleAnnotation: "shard"}
	for _, c := range comps {
		k.Resources = append(k.Resources, "../../"+c+".yaml")
	}
	if persistent {
		k.Resources = append(k.Resources, "pvc.yaml")
	}
	for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
		"ServiceAccount", "NetworkPolicy", "ResourceQuota"} {
		data, _ := yaml.Marshal(map[string]any{"$patch": "delete", "apiVersion": "v1", "kind": kind,
			"metadata": map[string]string{"name": "any"}})
		k.Patches = append(k.Patches, types.Patch{Patch: string(data), Target: &types.Selector{ResId: resid.ResId{Gvk: gvk("", kind)}}})
	}
	for _, c := range comps {
		k.Patches = append(k.Patches, g.shardPatches(c, shard, key, persistent)...)
	}
	return k
}

// shardPatches make component c's Deployment (and Service) the shard's:
// its own pod labels and address, the main ServiceAccount, the objects
// labelled key=shard, and its own claim when the storage is persistent.
func (g *generator) shardPatches(c, shard, key string, persistent bool) []types.Patch {
	shardName := c + "-" + shard
	ops := []jsonPatch{
		{Op: "replace", Path: "/spec/selector/matchLabels/app", Value: shardName},
		{Op: "replace", Path: "/spec/template/metadata/labels/app", Value: shardName},
		{Op: "replace", Path: "/spec/template/spec/serviceAccountName", Value: c},
		{Op: "add", Path: argsPath + "/-", Value: "--watch-label-selector=" + key + "=" + shard},
	}
	var out []types.Patch
	if c == SourceController || c == SourceWatcher {
		ops = append(ops, jsonPatch{Op: "replace", Path: argsPath + "/6",
			Value: fmt.Sprintf("--storage-adv-addr=%s.$(RUNTIME_NAMESPACE).svc.%s.", shardName, g.domain())})
		out = append(out, patch(&types.Selector{ResId: resID("", "Service", c)},
			jsonPatch{Op: "replace", Path: "/spec/selector/app", Value: shardName}))
	}
	if c == SourceController && persistent {
		ops = append(ops, persistentDataOps(SourceController+"-"+shard)...)
	}
	return append(out, patch(&types.Selector{ResId: resID("apps", "Deployment", c)}, ops...))
}
