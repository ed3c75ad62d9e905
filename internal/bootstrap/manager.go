package bootstrap

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Setup parses the command line into o (plus any flags the caller registered
// on fs beforehand), handles --version, validates and installs the logger.
// It exits the process on --version and on invalid options, as a CLI should.
func Setup(o *Options, fs *flag.FlagSet, args []string) {
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if o.PrintVersion {
		fmt.Println(VersionString(o.Component))
		os.Exit(0)
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: invalid options:\n%v\n", o.Component, err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zapOptions(o)...))
}

func zapOptions(o *Options) []zap.Opts {
	level := zapcore.InfoLevel
	switch strings.ToLower(o.LogLevel) {
	case "debug":
		level = zapcore.DebugLevel
	case "error":
		level = zapcore.ErrorLevel
	}
	opts := []zap.Opts{zap.Level(level), zap.UseDevMode(false)}
	if strings.EqualFold(o.LogEncoding, "console") {
		opts = append(opts, zap.ConsoleEncoder())
	} else {
		opts = append(opts, zap.JSONEncoder())
	}
	return opts
}

// NewManager builds a controller-runtime manager serving /metrics on
// MetricsAddr and /healthz, /readyz on HealthAddr, with leader election in the
// runtime namespace when enabled.
func NewManager(cfg *rest.Config, o *Options, scheme *runtime.Scheme, configure func(*ctrl.Options)) (manager.Manager, error) {
	shutdown := o.GracefulShutdownTimeout
	mo := ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.HealthAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.RuntimeNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdown,
	}
	if configure != nil {
		configure(&mo)
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("failed to create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add readiness check: %w", err)
	}
	return mgr, nil
}

// RESTConfig loads the kubeconfig the usual way (--kubeconfig, $KUBECONFIG,
// in-cluster, ~/.kube/config) and names the client after the component so
// API server audit logs and metrics tell the binaries apart.
func RESTConfig(o *Options) (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig: %w", err)
	}
	cfg.UserAgent = o.Component + "/" + Version()
	return cfg, nil
}

// flagSet returns the process flag set, which already carries controller-runtime's --kubeconfig.
func flagSet() *flag.FlagSet { return flag.CommandLine }
