// Package webtest runs flux-operator-web's manager in the test process,
// wired exactly as the binary wires it, with the pages and /readyz on free
// loopback ports.
package webtest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/tests/testenv"
	"github.com/fluxops/flux-operator/web/ui"
)

// Web is a running web UI.
type Web struct {
	*ui.Server
	// URL is the UI's base URL, without a trailing slash.
	URL        string
	healthAddr string
	stop       func() error
}

// Start runs the UI for namespace as cfg's user, with sign-in when auth.
func Start(cfg *rest.Config, namespace string, auth bool, pageSize int) (*Web, error) {
	addrs := make([]string, 3)
	for i := range addrs {
		a, err := testenv.FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	o := &bootstrap.Options{Component: ui.Component, MetricsAddr: addrs[0], HealthAddr: addrs[1],
		RuntimeNamespace: namespace, GracefulShutdownTimeout: 10 * time.Second}
	mgr, err := bootstrap.NewManager(cfg, o, bootstrap.NewScheme(), func(mo *ctrl.Options) error {
		ui.ConfigureManager(namespace, mo)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s, err := ui.Setup(mgr, ui.Config{Namespace: namespace, Addr: addrs[2], Auth: auth, PageSize: pageSize, Resync: time.Second})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return &Web{Server: s, URL: "http://" + addrs[2], healthAddr: addrs[1],
		stop: func() error { cancel(); return <-done }}, nil
}

// WaitReady waits until /readyz passes.
func (w *Web) WaitReady(timeout time.Duration) error { return testenv.WaitReady(w.healthAddr, timeout) }

// Stop stops the UI and returns the manager's error.
func (w *Web) Stop() error { return w.stop() }

// Browser is an HTTP client that keeps cookies and does not follow
// redirects, so tests see where the UI sends them.
type Browser struct {
	Client *http.Client
	Base   string
}

// NewBrowser returns a Browser of the UI at base.
func NewBrowser(base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Base: base, Client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Page is a response of the UI.
type Page struct {
	Code     int
	Body     string
	Location string
}

// Get fetches path.
func (b *Browser) Get(path string) (*Page, error) {
	return b.do(http.MethodGet, path, nil)
}

// Post submits a form to path.
func (b *Browser) Post(path string, form url.Values) (*Page, error) {
	return b.do(http.MethodPost, path, form)
}

func (b *Browser) do(method, path string, form url.Values) (*Page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.Base+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Page{Code: resp.StatusCode, Body: string(data), Location: resp.Header.Get("Location")}, nil
}
