package bootstrap

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

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
// configure, when not nil, adjusts the options first.
func NewManager(cfg *rest.Config, o *Options, scheme *runtime.Scheme, configure func(*ctrl.Options) error) (manager.Manager, error) {
	shutdown := o.GracefulShutdownTimeout
	mo := ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.HealthAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.RuntimeNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 durationOrNil(o.LeaseDuration),
		RenewDeadline:                 durationOrNil(o.RenewDeadline),
		RetryPeriod:                   durationOrNil(o.RetryPeriod),
		GracefulShutdownTimeout:       &shutdown,
	}
	if configure != nil {
		if err := configure(&mo); err != nil {
			return nil, err
		}
	}
	if o.MetricsSecure {
		secureMetrics(&mo.Metrics, o.MetricsCertDir)
	}
	if o.APIServer != nil && mo.Cache.NewInformer == nil {
		mo.Cache.NewInformer = o.APIServer.NewInformer
	}
	if o.APIServer != nil && mo.LeaderElection && mo.LeaderElectionResourceLockInterface == nil {
		renew := 10 * time.Second
		if mo.RenewDeadline != nil {
			renew = *mo.RenewDeadline
		}
		lock, err := o.APIServer.LeaderLock(cfg, mo.LeaderElectionNamespace, mo.LeaderElectionID, renew)
		if err != nil {
			return nil, fmt.Errorf("failed to create the leader election lock: %w", err)
		}
		mo.LeaderElectionResourceLockInterface = lock
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

// secureMetrics serves /metrics over HTTPS (HTTP/1.1 only, as HTTP/2 has
// had denial-of-service flaws of its own) to authenticated and authorized
// clients, around whatever handler a binary's own filter serves.
func secureMetrics(m *metricsserver.Options, certDir string) {
	m.SecureServing = true
	m.CertDir = certDir
	m.TLSOpts = append(m.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	m.FilterProvider = metricsAuthFilter(m.FilterProvider)
}

// durationOrNil leaves an unset duration to controller-runtime's default.
func durationOrNil(d time.Duration) *time.Duration {
	if d <= 0 {
		return nil
	}
	return &d
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
