package bootstrap

import (
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// newLogger is the process's logger: zap with the --log-level and
// --log-encoding of o, and controller-runtime's failed probe line demoted.
func newLogger(o *Options) logr.Logger {
	return logr.New(&quietProbes{LogSink: zap.New(zapOptions(o)...).GetSink()})
}

// failedProbe is what controller-runtime's healthz handler logs at info on
// every failed /healthz or /readyz request.
const failedProbe = "healthz check failed"

// quietProbes demotes failedProbe to the debug level. A kubelet probing an
// unready exporter every few seconds would otherwise add a line per probe for
// as long as it is unready; the binaries log the cause once when readiness
// changes (the exporter's "not ready: the metrics are stale ...") and once
// when it comes back. --log-level debug shows every failed probe again.
type quietProbes struct {
	logr.LogSink
	name string
}

func (s *quietProbes) Info(level int, msg string, kv ...any) {
	if level == 0 && msg == failedProbe && (s.name == "healthz" || strings.HasSuffix(s.name, ".healthz")) {
		if !s.LogSink.Enabled(1) {
			return
		}
		level = 1
	}
	s.LogSink.Info(level, msg, kv...)
}

func (s *quietProbes) WithName(name string) logr.LogSink {
	full := name
	if s.name != "" {
		full = s.name + "." + name
	}
	return &quietProbes{LogSink: s.LogSink.WithName(name), name: full}
}

func (s *quietProbes) WithValues(kv ...any) logr.LogSink {
	return &quietProbes{LogSink: s.LogSink.WithValues(kv...), name: s.name}
}
