package packaging_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// configDir returns config/<name>.
func configDir(name string) string { return filepath.Join(testenv.RepoRoot(), "config", name) }

// chartDir is the Helm chart.
var chartDir = filepath.Join(testenv.RepoRoot(), "config", "charts", "flux-operator")

// renderKustomize builds config/<overlay> as `kubectl apply -k` would.
func renderKustomize(overlay string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), configDir(overlay))
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/%s: %w", overlay, err)
	}
	text, err := resMap.AsYaml()
	if err != nil {
		return nil, err
	}
	return decode(string(text))
}

// rendered is a rendered chart: its CRDs, templates and NOTES.txt.
type rendered struct {
	CRDs    []*unstructured.Unstructured
	Objects []*unstructured.Unstructured
	Notes   string
}

// renderChart renders the chart as `helm install flux-operator -n flux-system`
// would, with values validated against values.schema.json, for Kubernetes
// v1.37.2 (`--kube-version v1.37.2`).
func renderChart(values map[string]any) (*rendered, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.37.2", Major: "1", Minor: "37"}
	return renderChartWith(caps, values)
}

// renderChartWith renders the chart with the capabilities caps in the steps
// of Helm's install action (helm.sh/helm/v3/pkg/action, which would add some
// forty modules to tests/go.mod): values coalesced and validated against
// values.schema.json, the kubeVersion of Chart.yaml, if any, checked against
// caps.KubeVersion with Helm's message, and the templates rendered.
func renderChartWith(caps *chartutil.Capabilities, values map[string]any) (*rendered, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: "flux-operator", Namespace: "flux-system", Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	if kv := ch.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", kv, caps.KubeVersion.String())
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			r.Notes = files[name]
		case strings.HasSuffix(name, ".yaml"):
			objs, err := decode(files[name])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			r.Objects = append(r.Objects, objs...)
		}
	}
	for _, crd := range ch.CRDObjects() {
		objs, err := decode(string(crd.File.Data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", crd.Filename, err)
		}
		r.CRDs = append(r.CRDs, objs...)
	}
	return r, nil
}

// decode splits a multi-document YAML stream into objects.
func decode(text string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(text)), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// find returns the object of kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// ids lists objects as Kind/namespace/name, sorted.
func ids(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	sort.Strings(out)
	return out
}
