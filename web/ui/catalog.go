package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// Kind is a Flux kind the UI shows: its stored version, as the report lists
// it, and its resource name for RBAC checks and API reads.
type Kind struct {
	GVK      schema.GroupVersionKind
	Resource string
}

// Catalog reads what the pages show from the manager's cache: the
// FluxReport and the FluxInstance (typed), and the Flux objects of every
// kind the report lists (compact Objects). It also counts changes, so that
// open pages know when to refresh.
type Catalog struct {
	// Reader is the manager's cache.
	Reader client.Reader
	// Kinds reads the Flux kinds from the cache.
	Kinds *fluxobj.KindLister
	// Mapper maps kinds to resources.
	Mapper meta.RESTMapper
	// Namespace is the runtime namespace, where the report and the instance live.
	Namespace string

	mu       sync.Mutex
	resource map[schema.GroupVersionKind]string
	changes  atomic.Uint64

	// reported is signalled when the report changes: the kinds it lists
	// may have changed.
	reported chan struct{}

	// snapshots are what Objects returned since the last change, by the
	// kinds asked for: while nothing changes, a page lists no cache again.
	snapMu    sync.Mutex
	snapAt    uint64
	snapshots map[string]snapshot
}

type snapshot struct {
	objs   []*fluxobj.Object
	failed []KindError
}

// Changed counts a change the Flux objects' informers do not see (the
// report, the instance).
func (c *Catalog) Changed() { c.changes.Add(1) }

// Version moves every time what the pages show may have changed.
func (c *Catalog) Version() uint64 { return c.changes.Load() + c.Kinds.Changes() }

// Reported is signalled (without blocking) every time the report changes.
func (c *Catalog) Reported() <-chan struct{} { return c.reportedChan() }

func (c *Catalog) reportedChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported == nil {
		c.reported = make(chan struct{}, 1)
	}
	return c.reported
}

// Watch makes the informers of typed objects the pages show (the report, the
// instance) count their events in Version; a change of the report is also
// signalled on Reported.
func (c *Catalog) Watch(ctx context.Context, ca cache.Cache, objs ...client.Object) error {
	reported := c.reportedChan()
	for _, obj := range objs {
		inf, err := ca.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		_, isReport := obj.(*apiv1.FluxReport)
		changed := func() {
			c.Changed()
			if isReport {
				select {
				case reported <- struct{}{}:
				default:
				}
			}
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { changed() },
			UpdateFunc: func(any, any) { changed() },
			DeleteFunc: func(any) { changed() },
		}); err != nil {
			return err
		}
	}
	return nil
}

// Report returns the FluxReport, or nil when there is none yet.
func (c *Catalog) Report(ctx context.Context) (*apiv1.FluxReport, error) {
	r := &apiv1.FluxReport{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: apiv1.DefaultName}, r); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return r, nil
}

// Instance returns the FluxInstance, or nil when there is none.
func (c *Catalog) Instance(ctx context.Context) (*apiv1.FluxInstance, error) {
	fi := &apiv1.FluxInstance{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: apiv1.DefaultName}, fi); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return fi, nil
}

// FluxKinds returns the kinds the report lists, in its order, the
// report's own kind left out. Without a report there are none: the UI
// learns the Flux kinds from the reporter, so it needs no access to CRDs.
func (c *Catalog) FluxKinds(ctx context.Context) ([]Kind, error) {
	r, err := c.Report(ctx)
	if err != nil || r == nil {
		return nil, err
	}
	kinds := make([]Kind, 0, len(r.Spec.ReconcilersStatus))
	var errs []error
	for _, rs := range r.Spec.ReconcilersStatus {
		gv, err := schema.ParseGroupVersion(rs.APIVersion)
		if err != nil || rs.Kind == "FluxReport" {
			continue
		}
		gvk := gv.WithKind(rs.Kind)
		res, err := c.resourceOf(gvk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		kinds = append(kinds, Kind{GVK: gvk, Resource: res})
	}
	return kinds, errors.Join(errs...)
}

func (c *Catalog) resourceOf(gvk schema.GroupVersionKind) (string, error) {
	c.mu.Lock()
	res, ok := c.resource[gvk]
	c.mu.Unlock()
	if ok {
		return res, nil
	}
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return "", fmt.Errorf("the API server does not serve %s %s: %w", gvk.Kind, gvk.GroupVersion(), err)
	}
	c.mu.Lock()
	if c.resource == nil {
		c.resource = map[schema.GroupVersionKind]string{}
	}
	c.resource[gvk] = m.Resource.Resource
	c.mu.Unlock()
	return m.Resource.Resource, nil
}

