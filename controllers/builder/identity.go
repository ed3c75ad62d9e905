package builder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/types"
)

// workloadIdentity returns the patches of spec.cluster's workload identity
// settings for the release, and whether the controllers keep the
// permission to create service account tokens (which object-level workload
// identity needs and nothing else does).
func (g *generator) workloadIdentity() (patches []types.Patch, keepTokens bool, err error) {
	c := g.spec.Cluster
	objectLevel := c != nil && c.ObjectLevelWorkloadIdentity
	multitenant := c != nil && c.MultitenantWorkloadIdentity
	switch {
	case g.minor < 6:
		if objectLevel || multitenant {
			return nil, false, fmt.Errorf("spec.cluster.objectLevelWorkloadIdentity and multitenantWorkloadIdentity need Flux 2.6 or later, not %s", g.version)
		}
		return nil, true, nil
	case g.minor == 6:
		if multitenant {
			return nil, false, fmt.Errorf("spec.cluster.multitenantWorkloadIdentity needs Flux 2.7 or later, not %s: remove it or upgrade", g.version)
		}
		if objectLevel {
			patches = append(patches, g.gate(true, SourceController, KustomizeController, NotificationController,
				ImageReflectorController, ImageAutomationController)...)
		}
		return patches, objectLevel, nil
	}
	if multitenant && !objectLevel {
		return nil, false, errors.New("spec.cluster.objectLevelWorkloadIdentity must be true when spec.cluster.multitenantWorkloadIdentity is true")
	}
	patches = g.gate(objectLevel, SourceController, KustomizeController, HelmController, NotificationController,
		ImageReflectorController, ImageAutomationController)
	if multitenant {
		or := func(v string) string {
			if v == "" {
				return defaultTenantServiceAccount
			}
			return v
		}
		patches = append(patches, g.argsFor([]string{SourceController, NotificationController, ImageReflectorController, ImageAutomationController},
			"--default-service-account="+or(c.TenantDefaultServiceAccount))...)
		patches = append(patches, g.argsFor([]string{KustomizeController},
			"--default-decryption-service-account="+or(c.TenantDefaultDecryptionServiceAccount))...)
		patches = append(patches, g.argsFor([]string{KustomizeController, HelmController},
			"--default-kubeconfig-service-account="+or(c.TenantDefaultKubeConfigServiceAccount))...)
	}
	return patches, objectLevel, nil
}

func (g *generator) gate(on bool, comps ...string) []types.Patch {
	return g.argsFor(comps, fmt.Sprintf("--feature-gates=ObjectLevelWorkloadIdentity=%t", on))
}

// argsFor adds args to the installed components among comps.
func (g *generator) argsFor(comps []string, args ...string) []types.Patch {
	var installed []string
	for _, c := range comps {
		if g.has(c) {
			installed = append(installed, c)
		}
	}
	if len(installed) == 0 {
		return nil
	}
	return []types.Patch{patch(g.deploymentTarget(installed...), addArgs(args...)...)}
}

// tokenRuleIndex finds, in a release's rbac.yaml, the index of the
// crd-controller rule that allows creating service account tokens; -1 when
// there is none.
func tokenRuleIndex(rbac []byte) (int, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rbac), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return -1, nil
			}
			return -1, fmt.Errorf("failed to read rbac.yaml: %w", err)
		}
		u := unstructured.Unstructured{Object: obj}
		if u.GetKind() != "ClusterRole" || u.GetName() != "crd-controller" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(obj, "rules")
		for i, r := range rules {
			rm, _ := r.(map[string]any)
			res, _, _ := unstructured.NestedStringSlice(rm, "resources")
			if slices.Contains(res, "serviceaccounts/token") {
				return i, nil
			}
		}
		return -1, nil
	}
}
