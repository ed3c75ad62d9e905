package builder

import (
	"fmt"
	"slices"
	"strings"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// Component names.
const (
	SourceController           = "source-controller"
	KustomizeController        = "kustomize-controller"
	HelmController             = "helm-controller"
	NotificationController     = "notification-controller"
	ImageReflectorController   = "image-reflector-controller"
	ImageAutomationController  = "image-automation-controller"
	SourceWatcher              = "source-watcher"
	defaultDomain              = "cluster.local"
	defaultShardingKey         = "sharding.fluxcd.io/key"
	defaultSyncInterval        = "1m0s"
	defaultTenantServiceAccout = "default"
)

// AllComponents are the components a FluxInstance may list, in install order.
var AllComponents = []string{SourceController, KustomizeController, HelmController, NotificationController,
	ImageReflectorController, ImageAutomationController, SourceWatcher}

// DefaultComponents are installed when spec.components is empty.
var DefaultComponents = []string{SourceController, KustomizeController, HelmController, NotificationController}

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
	if len(spec.Components) == 0 {
		return DefaultComponents, nil
	}
	seen := map[string]bool{}
	for _, c := range spec.Components {
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

// validate checks what the API server's CEL rules check too, so an offline
// build gives the same answer.
func validate(spec *apiv1.FluxInstanceSpec) error {
	if s := spec.Sharding; s != nil {
		if len(s.Shards) == 0 {
			return fmt.Errorf("spec.sharding.shards must list at least one shard")
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
		case (y.Provider == "aws" || y.Provider == "gcp") && y.Kind == "GitRepository":
			return fmt.Errorf("spec.sync.provider %q is not valid for a GitRepository sync: use an OCIRepository or a Bucket", y.Provider)
		case y.Kind == "OCIRepository" && !strings.HasPrefix(y.URL, "oci://"):
			return fmt.Errorf("spec.sync.url %q of an OCIRepository sync must start with oci://", y.URL)
		}
	}
	return nil
}
