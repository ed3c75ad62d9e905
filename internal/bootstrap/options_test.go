package bootstrap

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// envOf is an environment holding exactly vars.
func envOf(vars map[string]string) *Env {
	return &Env{lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

func parse(t *testing.T, env map[string]string, args ...string) *Options {
	t.Helper()
	o := &Options{Component: "flux-operator-test"}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	e := envOf(env)
	o.BindFlags(fs, e)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOptionsDefaults(t *testing.T) {
	empty := map[string]string{}
	for _, k := range []string{EnvMetricsAddr, EnvHealthAddr, EnvLeaderElect, EnvLogLevel, EnvLogEncoding, EnvRuntimeNamespace} {
		empty[k] = "" // set but empty keeps the default
	}
	o := parse(t, empty)
	if o.MetricsAddr != ":8080" || o.HealthAddr != ":8081" {
		t.Errorf("addresses = %q %q, want :8080 :8081", o.MetricsAddr, o.HealthAddr)
	}
	if !o.LeaderElect || o.LeaderElectionID != "flux-operator-test" {
		t.Errorf("leader election = %v %q, want on with the component name", o.LeaderElect, o.LeaderElectionID)
	}
	if o.RuntimeNamespace != "flux-system" || o.LogLevel != "info" || o.LogEncoding != "json" {
		t.Errorf("got namespace %q level %q encoding %q", o.RuntimeNamespace, o.LogLevel, o.LogEncoding)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults must be valid: %v", err)
	}
}

func TestEnvironmentSetsDefaultsAndFlagsWin(t *testing.T) {
	env := map[string]string{
		EnvMetricsAddr: ":9090", EnvHealthAddr: ":9091", EnvLeaderElect: "false",
		EnvLogLevel: "debug", EnvLogEncoding: "console", EnvRuntimeNamespace: "flux",
	}
	o := parse(t, env)
	if o.MetricsAddr != ":9090" || o.HealthAddr != ":9091" || o.LeaderElect || o.LogLevel != "debug" ||
		o.LogEncoding != "console" || o.RuntimeNamespace != "flux" {
		t.Errorf("environment not applied: %+v", o)
	}
	o = parse(t, env, "--metrics-addr=:7070", "--leader-elect=true", "--log-level=error")
	if o.MetricsAddr != ":7070" || !o.LeaderElect || o.LogLevel != "error" {
		t.Errorf("flags must override the environment: %+v", o)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := parse(t, nil, "--log-level=verbose", "--log-encoding=xml", "--leader-election-id=")
	err := o.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{`--log-level "verbose"`, `--log-encoding "xml"`, "--leader-election-id must be set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLeaderElectionTimings(t *testing.T) {
	o := parse(t, map[string]string{EnvLeaseDuration: "8s"}, "--leader-election-renew-deadline=6s", "--leader-election-retry-period=1s")
	if o.LeaseDuration != 8*time.Second || o.RenewDeadline != 6*time.Second || o.RetryPeriod != time.Second {
		t.Errorf("timings = %s %s %s, want 8s 6s 1s", o.LeaseDuration, o.RenewDeadline, o.RetryPeriod)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("valid timings refused: %v", err)
	}
	for args, want := range map[string]string{
		"--leader-election-lease-duration=10s": "must be longer than --leader-election-renew-deadline",
		"--leader-election-retry-period=9s":    "must be longer than 1.2",
		"--leader-election-retry-period=0s":    "must be positive",
	} {
		err := parse(t, nil, args).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one that says %q", args, err, want)
		}
	}
}

func TestVersionString(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	got := VersionString("flux-operator-reporter")
	if !strings.HasPrefix(got, "flux-operator-reporter v1.2.3 (go") || !strings.Contains(got, Platform()) {
		t.Errorf("VersionString() = %q", got)
	}
}

func TestNoLeaderElection(t *testing.T) {
	o := &Options{Component: "flux-operator-exporter", NoLeaderElection: true}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.BindFlags(fs, envOf(map[string]string{EnvLeaderElect: "true"}))
	if o.LeaderElect {
		t.Errorf("LEADER_ELECT=true turned leader election on for a binary without it")
	}
	if fs.Lookup("leader-elect") != nil || fs.Lookup("leader-election-id") != nil {
		t.Errorf("a binary without leader election has leader election flags")
	}
	if err := o.Validate(); err != nil {
		t.Errorf("valid without leader election: %v", err)
	}
}
