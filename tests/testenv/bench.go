package testenv

import (
	"flag"
	"net/http"
	"os"
	"slices"
	"sync"
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
// to the API server, and keeps what each asked.
type RequestCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	reqs []Request
}

// Request is one request a RequestCounter saw.
type Request struct {
	Method string
	// Path is the URL path, /apis/apps/v1/namespaces/flux-system/deployments.
	Path string
	// DryRun: the request asked for dryRun=All.
	DryRun bool
	// Watch: a watch request (list with watch=true).
	Watch bool
}

func (r Request) String() string {
	s := r.Method + " " + r.Path
	if r.DryRun {
		s += " (dry-run)"
	}
	if r.Watch {
		s += " (watch)"
	}
	return s
}

// Config returns a copy of cfg whose clients count their requests here.
func (c *RequestCounter) Config(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			c.n.Add(1)
			q := r.URL.Query()
			c.mu.Lock()
			c.reqs = append(c.reqs, Request{Method: r.Method, Path: r.URL.Path, DryRun: q.Get("dryRun") == "All",
				Watch: q.Get("watch") == "true" || q.Get("watch") == "1"})
			c.mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	return out
}

// Count returns the requests counted so far.
func (c *RequestCounter) Count() int64 { return c.n.Load() }

// Since returns the requests after the first n (a Count taken earlier).
func (c *RequestCounter) Since(n int64) []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(n) >= len(c.reqs) {
		return nil
	}
	return slices.Clone(c.reqs[n:])
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
