package controller

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// Config is what the installer needs beyond the common options.
type Config struct {
	Namespace       string
	Distribution    fs.FS
	ArtifactOptions distribution.ArtifactOptions
	// ArtifactTick is how often the artifact watcher looks at the instance
	// (30s when zero); the annotation reconcileArtifactEvery sets how often it
	// checks the registry.
	ArtifactTick time.Duration
	// Notifications say where events are forwarded.
	Notifications NotificationOptions
}

// ConfigureCache caches only the FluxInstance of the runtime namespace: the
// objects Flux is made of are read and applied without a cache, so the
// installer holds no copy of them.
func ConfigureCache(namespace string, mo *ctrl.Options) {
	mo.Cache.ByObject = map[client.Object]cache.ByObject{
		&apiv1.FluxInstance{}: {Namespaces: map[string]cache.Config{namespace: {}}},
	}
}

// Setup adds the FluxInstance reconciler to mgr.
func Setup(mgr ctrl.Manager, cfg Config) (*FluxInstanceReconciler, error) {
	embedded := cfg.Distribution == nil
	if embedded {
		cfg.Distribution = distribution.Embedded()
	}
	// Uncached: Get and Apply of every kind Flux is made of must not start
	// an informer per kind.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("failed to create the apply client: %w", err)
	}
	poller := polling.NewStatusPoller(direct, mgr.GetRESTMapper(), polling.Options{})
	r := &FluxInstanceReconciler{
		Client:          mgr.GetClient(),
		Manager:         ssa.NewResourceManager(direct, poller, builder.Owner()),
		Namespace:       cfg.Namespace,
		Distribution:    cfg.Distribution,
		ArtifactOptions: cfg.ArtifactOptions,
		Notifier: NewNotifier(mgr.GetEventRecorder(FieldManager), mgr.GetScheme(), cfg.Notifications,
			mgr.GetLogger().WithName("notifier")),
		secrets:  mgr.GetAPIReader(),
		embedded: embedded,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.Add(r.Notifier); err != nil {
		return nil, err
	}
	tick := cfg.ArtifactTick
	return r, mgr.Add(&ArtifactWatcher{Client: mgr.GetClient(), Namespace: cfg.Namespace, Options: cfg.ArtifactOptions,
		secrets: mgr.GetAPIReader(), Tick: tick})
}
