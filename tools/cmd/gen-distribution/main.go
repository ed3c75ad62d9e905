// Command gen-distribution writes the Flux distribution tree the installer
// embeds (controllers/distribution/manifests): for every release of
// hack/distribution/releases.yaml, each component's file (its CRDs, made by
// controller-gen from that release's API modules, then its ServiceAccount,
// Services and Deployment), the NetworkPolicies, the RBAC, and the image
// list of the upstream variant. The objects other than CRDs are this
// project's own manifests, written to match what a Flux install deploys:
// container manager, args, ports, probes, resources and security context.
//
// Usage: gen-distribution -releases FILE -crds DIR -out DIR
// where DIR given to -crds holds <version>/*.yaml from controller-gen.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

type release struct {
	Version    string `json:"version"`
	Components map[string]struct {
		Tag    string `json:"tag"`
		Digest string `json:"digest"`
	} `json:"components"`
}

// component is what differs between the Flux controllers' manifests.
type component struct {
	Name          string
	Tag           string
	Args          []string
	Ports         []port
	ReadyPath     string
	ReadyPort     string
	CPURequest    string
	GracePeriod   int
	PriorityClass string
	Recreate      bool
	Volumes       []volume
	Env           []envVar
	Services      []service
	// Release-dependent: GOMAXPROCS from the CPU limit (before Flux 2.7) and
	// the component labels on the pod template (from Flux 2.7).
	GOMAXPROCS bool
	PodLabels  bool
}

type port struct {
	Name string
	Port int
}

type volume struct{ Name, Path string }

type envVar struct{ Name, Value string }

type service struct{ Name, ControlPlane, TargetPort string }

// componentOrder is the order of the components in a Flux install.
var componentOrder = []string{
	"source-controller", "kustomize-controller", "helm-controller", "notification-controller",
	"image-reflector-controller", "image-automation-controller", "source-watcher",
}

// crdOwner maps a CRD file of controller-gen to the component that serves it.
func crdOwner(file string) string {
	group, plural, _ := strings.Cut(strings.TrimSuffix(file, ".yaml"), "_")
	switch {
	case group == "source.toolkit.fluxcd.io":
		return "source-controller"
	case group == "kustomize.toolkit.fluxcd.io":
		return "kustomize-controller"
	case group == "helm.toolkit.fluxcd.io":
		return "helm-controller"
	case group == "notification.toolkit.fluxcd.io":
		return "notification-controller"
	case group == "image.toolkit.fluxcd.io" && plural == "imageupdateautomations":
		return "image-automation-controller"
	case group == "image.toolkit.fluxcd.io":
		return "image-reflector-controller"
	case group == "source.extensions.fluxcd.io":
		return "source-watcher"
	}
	return ""
}

const eventsAddr = "--events-addr=http://notification-controller.flux-system.svc.cluster.local./"

var common = []string{"--watch-all-namespaces", "--log-level=info", "--log-encoding=json", "--enable-leader-election"}

func storageArgs(name string) []string {
	return []string{"--storage-path=/data", "--storage-adv-addr=" + name + ".$(RUNTIME_NAMESPACE).svc.cluster.local."}
}

var (
	promPorts = []port{{"http-prom", 8080}, {"healthz", 9440}}
	httpPorts = append([]port{{"http", 9090}}, promPorts...)
	tmpVolume = []volume{{"temp", "/tmp"}}
)

func components(r release, minor int) []component {
	all := map[string]component{
		"source-controller": {
			Args: append(append([]string{eventsAddr}, common...), storageArgs("source-controller")...), Ports: httpPorts,
			ReadyPath: "/", ReadyPort: "http", CPURequest: "50m", GracePeriod: 10, PriorityClass: "system-cluster-critical",
			Recreate: true, Volumes: []volume{{"data", "/data"}, {"tmp", "/tmp"}}, Env: []envVar{{"TUF_ROOT", "/tmp/.sigstore"}},
			Services: []service{{"source-controller", "controller", "http"}},
		},
		"kustomize-controller": {
			Args: append([]string{eventsAddr}, common...), Ports: promPorts, ReadyPath: "/readyz", ReadyPort: "healthz",
			CPURequest: "100m", GracePeriod: 60, PriorityClass: "system-cluster-critical", Volumes: tmpVolume,
		},
		"helm-controller": {
			Args: append([]string{eventsAddr}, common...), Ports: promPorts, ReadyPath: "/readyz", ReadyPort: "healthz",
			CPURequest: "100m", GracePeriod: 600, PriorityClass: "system-cluster-critical", Volumes: tmpVolume,
		},
		"notification-controller": {
			Args: common, Ports: []port{{"http", 9090}, {"http-webhook", 9292}, {"http-prom", 8080}, {"healthz", 9440}},
			ReadyPath: "/readyz", ReadyPort: "healthz", CPURequest: "100m", GracePeriod: 10, Volumes: tmpVolume,
			Services: []service{{"notification-controller", "controller", "http"}, {"webhook-receiver", "controller", "http-webhook"}},
		},
		"image-reflector-controller": {
			Args: append([]string{eventsAddr}, common...), Ports: promPorts, ReadyPath: "/readyz", ReadyPort: "healthz",
			CPURequest: "100m", GracePeriod: 10, Volumes: []volume{{"temp", "/tmp"}, {"data", "/data"}},
		},
		"image-automation-controller": {
			Args: append([]string{eventsAddr}, common...), Ports: promPorts, ReadyPath: "/readyz", ReadyPort: "healthz",
			CPURequest: "100m", GracePeriod: 10, Volumes: tmpVolume,
		},
		"source-watcher": {
			Args: append(append([]string{eventsAddr}, common...), storageArgs("source-watcher")...), Ports: httpPorts,
			ReadyPath: "/", ReadyPort: "http", CPURequest: "50m", GracePeriod: 10, PriorityClass: "system-cluster-critical",
			Recreate: true, Volumes: []volume{{"data", "/data"}, {"tmp", "/tmp"}},
			Services: []service{{"source-watcher", "source-watcher", "http"}},
		},
	}
	var out []component
	for _, name := range componentOrder {
		img, ok := r.Components[name]
		if !ok {
			continue
		}
		c := all[name]
		c.Name, c.Tag = name, img.Tag
		c.GOMAXPROCS = minor < 7
		c.PodLabels = minor >= 7
		out = append(out, c)
	}
	return out
}

