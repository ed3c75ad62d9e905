// Package command holds the commands of the flux-operator CLI.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/generated/clientset/versioned"
)

// Streams are where a command reads and writes.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes.
const (
	ExitOK = 0
	// ExitFailed: the command ran and what it checked is not well (an
	// object not Ready), or the API server refused.
	ExitFailed = 1
	// ExitUsage: the command line is wrong.
	ExitUsage = 2
)

// version is the CLI's version, set at build time with -ldflags -X.
var version = "dev"

// Version is the CLI's version.
func Version() string { return version }

// options are what every command shares: the kubeconfig flags kubectl has,
// and the clients made from them.
type options struct {
	streams       Streams
	config        *genericclioptions.ConfigFlags
	allNamespaces bool
	timeout       time.Duration
	// operatorNS is where the operator runs: the FluxInstance and the
	// FluxReport live there.
	operatorNS string
	// color is --color; colorEnvErr a wrong FLUX_OPERATOR_COLOR.
	color       colorMode
	colorEnvErr error

	rest       *rest.Config
	restMapper meta.RESTMapper
}

// namespace is the namespace of Flux objects the command works in: -n,
// else the kubeconfig context's.
func (o *options) namespace() string {
	if o.config.Namespace != nil && *o.config.Namespace != "" {
		return *o.config.Namespace
	}
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// operatorNamespace is where the FluxInstance and the FluxReport live.
func (o *options) operatorNamespace() string { return o.operatorNS }

func (o *options) restConfig() (*rest.Config, error) {
	if o.rest != nil {
		return o.rest, nil
	}
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to talk to: %w (set --kubeconfig or KUBECONFIG, or --context)", err)
	}
	cfg.UserAgent = "flux-operator-cli/" + version
	o.rest = cfg
	return cfg, nil
}

func (o *options) clientset() (versioned.Interface, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	return versioned.NewForConfig(cfg)
}

func (o *options) dynamic() (dynamic.Interface, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

func (o *options) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.timeout)
}

// NewRoot returns the flux-operator command with its subcommands.
func NewRoot(streams Streams) *cobra.Command {
	o := &options{streams: streams, config: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:   "flux-operator",
		Short: "Show and drive the Flux Operator's report, the FluxInstance and every Flux object",
		Long: "flux-operator shows the FluxReport, the FluxInstance and the Flux objects of a cluster, as the Flux " +
			"Operator computes and installs them. It uses your kubeconfig as kubectl does (--kubeconfig, --context, -n).",
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return o.checkColor(cmd) },
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	o.config.AddFlags(root.PersistentFlags())
	root.PersistentFlags().DurationVar(&o.timeout, "timeout", time.Minute, "How long a command may take talking to the API server.")
	opNS := os.Getenv("FLUX_OPERATOR_NAMESPACE")
	if opNS == "" {
		opNS = apiv1.DefaultNamespace
	}
	root.PersistentFlags().StringVar(&o.operatorNS, "operator-namespace", opNS,
		"The namespace the operator runs in, where the FluxInstance and the FluxReport are. Env: FLUX_OPERATOR_NAMESPACE.")
	o.addColorFlag(root)
	o.completeNamespaceFlags(root)
	root.AddCommand(newGetCommand(o), newExportCommand(o), newStatsCommand(o), newVersionCommand(o),
		newReconcileCommand(o), newSuspendCommand(o, true), newSuspendCommand(o, false), newTreeCommand(o),
		newEventsCommand(o), newBuildCommand(o), newDiffCommand(o))
	return root
}

// Execute runs the CLI with args and returns its exit code.
func Execute(args []string, streams Streams) int {
	root := NewRoot(streams)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	printLine(streams.Err, "Error:", explain(err))
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFailed
}

// exitError ends a command with its exit code and nothing more to say: what
// it found is already printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// usageError is a command line that cannot work.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// isCobraUsage tells cobra's own errors about the command line.
func isCobraUsage(err error) bool {
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "invalid argument"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}

// explain turns API errors into what a user acts on.
func explain(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		switch {
		case apierrors.IsForbidden(err):
			d := st.Details
			if d != nil {
				return fmt.Sprintf("%s (RBAC: your user needs that verb on %s%s)", err.Error(), d.Kind, groupSuffix(d.Group))
			}
		case apierrors.IsUnauthorized(err):
			return err.Error() + " (your kubeconfig's credentials were refused: log in again or pick another --context)"
		}
	}
	return err.Error()
}

func groupSuffix(g string) string {
	if g == "" {
		return ""
	}
	return "." + g
}

// printf and printLine write to the terminal; like kubectl, the CLI does not
// stop for a failed write to it (tables report theirs at Flush).
func printf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }

func printLine(w io.Writer, args ...any) { _, _ = fmt.Fprintln(w, args...) }
