package builder

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// Component names.
const (
	SourceController            = "source-controller"
	KustomizeController         = "kustomize-controller"
	HelmController              = "helm-controller"
	NotificationController      = "notification-controller"
	ImageReflectorController    = "image-reflector-controller"
	ImageAutomationController   = "image-automation-controller"
	SourceWatcher               = "source-watcher"
	defaultDomain               = "cluster.local"
	defaultShardingKey          = "sharding.fluxcd.io/key"
	defaultSyncInterval         = "1m0s"
	defaultTenantServiceAccount = "default"
)

// AllComponents are the components a FluxInstance may list, in install order.
var AllComponents = []string{SourceController, KustomizeController, HelmController, NotificationController,
	ImageReflectorController, ImageAutomationController, SourceWatcher}

// shardable are the components copied once per shard; notification-controller
// never is. source-watcher is from Flux 2.9.
func shardable(minor uint64) []string {
	s := []string{SourceController, KustomizeController, HelmController, ImageReflectorController, ImageAutomationController}
	if minor >= 9 {
		s = append(s, SourceWatcher)
	}
	return s
}

// components returns the spec's components in install order, checked.
func components(spec *apiv1.FluxInstanceSpec, minor uint64) ([]string, error) {
	seen := map[string]bool{}
	for _, c := range spec.GetComponents() {
		name := string(c)
		if !slices.Contains(AllComponents, name) {
			return nil, fmt.Errorf("spec.components: %q is not a Flux component: use %s", name, strings.Join(AllComponents, ", "))
		}
		if name == SourceWatcher && minor < 7 {
			return nil, fmt.Errorf("spec.components: source-watcher is part of Flux from v2.7.0: remove it or set spec.distribution.version to 2.7.x or later")
		}
		seen[name] = true
	}
	var out []string
	for _, c := range AllComponents {
		if seen[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// releaseRules checks the spec options that depend on the Flux release
// being built (minor of version), which the API server cannot know.
func releaseRules(spec *apiv1.FluxInstanceSpec, minor uint64, version string) error {
	if y := spec.Sync; y != nil && y.Kind == "GitRepository" && y.Provider == "aws" && minor < 9 {
		return fmt.Errorf("spec.sync.provider 'aws' for a GitRepository sync needs Flux 2.9 or later, not %s: "+
			"upgrade, or use an OCIRepository or a Bucket sync", version)
	}
	return nil
}

// validate checks what the API server's CEL rules check too, so an offline
// build gives the same answer.
func validate(spec *apiv1.FluxInstanceSpec) error {
	if strings.TrimSpace(spec.Distribution.Registry) == "" {
		return fmt.Errorf("spec.distribution.registry is required: the registry of the Flux images, such as ghcr.io/fluxcd")
	}
	if c := spec.Cluster; c != nil {
		if d := strings.TrimSuffix(c.Domain, "."); c.Domain != "" && len(validation.IsDNS1123Subdomain(d)) > 0 {
			return fmt.Errorf("spec.cluster.domain %q is not a DNS name such as cluster.local", c.Domain)
		}
		for _, f := range [][2]string{
			{"tenantDefaultServiceAccount", c.TenantDefaultServiceAccount},
			{"tenantDefaultDecryptionServiceAccount", c.TenantDefaultDecryptionServiceAccount},
			{"tenantDefaultKubeConfigServiceAccount", c.TenantDefaultKubeConfigServiceAccount},
		} {
			if f[1] != "" && len(validation.IsDNS1123Subdomain(f[1])) > 0 {
				return fmt.Errorf("spec.cluster.%s %q is not a service account name", f[0], f[1])
			}
		}
	}
	if k := spec.Kustomize; k != nil && len(k.Patches) > apiv1.MaxPatches {
		return fmt.Errorf("spec.kustomize.patches lists %d patches, at most %d are allowed", len(k.Patches), apiv1.MaxPatches)
	}
	if s := spec.Sharding; s != nil {
		if len(s.Shards) == 0 {
			return fmt.Errorf("spec.sharding.shards must list at least one shard")
		}
		if len(s.Shards) > apiv1.MaxShards {
			return fmt.Errorf("spec.sharding.shards lists %d shards, at most %d are allowed", len(s.Shards), apiv1.MaxShards)
		}
		for i, shard := range s.Shards {
			if len(shard) > apiv1.MaxShardNameLength || len(validation.IsDNS1123Label(shard)) > 0 {
				return fmt.Errorf("spec.sharding.shards[%d] %q is not a valid shard name: use lowercase letters, digits and '-', "+
					"at most %d characters, starting and ending with a letter or digit", i, shard, apiv1.MaxShardNameLength)
			}
		}
		if s.Key != "" && len(validation.IsQualifiedName(s.Key)) > 0 {
			return fmt.Errorf("spec.sharding.key %q is not a label key such as sharding.fluxcd.io/key", s.Key)
		}
		if s.Storage == "persistent" && spec.Storage == nil {
			return fmt.Errorf("spec.storage must be set when spec.sharding.storage is 'persistent'")
		}
	}
	if y := spec.Sync; y != nil {
		switch y.Kind {
		case "GitRepository", "OCIRepository", "Bucket":
		default:
			return fmt.Errorf("spec.sync.kind %q is not GitRepository, OCIRepository or Bucket", y.Kind)
		}
		switch {
		case y.Provider == "github" && y.Kind != "GitRepository":
			return fmt.Errorf("spec.sync.provider 'github' is only valid for a GitRepository sync, not %s", y.Kind)
		case y.Provider == "gcp" && y.Kind == "GitRepository":
			return fmt.Errorf("spec.sync.provider 'gcp' is not valid for a GitRepository sync: use an OCIRepository or a Bucket")
		case y.Kind == "OCIRepository" && !strings.HasPrefix(y.URL, "oci://"):
			return fmt.Errorf("spec.sync.url %q of an OCIRepository sync must start with oci://", y.URL)
		}
	}
	return nil
}
