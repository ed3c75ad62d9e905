package bootstrap

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
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
	ctrl.SetLogger(newLogger(o))
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
	ctx := ctrl.SetupSignalHandler()
	log := ctrl.Log.WithName("setup")
	// One monitor for the process: it outlives the managers of successive
	// leader campaigns.
	if o.APIServer == nil {
		m, err := NewAPIServerMonitor(cfg, ctrl.Log.WithName("api-server"))
		if err != nil {
			return fmt.Errorf("failed to create the API server monitor: %w", err)
		}
		o.APIServer = m
	}
	go o.APIServer.Run(ctx)
	for campaign := 1; ; campaign++ {
		lost, err := b.startManager(ctx, cfg, o, campaign)
		// After a lost Lease the API server is often still away, and the
		// previous manager may still hold its ports for a moment: a new
		// manager is tried again with backoff until it starts.
		for wait, last := time.Second, ""; campaign > 1 && err != nil && ctx.Err() == nil; wait = min(2*wait, 5*time.Second) {
			if err.Error() != last {
				log.Info("cannot start a new manager yet, retrying", "error", err.Error(), "retryIn", wait.String())
				last = err.Error()
			}
			if !o.APIServer.Connected() {
				// Away: try again the moment it is back.
				_ = o.APIServer.WaitConnected(ctx)
			} else {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
			lost, err = b.startManager(ctx, cfg, o, campaign)
		}
		if !lost || ctx.Err() != nil {
			return err
		}
		// Losing the Lease (the API server unreachable for longer than the
		// renew deadline, or another replica took over) stops the controllers
		// at once; the process keeps running and campaigns again with a new
		// manager, so an API server outage needs no restart.
		_, renewed := o.APIServer.LeaseLost()
		log.Info("lost the leader Lease: stepped down, campaigning again", "lease", o.RuntimeNamespace+"/"+o.LeaderElectionID,
			"lastRenewed", time.Since(renewed).Round(time.Second).String()+" ago")
	}
}

// startManager builds, sets up and runs one manager until ctx is done or it
// stops; lost is true when it stopped because it lost the leader Lease.
func (b *Binary) startManager(ctx context.Context, cfg *rest.Config, o *Options, campaign int) (lost bool, err error) {
	configure := func(mo *ctrl.Options) error {
		if campaign > 1 {
			// The controllers of the previous manager were registered under
			// the same names in this process.
			mo.Controller.SkipNameValidation = ptr.To(true)
		}
		if b.ConfigureManager != nil {
			return b.ConfigureManager(o, mo)
		}
		return nil
	}
	mgr, err := NewManager(cfg, o, NewScheme(), configure)
	if err != nil {
		return false, err
	}
	if b.Setup != nil {
		if err := b.Setup(mgr, o); err != nil {
			return false, fmt.Errorf("failed to set up %s: %w", b.Name, err)
		}
	}
	if campaign == 1 {
		ctrl.Log.WithName("setup").Info("starting", "component", o.Component, "version", Version(), "platform", Platform(),
			"namespace", o.RuntimeNamespace, "metricsAddr", o.MetricsAddr, "metricsSecure", o.MetricsSecure, "healthAddr", o.HealthAddr,
			"leaderElect", o.LeaderElect)
	}
	if err := mgr.Start(ctx); err != nil {
		// The Lease lock knows whether the Lease was lost: the manager's
		// error does not say so other than in its text.
		if lost, _ := o.APIServer.LeaseLost(); o.LeaderElect && lost {
			return true, nil
		}
		return false, fmt.Errorf("manager stopped: %w", err)
	}
	return false, nil
}

// Main is the whole main function of a binary: Run with the process's flags
// (which carry controller-runtime's --kubeconfig), environment and output,
// then exit with its code.
func Main(b Binary) {
	os.Exit(b.Run(flag.CommandLine, NewEnv(), os.Args[1:], os.Stdout, os.Stderr))
}
