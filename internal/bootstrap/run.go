package bootstrap

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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

// Binary describes one operator binary for Main.
type Binary struct {
	// Name is the binary name, e.g. flux-operator-reporter.
	Name string
	// ConfigureManager, when set, adjusts the manager options (cache scope,
	// transforms) before the manager is created.
	ConfigureManager func(o *Options, mo *ctrl.Options)
	// Setup registers the binary's controllers and runnables.
	Setup func(mgr manager.Manager, o *Options) error
	// NoLeaderElection: every replica works; no --leader-elect flag, no Lease.
	NoLeaderElection bool
}

// Run builds the manager for o, lets setup register the binary's controllers
// and runnables, and runs until SIGTERM or SIGINT, then shuts down gracefully.
// It returns the process exit code.
func Run(o *Options, configure func(*ctrl.Options), setup func(mgr manager.Manager) error) int {
	log := ctrl.Log.WithName("setup")
	cfg, err := RESTConfig(o)
	if err != nil {
		log.Error(err, "unable to reach the cluster; set --kubeconfig or KUBECONFIG, or run in a Pod")
		return 1
	}
	mgr, err := NewManager(cfg, o, NewScheme(), configure)
	if err != nil {
		log.Error(err, "unable to start")
		return 1
	}
	if setup != nil {
		if err := setup(mgr); err != nil {
			log.Error(err, "unable to set up controllers")
			return 1
		}
	}
	log.Info("starting", "component", o.Component, "version", Version(), "platform", Platform(),
		"namespace", o.RuntimeNamespace, "metricsAddr", o.MetricsAddr, "healthAddr", o.HealthAddr,
		"leaderElect", o.LeaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped with an error")
		return 1
	}
	log.Info("stopped")
	return 0
}

// Main is the whole main function of a binary: parse flags (the binary's own
// are registered on flag.CommandLine beforehand), then Run.
func Main(b Binary) {
	o := &Options{Component: b.Name, NoLeaderElection: b.NoLeaderElection}
	Setup(o, flagSet(), os.Args[1:])
	var configure func(*ctrl.Options)
	if b.ConfigureManager != nil {
		configure = func(mo *ctrl.Options) { b.ConfigureManager(o, mo) }
	}
	os.Exit(Run(o, configure, func(mgr manager.Manager) error {
		if b.Setup == nil {
			return nil
		}
		return b.Setup(mgr, o)
	}))
}