// fluxGroups returns the API groups of Flux's kinds in a release.
func fluxGroups(minor int) []string {
	g := []string{"source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io",
		"notification.toolkit.fluxcd.io", "image.toolkit.fluxcd.io"}
	if minor >= 7 {
		g = append(g, "source.extensions.fluxcd.io")
	}
	return g
}

func main() {
	releasesFile := flag.String("releases", "hack/distribution/releases.yaml", "the releases to write")
	crdsDir := flag.String("crds", "", "directory with <version>/*.yaml CRDs from controller-gen")
	templates := flag.String("templates", "hack/distribution", "directory of the *.tmpl templates")
	out := flag.String("out", "controllers/distribution/manifests", "the distribution tree to write")
	flag.Parse()
	if err := run(*releasesFile, *crdsDir, *templates, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen-distribution:", err)
		os.Exit(1)
	}
}

func run(releasesFile, crdsDir, templates, out string) error {
	data, err := os.ReadFile(releasesFile)
	if err != nil {
		return err
	}
	var cfg struct {
		Releases []release `json:"releases"`
	}
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", releasesFile, err)
	}
	tmpl, err := template.New("").Option("missingkey=error").Funcs(template.FuncMap{
		"fluxGroups": fluxGroups,
		"join":       strings.Join,
	}).ParseGlob(filepath.Join(templates, "*.tmpl"))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	newest := ""
	for _, r := range cfg.Releases {
		var major, minor, patch int
		if _, err := fmt.Sscanf(r.Version, "v%d.%d.%d", &major, &minor, &patch); err != nil {
			return fmt.Errorf("release %q is not vX.Y.Z", r.Version)
		}
		if newest == "" || newerThan(r.Version, newest) {
			newest = r.Version
		}
		if err := writeRelease(tmpl, r, minor, filepath.Join(crdsDir, r.Version), out); err != nil {
			return fmt.Errorf("%s: %w", r.Version, err)
		}
	}
	return os.WriteFile(filepath.Join(out, "flux-images", "VERSION"), []byte(newest+"\n"), 0o644)
}

// newerThan compares two vX.Y.Z versions, both checked by run.
func newerThan(a, b string) bool {
	var a1, a2, a3, b1, b2, b3 int
	_, _ = fmt.Sscanf(a, "v%d.%d.%d", &a1, &a2, &a3)
	_, _ = fmt.Sscanf(b, "v%d.%d.%d", &b1, &b2, &b3)
	if a1 != b1 {
		return a1 > b1
	}
	if a2 != b2 {
		return a2 > b2
	}
	return a3 > b3
}

func writeRelease(tmpl *template.Template, r release, minor int, crdsDir, out string) error {
	dir := filepath.Join(out, "flux", r.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	crds, err := readCRDs(crdsDir)
	if err != nil {
		return err
	}
	comps := components(r, minor)
	names := make([]string, 0, len(comps))
	for _, c := range comps {
		names = append(names, c.Name)
		var buf bytes.Buffer
		files := crds[c.Name]
		if len(files) == 0 {
			return fmt.Errorf("no CRD for %s in %s", c.Name, crdsDir)
		}
		for _, crd := range files {
			buf.WriteString("---\n")
			buf.Write(crd)
		}
		if err := tmpl.ExecuteTemplate(&buf, "component.yaml.tmpl", c); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+".yaml"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	rd := map[string]any{"Version": r.Version, "Minor": minor, "Components": names}
	for _, f := range []string{"policies.yaml", "rbac.yaml"} {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, f+".tmpl", rd); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	images := filepath.Join(out, "flux-images", r.Version)
	if err := os.MkdirAll(images, 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("images:\n")
	for _, name := range names {
		img := r.Components[name]
		if img.Tag == "" {
			return fmt.Errorf("%s has no tag", name)
		}
		// A release whose digests are not known lists the tags alone: the
		// build then warns that its images are not pinned.
		fmt.Fprintf(&buf, "  - name: ghcr.io/fluxcd/%s\n    newTag: %s\n", name, img.Tag)
		if img.Digest != "" {
			fmt.Fprintf(&buf, "    digest: %s\n", img.Digest)
		}
	}
	return os.WriteFile(filepath.Join(images, "upstream-alpine.yaml"), buf.Bytes(), 0o644)
}

// readCRDs returns the CRD files of dir by component, labelled as a Flux
// install labels them per component.
func readCRDs(dir string) (map[string][][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out := map[string][][]byte{}
	for _, n := range names {
		owner := crdOwner(n)
		if owner == "" {
			return nil, fmt.Errorf("no component serves the CRD file %s", n)
		}
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		var crd map[string]any
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		meta, _ := crd["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
		}
		labels["app.kubernetes.io/component"] = owner
		labels["app.kubernetes.io/part-of"] = "flux"
		meta["labels"] = labels
		labelled, err := yaml.Marshal(crd)
		if err != nil {
			return nil, err
		}
		out[owner] = append(out[owner], labelled)
	}
	return out, nil
}
