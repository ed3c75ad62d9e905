package builder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// operatorKinds are added to the kind enums of notification-controller's
// CRDs, so that an Alert with eventSources of kind FluxInstance (and the
// Flux Operator's other kinds, for Alerts written for it) is accepted.
var operatorKinds = []string{"FluxInstance", "ResourceSet", "ResourceSetInputProvider"}

// notificationCRDs are the CRDs whose kind enums list the Flux kinds an
// Alert or a Receiver may name.
var notificationCRDs = []string{"alerts.notification.toolkit.fluxcd.io", "receivers.notification.toolkit.fluxcd.io"}

// patchKindEnums adds operatorKinds to every enum of Flux kinds in the
// schemas of the notification CRDs of a multi-document YAML file. It finds
// the enums by what they hold (a list naming Kustomization and
// GitRepository), in every version and wherever they sit, rather than by a
// path that a new Flux release may move. A CRD without such an enum is left
// as it is and named in the returned warnings: Flux still installs, only
// Alerts naming FluxInstance are refused.
func patchKindEnums(data []byte) ([]byte, []string, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out bytes.Buffer
	var warnings []string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("failed to read the notification-controller manifests: %w", err)
		}
		if obj == nil {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		if u.GetKind() == "CustomResourceDefinition" && slices.Contains(notificationCRDs, u.GetName()) {
			if n := addToKindEnums(obj["spec"]); n == 0 {
				warnings = append(warnings, fmt.Sprintf("the CRD %s has no enum of Flux kinds: it is applied unpatched, "+
					"so Alerts and Receivers naming FluxInstance may be refused", u.GetName()))
			}
		}
		doc, err := yaml.Marshal(obj)
		if err != nil {
			return nil, nil, err
		}
		out.WriteString("---\n")
		out.Write(doc)
	}
	return out.Bytes(), warnings, nil
}

// addToKindEnums walks v and returns how many enums of Flux kinds it patched.
func addToKindEnums(v any) int {
	n := 0
	switch t := v.(type) {
	case map[string]any:
		if enum, ok := t["enum"].([]any); ok && isFluxKindEnum(enum) {
			for _, k := range operatorKinds {
				if !slices.Contains(enum, any(k)) {
					enum = append(enum, k)
				}
			}
			t["enum"] = enum
			n++
		}
		for k, child := range t {
			if k != "enum" {
				n += addToKindEnums(child)
			}
		}
	case []any:
		for _, child := range t {
			n += addToKindEnums(child)
		}
	}
	return n
}

func isFluxKindEnum(enum []any) bool {
	return slices.Contains(enum, any("Kustomization")) && slices.Contains(enum, any("GitRepository"))
}
