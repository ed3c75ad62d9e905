package bootstrap

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// Environment variables read by every binary. A flag given on the command
// line wins over its environment variable.
const (
	EnvRuntimeNamespace = "RUNTIME_NAMESPACE"
	EnvMetricsAddr      = "METRICS_ADDR"
	EnvHealthAddr       = "HEALTH_ADDR"
	EnvLeaderElect      = "LEADER_ELECT"
	EnvLogLevel         = "LOG_LEVEL"
	EnvLogEncoding      = "LOG_ENCODING"
	EnvMetricsSecure    = "METRICS_SECURE"
	EnvMetricsCertDir   = "METRICS_CERT_DIR"
	EnvLeaseDuration    = "LEADER_ELECTION_LEASE_DURATION"
	EnvRenewDeadline    = "LEADER_ELECTION_RENEW_DEADLINE"
	EnvRetryPeriod      = "LEADER_ELECTION_RETRY_PERIOD"
)

// Options are the settings common to the three binaries.
type Options struct {
	// Component is the binary name, e.g. flux-operator-reporter.
	Component string
	// MetricsAddr is the bind address of /metrics; "0" disables it.
	MetricsAddr string
	// HealthAddr is the bind address of /healthz and /readyz; "0" disables it.
	HealthAddr string
	// MetricsSecure serves /metrics over HTTPS to authenticated and
	// authorized clients only (TokenReview and SubjectAccessReview).
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for MetricsSecure, reloaded
	// when they change; empty for a self-signed certificate.
	MetricsCertDir string
	// LeaderElect enables leader election with a Lease in the runtime namespace.
	LeaderElect bool
	// LeaderElectionID names the Lease; defaults to the component name.
	LeaderElectionID string
	// LeaseDuration, RenewDeadline and RetryPeriod time the leader election:
	// how long a standby waits after the last renewal it saw before taking
	// the Lease, how long the leader keeps trying to renew before it steps
	// down, and how often both try.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// LogLevel is one of debug, info, error.
	LogLevel string
	// LogEncoding is json or console.
	LogEncoding string
	// RuntimeNamespace is the namespace the operator and Flux run in.
	RuntimeNamespace string
	// GracefulShutdownTimeout bounds how long runnables get to stop.
	GracefulShutdownTimeout time.Duration
	// PrintVersion makes the binary print its version and exit.
	PrintVersion bool
	// NoLeaderElection marks a binary whose replicas all work at once: it has
	// no leader election flags and never takes a Lease. Set it before
	// BindFlags.
	NoLeaderElection bool
	// APIServer follows the API server for the whole process; when set, the
	// manager's informers wait for it during an outage. Run sets it.
	APIServer *APIServerMonitor
}

// Env reads the environment variables that give flags their defaults, all
// the same way: an unset or empty variable keeps the default, and a value
// that does not parse is kept as an error for Err, so the binary refuses to
// start instead of silently using the default.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// NewEnv reads the process environment.
func NewEnv() *Env { return &Env{lookup: os.LookupEnv} }

func (e *Env) value(key string) (string, bool) {
	v, ok := e.lookup(key)
	return v, ok && v != ""
}

// String returns the variable's value, or def.
func (e *Env) String(key, def string) string {
	if v, ok := e.value(key); ok {
		return v
	}
	return def
}

// Bool returns the variable as a boolean (true, false, 1, 0, t, f), or def.
func (e *Env) Bool(key string, def bool) bool {
	return parseVar(e, key, def, strconv.ParseBool, "a boolean: use true or false")
}

// Duration returns the variable as a duration such as 30s or 5m, or def.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	return parseVar(e, key, def, time.ParseDuration, "a duration such as 30s or 5m")
}

// parseVar returns the variable parsed, or def when it is unset or does not
// parse; then the error says it is not what.
func parseVar[T any](e *Env, key string, def T, parse func(string) (T, error), what string) T {
	v, ok := e.value(key)
	if !ok {
		return def
	}
	x, err := parse(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not %s", key, v, what))
		return def
	}
	return x
}

