package testenv

import (
	"flag"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

// MainForBenchmarks is Main for a package of benchmarks only: it starts the
// control plane when benchmarks are asked for (-bench), and otherwise runs
// nothing, so that `go test ./...` (make test) does not start etcd and
// kube-apiserver for a package with no tests.
func MainForBenchmarks(m *testing.M, started func(*Env) error, opts ...Option) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	Main(m, started, opts...)
}

// RequestCounter counts the requests that clients made from its configs send
// to the API server.
type RequestCounter struct{ n atomic.Int64 }

// Config returns a copy of cfg whose clients count their requests here.
func (c *RequestCounter) Config(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			c.n.Add(1)
			return rt.RoundTrip(r)
		})
	}
	return out
}

// Count returns the requests counted so far.
func (c *RequestCounter) Count() int64 { return c.n.Load() }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
