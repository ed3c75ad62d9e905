package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

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
	fi, err := builder.ReadInstance(*file, stdin, apiv1.DefaultNamespace)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
		return 2
	}
	ao := distribution.ArtifactOptions{PlainHTTP: distribution.SplitHosts(*plainHTTP)}
	if *caFile != "" {
		if ao.RootCAs, err = distribution.LoadCAFile(*caFile); err != nil {
			_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
			return 2
		}
	}
	dist, err := distribution.Offline(ctx, *manifests, fi.Spec.Distribution.Artifact, ao)
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
	if err := builder.WriteManifests(stdout, res); err != nil {
		_, _ = fmt.Fprintf(stderr, "build: %v\n", err)
		return 1
	}
	return 0
}