// Err returns every variable that did not parse, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// BindFlags registers the common flags on fs, with defaults taken from env
// where an equivalent variable is set.
func (o *Options) BindFlags(fs *flag.FlagSet, env *Env) {
	fs.StringVar(&o.MetricsAddr, "metrics-addr", env.String(EnvMetricsAddr, ":8080"),
		"The address the /metrics endpoint binds to, \"0\" to disable. Env: "+EnvMetricsAddr+".")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", env.Bool(EnvMetricsSecure, false),
		"Serve /metrics over HTTPS, only to clients whose token the API server authenticates and who may get the "+
			"/metrics non-resource URL (needs create on tokenreviews and subjectaccessreviews). Env: "+EnvMetricsSecure+".")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", env.String(EnvMetricsCertDir, ""),
		"With --metrics-secure, a directory with tls.crt and tls.key (reloaded when they change); "+
			"empty for a self-signed certificate. Env: "+EnvMetricsCertDir+".")
	fs.StringVar(&o.HealthAddr, "health-addr", env.String(EnvHealthAddr, ":8081"),
		"The address the /healthz and /readyz endpoints bind to, \"0\" to disable. Env: "+EnvHealthAddr+".")
	if !o.NoLeaderElection {
		fs.BoolVar(&o.LeaderElect, "leader-elect", env.Bool(EnvLeaderElect, true),
			"Elect a leader with a Lease in the runtime namespace, so that only one replica works at a time. Env: "+EnvLeaderElect+".")
		fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.Component,
			"The name of the leader election Lease.")
		fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", env.Duration(EnvLeaseDuration, 15*time.Second),
			"How long a standby replica waits after the last renewal of the Lease it saw before taking it over: "+
				"the takeover time when the leader dies. Env: "+EnvLeaseDuration+".")
		fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", env.Duration(EnvRenewDeadline, 10*time.Second),
			"How long the leader retries renewing the Lease before it steps down. Env: "+EnvRenewDeadline+".")
		fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", env.Duration(EnvRetryPeriod, 2*time.Second),
			"How often replicas try to take or renew the Lease. Env: "+EnvRetryPeriod+".")
	}
	fs.StringVar(&o.LogLevel, "log-level", env.String(EnvLogLevel, "info"),
		"Log verbosity: debug, info or error. Env: "+EnvLogLevel+".")
	fs.StringVar(&o.LogEncoding, "log-encoding", env.String(EnvLogEncoding, "json"),
		"Log encoding: json or console. Env: "+EnvLogEncoding+".")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", 30*time.Second,
		"How long to wait for running work to finish on SIGTERM before exiting.")
	fs.BoolVar(&o.PrintVersion, "version", false, "Print the version and exit.")
	o.RuntimeNamespace = env.String(EnvRuntimeNamespace, apiv1.DefaultNamespace)
}

// Validate reports every invalid option at once.
func (o *Options) Validate() error {
	var errs []error
	switch strings.ToLower(o.LogLevel) {
	case "debug", "info", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, error", o.LogLevel))
	}
	switch strings.ToLower(o.LogEncoding) {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("--log-encoding %q is not one of json, console", o.LogEncoding))
	}
	if o.RuntimeNamespace == "" {
		errs = append(errs, fmt.Errorf("%s must not be empty", EnvRuntimeNamespace))
	}
	if o.LeaderElect && o.LeaderElectionID == "" {
		errs = append(errs, errors.New("--leader-election-id must be set when leader election is on"))
	}
	if o.LeaderElect {
		// client-go's own rules, reported with the other options.
		switch {
		case o.RetryPeriod <= 0 || o.RenewDeadline <= 0 || o.LeaseDuration <= 0:
			errs = append(errs, errors.New("the --leader-election-* durations must be positive"))
		case o.LeaseDuration <= o.RenewDeadline:
			errs = append(errs, fmt.Errorf("--leader-election-lease-duration (%s) must be longer than --leader-election-renew-deadline (%s)",
				o.LeaseDuration, o.RenewDeadline))
		case float64(o.RenewDeadline) <= 1.2*float64(o.RetryPeriod):
			errs = append(errs, fmt.Errorf("--leader-election-renew-deadline (%s) must be longer than 1.2 × --leader-election-retry-period (%s)",
				o.RenewDeadline, o.RetryPeriod))
		}
	}
	if o.MetricsCertDir != "" && !o.MetricsSecure {
		errs = append(errs, errors.New("--metrics-cert-dir is only used with --metrics-secure"))
	}
	if o.GracefulShutdownTimeout < 0 {
		errs = append(errs, errors.New("--graceful-shutdown-timeout must not be negative"))
	}
	return errors.Join(errs...)
}
