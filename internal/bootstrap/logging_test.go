package bootstrap

import (
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// captured logs through quietProbes at verbosity v, as controller-runtime's
// delegating logger names its loggers.
func captured(v int, log func(root logr.Logger)) []string {
	var lines []string
	sink := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{Verbosity: v}).GetSink()
	log(logr.New(&quietProbes{LogSink: sink}))
	return lines
}

func TestQuietProbes(t *testing.T) {
	probe := func(root logr.Logger) {
		hz := root.WithName("controller-runtime").WithName("healthz")
		hz.Info(failedProbe, "statuses", "[-]api-server failed")
		hz.Info("something else")
		root.WithName("setup").Info(failedProbe)
		root.WithName("controller-runtime").WithValues("k", "v").WithName("healthz").Error(nil, failedProbe)
	}

	lines := captured(0, probe)
	if got := strings.Join(lines, "\n"); strings.Contains(got, "api-server failed") {
		t.Errorf("a failed probe is logged at info:\n%s", got)
	}
	if len(lines) != 3 {
		t.Errorf("want the other healthz line, the other logger's line and the error, got %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}

	debug := captured(1, probe)
	if len(debug) != 4 || !strings.Contains(debug[0], `"msg"="healthz check failed"`) || !strings.Contains(debug[0], `"level"=1`) ||
		!strings.Contains(debug[0], "controller-runtime/healthz") {
		t.Errorf("at debug, the failed probe is logged at V(1) under its logger's name first, got:\n%s", strings.Join(debug, "\n"))
	}
}
