package fluxobj

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// store returns the informer store of a Flux kind, started and synced (the
// wait is bounded by ctx).
func store(ctx context.Context, c cache.Cache, gvk schema.GroupVersionKind) (toolscache.Indexer, error) {
	sii, err := informer(ctx, c, gvk)
	if err != nil {
		return nil, err
	}
	return sii.GetIndexer(), nil
}

// informer returns the informer of a Flux kind, started and, unless opts
// say otherwise, synced.
func informer(ctx context.Context, c cache.Cache, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (toolscache.SharedIndexInformer, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	inf, err := getInformer(ctx, c, u, opts...)
	if err != nil {
		return nil, err
	}
	sii, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the %s informer is a %T, not a client-go shared index informer", gvk.Kind, inf)
	}
	return sii, nil
}

// getInformer is c.GetInformer, whose wait for the informer to sync (unless
// opts say not to wait) ends when the informer syncs: controller-runtime's
// polls every 100 ms, which a first report, reading kind after kind through
// informers made on first use, paid for each.
func getInformer(ctx context.Context, c cache.Cache, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	var o cache.InformerGetOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.BlockUntilSynced != nil && !*o.BlockUntilSynced {
		return c.GetInformer(ctx, obj, opts...)
	}
	inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	if sc, ok := inf.(interface{ HasSyncedChecker() toolscache.DoneChecker }); ok {
		select {
		case <-sc.HasSyncedChecker().Done():
		case <-ctx.Done():
		}
	}
	// Synced, it returns at once; otherwise it fails as it would have.
	return c.GetInformer(ctx, obj, opts...)
}

// listObjects returns the cached Objects of a kind, in namespace when it is
// not empty.
func listObjects(ctx context.Context, c cache.Cache, gvk schema.GroupVersionKind, namespace string) ([]*Object, error) {
	idx, err := store(ctx, c, gvk)
	if err != nil {
		return nil, err
	}
	var items []any
	if namespace != "" {
		if items, err = idx.ByIndex(toolscache.NamespaceIndex, namespace); err != nil {
			return nil, err
		}
	} else {
		items = idx.List()
	}
	out := make([]*Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(*Object)
		if !ok {
			return nil, fmt.Errorf("the %s cache holds %T: the cache transform is not a fluxobj.Compactor", gvk.Kind, it)
		}
		out = append(out, o)
	}
	return out, nil
}

// getObject returns one cached Object, or a NotFound error.
func getObject(ctx context.Context, c cache.Cache, gvk schema.GroupVersionKind, key client.ObjectKey) (*Object, error) {
	idx, err := store(ctx, c, gvk)
	if err != nil {
		return nil, err
	}
	k := key.Name
	if key.Namespace != "" {
		k = key.Namespace + "/" + key.Name
	}
	it, ok, err := idx.GetByKey(k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(gvk, key)
	}
	o, ok := it.(*Object)
	if !ok {
		return nil, fmt.Errorf("the %s cache holds %T: the cache transform is not a fluxobj.Compactor", gvk.Kind, it)
	}
	return o, nil
}

// CompactCache is a cache whose Flux kinds hold Objects (the transform is a
// Compactor's). Reads of Flux kinds as unstructured objects, which the
// controller-runtime cache cannot serve from Objects, get each Object as
// Object.Unstructured returns it; everything else goes to the cache.
type CompactCache struct {
	cache.Cache
	// Scheme tells the kinds of typed lists, whose informers a List waits
	// for without polling; without it, those waits poll.
	Scheme *runtime.Scheme
}

// GetInformer implements cache.Informers; its wait for the informer to
// sync ends when the informer syncs, without polling.
func (c *CompactCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	return getInformer(ctx, c.Cache, obj, opts...)
}

// synced waits, without polling, for the informer of obj, made if need be,
// to sync; the read that follows then finds it synced. An error is left to
// that read to report.
func (c *CompactCache) synced(ctx context.Context, obj client.Object) {
	_, _ = getInformer(ctx, c.Cache, obj)
}

// itemOf returns an empty object of the kind of the items of list, to get
// their informer; nil when that cannot be told.
func (c *CompactCache) itemOf(list client.ObjectList) client.Object {
	if c.Scheme == nil {
		return nil
	}
	gvk, err := apiutil.GVKForObject(list, c.Scheme)
	if err != nil {
		return nil
	}
	gvk.Kind = trimList(gvk.Kind)
	if _, ok := list.(*metav1.PartialObjectMetadataList); ok {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gvk)
		return m
	}
	obj, err := c.Scheme.New(gvk)
	if err != nil {
		return nil
	}
	co, _ := obj.(client.Object)
	return co
}

// Get implements client.Reader.
func (c *CompactCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		c.synced(ctx, obj)
		return c.Cache.Get(ctx, key, obj, opts...)
	}
	o, err := getObject(ctx, c.Cache, u.GroupVersionKind(), key)
	if err != nil {
		return err
	}
	u.Object = o.Unstructured().Object
	return nil
}

// List implements client.Reader. Only the namespace option applies to Flux
// kinds: their labels are pruned, so a label selector is refused.
func (c *CompactCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	ul, ok := list.(*unstructured.UnstructuredList)
	if !ok {
		if item := c.itemOf(list); item != nil {
			c.synced(ctx, item)
		}
		return c.Cache.List(ctx, list, opts...)
	}
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	if lo.LabelSelector != nil && !lo.LabelSelector.Empty() || lo.FieldSelector != nil && !lo.FieldSelector.Empty() {
		return fmt.Errorf("the cache of Flux kinds keeps no labels to select on: list %s without a selector", ul.GetKind())
	}
	gvk := ul.GroupVersionKind()
	gvk.Kind = trimList(gvk.Kind)
	objs, err := listObjects(ctx, c.Cache, gvk, lo.Namespace)
	if err != nil {
		return err
	}
	items := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		items = append(items, o.Unstructured())
	}
	return meta.SetList(ul, items)
}

func trimList(kind string) string {
	if len(kind) > 4 && kind[len(kind)-4:] == "List" {
		return kind[:len(kind)-4]
	}
	return kind
}

func notFound(gvk schema.GroupVersionKind, key client.ObjectKey) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, key.Name)
}

// NewCompactCache is a manager's NewCache for binaries whose cache
// transform is a Compactor's: a controller-runtime cache under a
// CompactCache.
func NewCompactCache(config *rest.Config, opts cache.Options) (cache.Cache, error) {
	c, err := cache.New(config, opts)
	if err != nil {
		return nil, err
	}
	return &CompactCache{Cache: c, Scheme: opts.Scheme}, nil
}
