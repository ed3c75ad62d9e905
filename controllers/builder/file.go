package builder

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// ReadInstance reads a FluxInstance from a YAML file, or from stdin when
// file is "-". Unknown fields are errors, so that a typo is not built as if
// it were absent. An instance without a namespace gets namespace.
func ReadInstance(file string, stdin io.Reader, namespace string) (*apiv1.FluxInstance, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the FluxInstance: %w", err)
	}
	fi := &apiv1.FluxInstance{}
	if err := yaml.UnmarshalStrict(data, fi); err != nil {
		return nil, fmt.Errorf("%s is not a FluxInstance: %w", file, err)
	}
	if fi.Kind != apiv1.FluxInstanceKind {
		return nil, fmt.Errorf("%s holds a %q, not a FluxInstance", file, fi.Kind)
	}
	if fi.Namespace == "" {
		fi.Namespace = namespace
	}
	return fi, nil
}

// WriteManifests writes a build as the offline build prints it: the
// revision, whether the release is outdated and every warning as YAML
// comments, then the objects in apply order as YAML documents.
func WriteManifests(w io.Writer, res *Result) error {
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Revision: %s\n", res.Revision)
	if res.Outdated {
		fmt.Fprintf(&out, "# Outdated: Flux %s is not the newest release available, %s\n", res.Version, res.Newest)
	}
	for _, warning := range res.Warnings {
		fmt.Fprintf(&out, "# Warning: %s\n", warning)
	}
	for _, o := range res.Objects {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("failed to write %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	_, err := w.Write(out.Bytes())
	return err
}
