package command

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// buildFlags say what to build and from which distribution, with the names
// and environment variables `flux-operator-installer build` has.
type buildFlags struct {
	file             string
	manifestsPath    string
	installedVersion string
	plainHTTP        string
	caFile           string
}

func (f *buildFlags) add(fs *pflag.FlagSet, withInstalledVersion bool) {
	fs.StringVarP(&f.file, "file", "f", "", "The FluxInstance YAML file, - for standard input.")
	fs.StringVar(&f.manifestsPath, "manifests-path", os.Getenv("MANIFESTS_PATH"),
		"A distribution tree to build from instead of the one built into this binary. Env: MANIFESTS_PATH.")
	if withInstalledVersion {
		fs.StringVar(&f.installedVersion, "installed-version", "",
			"The Flux version installed now, to check an upgrade as the installer would (a minor downgrade fails).")
	}
	fs.StringVar(&f.plainHTTP, "artifact-plain-http", os.Getenv("ARTIFACT_PLAIN_HTTP"),
		"Comma-separated registries (host[:port]) of distribution artifacts spoken to over plain HTTP. Env: ARTIFACT_PLAIN_HTTP.")
	fs.StringVar(&f.caFile, "artifact-ca-file", os.Getenv("ARTIFACT_CA_FILE"),
		"A PEM bundle of the certificate authorities of private registries, trusted besides the system's. Env: ARTIFACT_CA_FILE.")
}

// read reads the FluxInstance of --file; one without a namespace is the
// operator namespace's.
func (f *buildFlags) read(o *options) (*apiv1.FluxInstance, error) {
	if f.file == "" {
		return nil, usagef("-f is required: the FluxInstance YAML file, or - for standard input")
	}
	fi, err := builder.ReadInstance(f.file, o.streams.In, o.operatorNamespace())
	if err != nil {
		return nil, usagef("%v", err)
	}
	return fi, nil
}

// build builds fi as the installer does, with the installer's own code:
// the same distribution choice, the same builder. installed is the Flux
// version installed now ("" for none).
func (f *buildFlags) build(ctx context.Context, fi *apiv1.FluxInstance, installed string) (*builder.Result, error) {
	ao := distribution.ArtifactOptions{PlainHTTP: distribution.SplitHosts(f.plainHTTP)}
	if f.caFile != "" {
		pool, err := distribution.LoadCAFile(f.caFile)
		if err != nil {
			return nil, usagef("%v", err)
		}
		ao.RootCAs = pool
	}
	dist, err := distribution.Offline(ctx, f.manifestsPath, fi.Spec.Distribution.Artifact, ao)
	if err != nil {
		return nil, err
	}
	res, err := builder.Build(ctx, builder.Request{Spec: &fi.Spec, Name: fi.Name, Namespace: fi.Namespace,
		Distribution: dist, LastAppliedVersion: installed})
	if err != nil {
		return nil, fmt.Errorf("build failed: %w", err)
	}
	return res, nil
}

func newBuildCommand(o *options) *cobra.Command {
	build := &cobra.Command{
		Use:   "build",
		Short: "Build what a FluxInstance installs, offline",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("flux-operator build needs what to build: instance")
		},
	}
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "instance -f FILE",
		Short: "Print the manifests a FluxInstance installs, in apply order, without a cluster",
		Long: "Prints the manifests a FluxInstance installs, in apply order, built by the installer's own code " +
			"(the same as `flux-operator-installer build`): the revision, an outdated release and every warning come " +
			"first as YAML comments. The distribution is the one built into this binary, unless --manifests-path is " +
			"given or the instance names an OCI artifact (pulled anonymously).",
		Example: `  flux-operator build instance -f flux-instance.yaml
  kubectl get fluxinstance flux -n flux-system -o yaml | flux-operator build instance -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fi, err := f.read(o)
			if err != nil {
				return err
			}
			ctx, cancel := o.context()
			defer cancel()
			res, err := f.build(ctx, fi, f.installedVersion)
			if err != nil {
				return err
			}
			return builder.WriteManifests(cmd.OutOrStdout(), res)
		},
	}
	f.add(cmd.Flags(), true)
	build.AddCommand(cmd)
	return build
}
