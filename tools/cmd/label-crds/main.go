// Command label-crds sets labels on every CustomResourceDefinition file in a
// directory, as a Flux installation labels its CRDs, and rewrites the files
// in place. Usage: label-crds -dir DIR -label key=value [-label key=value ...]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type labels map[string]string

func (l labels) String() string {
	keys := make([]string, 0, len(l))
	for k, v := range l {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q is not key=value", s)
	}
	l[k] = v
	return nil
}

func main() {
	dir := flag.String("dir", "", "directory holding the CRD YAML files")
	set := labels{}
	flag.Var(set, "label", "key=value label to set (repeatable)")
	flag.Parse()
	if *dir == "" || len(set) == 0 {
		fmt.Fprintln(os.Stderr, "usage: label-crds -dir DIR -label key=value ...")
		os.Exit(2)
	}
	if err := run(*dir, set); err != nil {
		fmt.Fprintln(os.Stderr, "label-crds:", err)
		os.Exit(1)
	}
}

func run(dir string, set labels) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no YAML files in %s", dir)
	}
	for _, f := range files {
		if err := labelFile(f, set); err != nil {
			return fmt.Errorf("failed to label %s: %w", f, err)
		}
	}
	return nil
}

func labelFile(path string, set labels) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return err
	}
	if obj["kind"] != "CustomResourceDefinition" {
		return fmt.Errorf("kind is %v, not CustomResourceDefinition", obj["kind"])
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	l, _ := meta["labels"].(map[string]any)
	if l == nil {
		l = map[string]any{}
		meta["labels"] = l
	}
	for k, v := range set {
		l[k] = v
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}
