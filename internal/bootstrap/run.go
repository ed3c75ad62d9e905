package bootstrap

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// NewScheme returns a scheme with the Kubernetes built-in kinds and the
// fluxcd.controlplane.io/v1 kinds registered.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("failed to register client-go kinds: %v", err))
	}
	if err := apiv1.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("failed to register %s kinds: %v", apiv1.GroupVersion, err))
	}
	return s
}

// Binary describes one operator binary: its own flags and how it sets up
// its manager. Every hook may be nil.
type Binary struct {
	// Name is the binary name, e.g. flux-operator-reporter.
	Name string
	// NoLeaderElection: every replica works; no --leader-elect flag, no Lease.
	NoLeaderElection bool
	// Flags registers the binary's own flags on fs, with defaults read
	// through env.
	Flags func(fs *flag.FlagSet, env *Env)
	// Validate checks the binary's own flags once they are parsed; its error
	// is reported with the common options' before any kubeconfig is loaded.
	Validate func() error
	// ConfigureManager adjusts the manager options (cache scope,
	// transforms) before the manager is created.
	ConfigureManager func(o *Options, mo *ctrl.Options) error
	// Setup registers the binary's controllers and runnables.
	Setup func(mgr manager.Manager, o *Options) error
}

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitInvalid = 2
)

// Parse registers the common flags and the binary's on fs, parses args and
// validates everything: the options, the environment variables and the
// binary's own flags, reported together. It returns flag.ErrHelp for -h.
func (b *Binary) Parse(fs *flag.FlagSet, env *Env, args []string) (*Options, error) {
	o := &Options{Component: b.Name, NoLeaderElection: b.NoLeaderElection}
	o.BindFlags(fs, env)
	if b.Flags != nil {
		b.Flags(fs, env)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.PrintVersion {
		return o, nil
	}
	errs := []error{env.Err(), o.Validate()}
	if b.Validate != nil {
		errs = append(errs, b.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

// Run is a binary's whole life: parse and validate the options, then load
// the kubeconfig, build the manager, let the binary set it up, and run until
// SIGTERM or SIGINT, shutting down gracefully. It returns the exit code:
// ExitInvalid for invalid options (printed to stderr), ExitFailed when start-up
// or the manager fails.
func (b *Binary) Run(fs *flag.FlagSet, env *Env, args []string, stdout, stderr io.Writer) int {
	o, err := b.Parse(fs, env, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case err != nil:
		_, _ = fmt.Fprintf(stderr, "%s: invalid options:\n%v\n", b.Name, err)
		return ExitInvalid
	case o.PrintVersion:
		_, _ = fmt.Fprintln(stdout, VersionString(b.Name))
		return ExitOK
	}
	ctrl.SetLogger(zap.New(zapOptions(o)...))
	log := ctrl.Log.WithName("setup")
	if err := b.start(o); err != nil {
		log.Error(err, "stopped with an error")
		return ExitFailed
	}
	log.Info("stopped")
	return ExitOK
}

func (b *Binary) start(o *Options) error {
	cfg, err := RESTConfig(o)
	if err != nil {
		return fmt.Errorf("%w; set --kubeconfig or KUBECONFIG, or run in a Pod", err)
	}
	var configure func(*ctrl.Options) error
	if b.ConfigureManager != nil {
		configure = func(mo *ctrl.Options) error { return b.ConfigureManager(o, mo) }
	}
	mgr, err := NewManager(cfg, o, NewScheme(), configure)
	if err != nil {
		return err
	}
	if b.Setup != nil {
		if err := b.Setup(mgr, o); err != nil {
			return fmt.Errorf("failed to set up %s: %w", b.Name, err)
		}
	}
	ctrl.Log.WithName("setup").Info("starting", "component", o.Component, "version", Version(), "platform", Platform(),
		"namespace", o.RuntimeNamespace, "metricsAddr", o.MetricsAddr, "healthAddr", o.HealthAddr,
		"leaderElect", o.LeaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("manager stopped: %w", err)
	}
	return nil
}

// Main is the whole main function of a binary: Run with the process's flags
// (which carry controller-runtime's --kubeconfig), environment and output,
// then exit with its code.
func Main(b Binary) {
	os.Exit(b.Run(flag.CommandLine, NewEnv(), os.Args[1:], os.Stdout, os.Stderr))
}
