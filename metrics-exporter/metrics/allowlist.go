package metrics

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// LabelPrefix starts the name of every copied Kubernetes label.
const LabelPrefix = "label_"

// Allowlist names the Kubernetes labels of Flux objects copied onto their
// series, each as label_<name> with every character that Prometheus does not
// allow in a label name replaced by '_' (team → label_team,
// app.kubernetes.io/part-of → label_app_kubernetes_io_part_of).
type Allowlist struct {
	keys  []string // Kubernetes label keys, in flag order
	names []string // Prometheus label names, same order
}

// ParseAllowlist parses a comma-separated list of Kubernetes label keys, as
// given to --resource-label-allowlist. Blank entries are ignored. It fails on
// a key that is not a valid label key, on '*', and on two keys that map to the
// same Prometheus label name.
func ParseAllowlist(s string) (Allowlist, error) {
	var a Allowlist
	seen := map[string]string{}
	var errs []string
	for _, key := range strings.Split(s, ",") {
		key = strings.TrimSpace(key)
		if key == "" {
			continue
		}
		if key == "*" {
			errs = append(errs, "'*' is not allowed: name each label, so the number of series stays bounded")
			continue
		}
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("%q is not a Kubernetes label key: %s", key, strings.Join(msgs, "; ")))
			continue
		}
		name := LabelPrefix + sanitize(key)
		if prev, ok := seen[name]; ok {
			if prev != key {
				errs = append(errs, fmt.Sprintf("%q and %q both become the label %s", prev, key, name))
			}
			continue
		}
		seen[name] = key
		a.keys = append(a.keys, key)
		a.names = append(a.names, name)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return Allowlist{}, fmt.Errorf("invalid --resource-label-allowlist: %s", strings.Join(errs, "; "))
	}
	return a, nil
}

// sanitize maps a label key to the characters a Prometheus label name allows.
func sanitize(key string) string {
	b := []byte(key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
