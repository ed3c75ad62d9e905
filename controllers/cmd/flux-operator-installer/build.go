package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

const buildUsage = `Usage: flux-operator-installer build -f FILE [flags]

Prints the manifests a FluxInstance would apply, in apply order, without a
cluster: the revision and any warning come first, as YAML comments. The
distribution is the one built into this binary, unless --manifests-path is
given or the instance names an OCI artifact.

Flags:
`

// runBuild is the build subcommand. It returns the exit code.
func runBuild(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprint(stderr, buildUsage)
		fs.PrintDefaults()
	}
	file := fs.String("f", "", "The FluxInstance YAML file, - for standard input.")
	manifests := fs.String("manifests-path", os.Getenv("MANIFESTS_PATH"),
		"A distribution tree to build from instead of the embedded one. Env: MANIFESTS_PATH.")
	lastApplied := fs.String("installed-version", "",
		"The Flux version installed now, to check an upgrade as the installer would (a minor downgrade fails).")
	plainHTTP := fs.String("artifact-plain-http", os.Getenv("ARTIFACT_PLAIN_HTTP"),
		"Comma-separated registries (host[:port]) of distribution artifacts spoken to over plain HTTP. Env: ARTIFACT_PLAIN_HTTP.")
	caFile := fs.String("artifact-ca-file", os.Getenv("ARTIFACT_CA_FILE"),
		"A PEM bundle of the certificate authorities of private registries, trusted besides the system's. Env: ARTIFACT_CA_FILE.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" {
		_, _ = fmt.Fprintln(stderr, "build: -f is required: the FluxInstance YAML file, or - for standard input")
		return 2
	}
	fi, err := readInstance(*file, stdin)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
		return 2
	}
	ao := distribution.ArtifactOptions{PlainHTTP: splitList(*plainHTTP)}
	if *caFile != "" {
		if ao.RootCAs, err = distribution.LoadCAFile(*caFile); err != nil {
			_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
			return 2
		}
	}
	dist, err := buildDistribution(ctx, fi, *manifests, ao)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
		return 1
	}
	res, err := builder.Build(ctx, builder.Request{Spec: &fi.Spec, Name: fi.Name, Namespace: fi.Namespace,
		Distribution: dist, LastAppliedVersion: *lastApplied})
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
		return 1
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Revision: %s\n", res.Revision)
	if res.Outdated {
		fmt.Fprintf(&out, "# Outdated: Flux %s is not the newest release available, %s\n", res.Version, res.Newest)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(&out, "# Warning: %s\n", w)
	}
	for _, o := range res.Objects {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
			return 1
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		return 1
	}
	return 0
}

func readInstance(file string, stdin io.Reader) (*apiv1.FluxInstance, error) {
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
		fi.Namespace = apiv1.DefaultNamespace
	}
	return fi, nil
}

func buildDistribution(ctx context.Context, fi *apiv1.FluxInstance, manifests string, ao distribution.ArtifactOptions) (fs.FS, error) {
	switch {
	case manifests != "":
		return distribution.FromDir(manifests)
	case fi.Spec.Distribution.Artifact != "":
		a, err := distribution.PullArtifact(ctx, fi.Spec.Distribution.Artifact, ao)
		if err != nil {
			return nil, err
		}
		return a.FS, nil
	}
	return distribution.Embedded(), nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
