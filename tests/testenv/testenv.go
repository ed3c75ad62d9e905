// Package testenv starts a real control plane (etcd and kube-apiserver built
// from Go modules by `make testenv`) through controller-runtime's envtest,
// installs the operator's CRDs and the Flux CRDs, and hands back clients.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/fluxops/flux-operator/internal/bootstrap"
)

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Client is a controller-runtime client with the built-in and
	// fluxcd.controlplane.io kinds registered.
	Client client.Client
	// Scheme is the scheme of Client.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file for Config, for kubectl
	// and other programs started by tests.
	Kubeconfig string

	env    *envtest.Environment
	dir    string
	onStop []func()
}

// OnStop registers f to run, before the control plane stops, in reverse
// order of registration: for what TestMain started against it.
func (e *Env) OnStop(f func()) { e.onStop = append(e.onStop, f) }

// Option changes how Start configures the control plane.
type Option func(*envtest.Environment)

// WithoutFluxCRDs starts the control plane with only the operator's CRDs,
// as on a cluster where Flux is not installed.
func WithoutFluxCRDs() Option {
	return func(e *envtest.Environment) { e.CRDDirectoryPaths = []string{OperatorCRDDir()} }
}

// WithMonitoringCRDs adds the ServiceMonitor and PrometheusRule CRDs
// generated from the Prometheus Operator API module.
func WithMonitoringCRDs() Option {
	return func(e *envtest.Environment) { e.CRDDirectoryPaths = append(e.CRDDirectoryPaths, MonitoringCRDDir()) }
}

// Start runs etcd and kube-apiserver and installs the CRDs. Call Stop when done.
func Start(opts ...Option) (*Env, error) {
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := Binary(b); err != nil {
			return nil, err
		}
	}
	e := &envtest.Environment{
		BinaryAssetsDirectory:    KubeBinDir(),
		CRDDirectoryPaths:        []string{OperatorCRDDir(), FluxCRDDir()},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	for _, o := range opts {
		o(e)
	}
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("failed to start the test control plane: %w", err)
	}
	scheme := bootstrap.NewScheme()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("failed to create client: %w", err)
	}
	dir, err := os.MkdirTemp("", "flux-operator-testenv-")
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, e.KubeConfig, 0o600); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("failed to write kubeconfig: %w", err)
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, Kubeconfig: kubeconfig, env: e, dir: dir}, nil
}

// UserConfig returns a rest.Config authenticated as a new user with the given
// name and groups and no permissions beyond what RBAC bindings grant it.
func (e *Env) UserConfig(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, e.Config)
	if err != nil {
		return nil, fmt.Errorf("failed to add user %s: %w", name, err)
	}
	return u.Config(), nil
}

// UserKubeconfig writes a kubeconfig file authenticated as a new user with
// the given name and groups, as UserConfig, for programs run as processes,
// and returns its path.
func (e *Env) UserKubeconfig(name string, groups ...string) (string, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, e.Config)
	if err != nil {
		return "", fmt.Errorf("failed to add user %s: %w", name, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.dir, "kubeconfig-"+name)
	return path, os.WriteFile(path, data, 0o600)
}

// Stop stops the control plane and removes its files.
func (e *Env) Stop() error {
	for i := len(e.onStop) - 1; i >= 0; i-- {
		e.onStop[i]()
	}
	err := e.env.Stop()
	_ = os.RemoveAll(e.dir)
	return err
}

// Eventually polls cond every 100ms until it returns nil or the timeout
// passes, and returns the last error (the one before it when the deadline
// cut the last call short).
func Eventually(ctx context.Context, timeout time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		// An error of a call the deadline cut short says less than the
		// one before it.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: %w", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Consistently checks cond every 100ms for the whole of d and returns the
// first error it gives: it proves that something does not happen (an event
// not sent, a report not scheduled) for as long as a user would wait for it.
// It returns nil only when every check, the last one at or after d, passed.
func Consistently(ctx context.Context, d time.Duration, cond func(context.Context) error) error {
	deadline := time.Now().Add(d)
	for {
		if err := cond(ctx); err != nil {
			return fmt.Errorf("after %s of %s: %w", d-time.Until(deadline).Round(time.Millisecond), d, err)
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(100*time.Millisecond, time.Until(deadline))):
		}
	}
}

// Main is a test package's TestMain: it starts the control plane, hands it to
// started (which keeps it and may add fixtures), runs the tests, stops the
// control plane and exits with the tests' code.
func Main(m *testing.M, started func(*Env) error, opts ...Option) {
	env, err := Start(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if started != nil {
		if err := started(env); err != nil {
			fmt.Fprintln(os.Stderr, err)
			_ = env.Stop()
			os.Exit(1)
		}
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "failed to stop the test control plane:", err)
	}
	os.Exit(code)
}