// KindNamed returns the kind of that name among kinds.
func KindNamed(kinds []Kind, name string) (Kind, bool) {
	for _, k := range kinds {
		if k.GVK.Kind == name {
			return k, true
		}
	}
	return Kind{}, false
}

// KindError is a kind whose objects could not be read, and why.
type KindError struct {
	Kind string
	Err  error
}

// Objects returns the cached objects of kinds, and the kinds that could not
// be read. The objects are the cache's own, and the slice is shared with
// other requests until something changes: callers only read them.
func (c *Catalog) Objects(ctx context.Context, kinds []Kind) ([]*fluxobj.Object, []KindError) {
	// The version is read before the caches: a change that lands while
	// they are read moves it, and the next call reads them again.
	version := c.Version()
	var key strings.Builder
	for _, k := range kinds {
		key.WriteString(k.GVK.String())
		key.WriteByte(';')
	}
	c.snapMu.Lock()
	if c.snapAt != version || c.snapshots == nil {
		c.snapAt, c.snapshots = version, map[string]snapshot{}
	}
	snap, ok := c.snapshots[key.String()]
	c.snapMu.Unlock()
	if ok {
		return snap.objs, snap.failed
	}
	objs, failed := c.read(ctx, kinds)
	if len(failed) == 0 {
		c.snapMu.Lock()
		if c.snapAt == version && len(c.snapshots) < 64 {
			c.snapshots[key.String()] = snapshot{objs: objs, failed: failed}
		}
		c.snapMu.Unlock()
	}
	return objs, failed
}

// read lists the cached objects of kinds.
func (c *Catalog) read(ctx context.Context, kinds []Kind) ([]*fluxobj.Object, []KindError) {
	var out []*fluxobj.Object
	var failed []KindError
	for _, k := range kinds {
		if isInstance(k.GVK) {
			if o, err := c.instanceObject(ctx); err != nil {
				failed = append(failed, KindError{Kind: k.GVK.Kind, Err: err})
			} else if o != nil {
				out = append(out, o)
			}
			continue
		}
		objs, err := c.Kinds.Objects(ctx, k.GVK, "")
		if err != nil {
			failed = append(failed, KindError{Kind: k.GVK.Kind, Err: err})
			continue
		}
		out = append(out, objs...)
	}
	return out, failed
}

// isInstance tells the FluxInstance kind, which the cache holds typed (and
// in the runtime namespace only), not as compact Objects.
func isInstance(gvk schema.GroupVersionKind) bool {
	return gvk.Group == apiv1.GroupVersion.Group && gvk.Kind == "FluxInstance"
}

// instanceObject is the FluxInstance as a compact Object, suspended when
// its reconcile annotation says disabled; nil when there is none.
func (c *Catalog) instanceObject(ctx context.Context) (*fluxobj.Object, error) {
	fi, err := c.Instance(ctx)
	if err != nil || fi == nil {
		return nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fi)
	if err != nil {
		return nil, err
	}
	m["apiVersion"], m["kind"] = apiv1.GroupVersion.String(), "FluxInstance"
	o := compactor.Compact(m)
	o.Suspended = fi.Annotations[apiv1.ReconcileAnnotation] == apiv1.DisabledValue
	return o, nil
}
