package ui

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// Component names the binary in logs and errors.
const Component = "flux-operator-web"

// RBAC of the web UI: read-only. The FluxInstance and the FluxReport in the
// runtime namespace, the Flux kinds and events everywhere; with --web-auth,
// reviews of the users' tokens and rights. It never reads Secrets, and it
// acts only with a signed-in user's own token.
// +kubebuilder:rbac:groups=fluxcd.controlplane.io,resources=fluxinstances;fluxreports,verbs=get;list;watch,namespace=flux-system
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io;kustomize.toolkit.fluxcd.io;helm.toolkit.fluxcd.io;notification.toolkit.fluxcd.io;image.toolkit.fluxcd.io;source.extensions.fluxcd.io,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=list
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Config is what the UI needs beyond the common options.
type Config struct {
	// Namespace is the runtime namespace.
	Namespace string
	// Addr is where the pages are served, e.g. :9080.
	Addr string
	// Auth turns on sign-in, per-user visibility and the actions.
	Auth bool
	// PageSize is the number of rows of a resources page.
	PageSize int
	// Resync is how often the UI looks for Flux kinds the report lists that
	// it does not watch yet, besides every time the report changes.
	Resync time.Duration
}

// ConfigureManager scopes and slims the manager's cache for the UI: the
// FluxInstance and the FluxReport only in the runtime namespace, Flux objects
// as compact fluxobj.Objects.
func ConfigureManager(namespace string, mo *ctrl.Options) {
	mo.Cache.DefaultTransform = NewTransform()
	mo.Cache.ByObject = map[client.Object]cache.ByObject{
		&apiv1.FluxInstance{}: {Namespaces: map[string]cache.Config{namespace: {}}},
		&apiv1.FluxReport{}:   {Namespaces: map[string]cache.Config{namespace: {}}},
	}
	mo.NewCache = NewCache
}

// Setup adds the UI's server to mgr, and a runnable that keeps the
// informers of every Flux kind the report lists running, so pages and their
// live updates never wait for a first list.
func Setup(mgr ctrl.Manager, cfg Config) (*Server, error) {
	if cfg.Namespace == "" {
		return nil, errors.New("the runtime namespace must be set")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 10 * time.Second
	}
	log := mgr.GetLogger().WithName("web")
	lister := &fluxobj.KindLister{Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(), Component: Component}
	cat := &Catalog{Reader: mgr.GetCache(), Kinds: lister, Mapper: mgr.GetRESTMapper(), Namespace: cfg.Namespace}
	s := &Server{Catalog: cat, Live: &LiveReader{Kinds: lister, APIReader: mgr.GetAPIReader()}, PageSize: cfg.PageSize, Log: log}
	if cfg.Auth {
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return nil, err
		}
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		s.Auth = &Auth{Reviewer: bootstrap.NewReviewer(cs, log.WithName("auth")), Config: mgr.GetConfig(), Secret: secret}
	}
	h, err := s.Handler()
	if err != nil {
		return nil, fmt.Errorf("failed to load the pages: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on --web-addr %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if err := mgr.Add(&manager.Server{Name: "web", Server: srv, Listener: ln}); err != nil {
		return nil, err
	}
	var warm atomic.Bool
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := cat.Watch(ctx, mgr.GetCache(), &apiv1.FluxReport{}, &apiv1.FluxInstance{}); err != nil {
			return fmt.Errorf("failed to watch the report and the instance: %w", err)
		}
		log.Info("serving the web UI", "addr", ln.Addr().String(), "auth", cfg.Auth)
		for {
			if err := cat.Warm(ctx); err != nil {
				log.Info("cannot read every Flux kind yet", "error", err.Error())
			}
			warm.Store(true)
			// Again when the report changes (a kind may come or go), and
			// every Resync in any case.
			select {
			case <-ctx.Done():
				return nil
			case <-cat.Reported():
			case <-time.After(cfg.Resync):
			}
		}
	})); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("caches", func(*http.Request) error {
		if !warm.Load() {
			return errors.New("waiting for the first read of the Flux kinds")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Warm starts the informers of the kinds the report lists and stops those
// of kinds it no longer lists.
func (c *Catalog) Warm(ctx context.Context) error {
	kinds, err := c.FluxKinds(ctx)
	gvks := make([]schema.GroupVersionKind, 0, len(kinds))
	for _, k := range kinds {
		if !isInstance(k.GVK) {
			gvks = append(gvks, k.GVK)
		}
	}
	errs := []error{err, c.Kinds.Retain(ctx, gvks)}
	c.Kinds.Start(ctx, gvks)
	_, failed := c.Objects(ctx, kinds)
	for _, f := range failed {
		errs = append(errs, fmt.Errorf("%s: %w", f.Kind, f.Err))
	}
	if len(gvks) > 0 && len(failed) == 0 {
		// Every kind's first list is in: what decoding it left behind
		// goes back to the system now, not when the scavenger gets to it.
		fluxobj.ReleaseInitialList()
	}
	return errors.Join(errs...)
}
