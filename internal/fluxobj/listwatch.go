package fluxobj

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// NewCompactCacheFor is, like NewCompactCache, a manager's NewCache for
// binaries whose cache transform is c's, and its informers of Flux kinds
// (every kind read as unstructured) decode the API server's JSON straight
// into c's Objects with c's Decoder: the initial lists of a large fleet are
// read in a fraction of the CPU and garbage of a decode into unstructured
// maps. c.Paths must name every field c's Static and Extract read.
//
// The cache's own NewInformer, when set, still makes the informers, from the
// direct ListerWatcher. Informers that select by namespace, label or field
// (DefaultNamespaces, DefaultLabelSelector, DefaultFieldSelector, or a
// ByObject entry of an unstructured kind) decode as usual.
func NewCompactCacheFor(c *Compactor) func(*rest.Config, cache.Options) (cache.Cache, error) {
	dec := c.Decoder()
	return func(config *rest.Config, opts cache.Options) (cache.Cache, error) {
		if unselected(opts) {
			var err error
			if opts.HTTPClient == nil {
				if opts.HTTPClient, err = rest.HTTPClientFor(config); err != nil {
					return nil, fmt.Errorf("could not create the HTTP client: %w", err)
				}
			}
			if opts.Mapper == nil {
				if opts.Mapper, err = apiutil.NewDynamicRESTMapper(config, opts.HTTPClient); err != nil {
					return nil, fmt.Errorf("could not create the REST mapper: %w", err)
				}
			}
			f := &directInformers{mapper: opts.Mapper, dec: dec, next: opts.NewInformer}
			if f.next == nil {
				f.next = toolscache.NewSharedIndexInformer
			}
			cfg := dynamic.ConfigFor(config)
			cfg.GroupVersion = nil
			// JSON, which the Decoder reads, even where client-go's CBOR
			// feature gates would ask for CBOR.
			cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
			// Not rate limited, as client-go's own watches are not: one
			// list and one watch per kind at start, again only when a
			// watch ends.
			cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
			if f.client, err = rest.UnversionedRESTClientForConfigAndClient(cfg, opts.HTTPClient); err != nil {
				return nil, fmt.Errorf("could not create the REST client of Flux kinds: %w", err)
			}
			opts.NewInformer = f.newInformer
		}
		return NewCompactCache(config, opts)
	}
}

// unselected tells whether the cache reads unstructured kinds whole: in every
// namespace, without selectors.
func unselected(opts cache.Options) bool {
	if len(opts.DefaultNamespaces) > 0 || opts.DefaultLabelSelector != nil || opts.DefaultFieldSelector != nil {
		return false
	}
	for obj := range opts.ByObject {
		if _, ok := obj.(runtime.Unstructured); ok {
			return false
		}
	}
	return true
}

// directInformers make the informers of Flux kinds whose list and watch
// decode with a Decoder.
type directInformers struct {
	mapper meta.RESTMapper
	client *rest.RESTClient
	dec    *Decoder
	// next makes the informers, from the ListerWatcher and example object
	// given: the cache's NewInformer when it had one (the binaries' wraps
	// the ListerWatcher to follow the API server), else client-go's.
	next func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer
}

// parameterCodec encodes list options as the dynamic client does.
var parameterCodec = func() runtime.ParameterCodec {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, parameterVersion)
	return runtime.NewParameterCodec(s)
}()

var parameterVersion = schema.GroupVersion{Version: "v1"}

// newInformer is a cache's NewInformer: an informer of an unstructured kind
// lists and watches with the Decoder, and holds Objects from the start; any
// other is made as it would have been.
func (f *directInformers) newInformer(lw toolscache.ListerWatcher, example runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	u, ok := example.(*unstructured.Unstructured)
	if !ok {
		return f.next(lw, example, resync, indexers)
	}
	gvk := u.GroupVersionKind()
	mapping, err := f.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		// The cache fails the same mapping right after, with its error.
		return f.next(lw, example, resync, indexers)
	}
	path := []string{"apis", mapping.Resource.Group, mapping.Resource.Version, mapping.Resource.Resource}
	if mapping.Resource.Group == "" {
		path = []string{"api", mapping.Resource.Version, mapping.Resource.Resource}
	}
	direct := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			body, err := f.client.Get().AbsPath(path...).
				SpecificallyVersionedParams(&opts, parameterCodec, parameterVersion).
				Stream(ctx)
			if err != nil {
				return nil, err
			}
			defer func() { _ = body.Close() }()
			// Decoded as it arrives, item by item: the list's JSON is never
			// held whole.
			obj, err := f.dec.next(newStreamDecoder(body))
			if err != nil {
				return nil, fmt.Errorf("failed to decode the %s list: %w", gvk.Kind, err)
			}
			switch obj := obj.(type) {
			case *ObjectList:
				return obj, nil
			case *metav1.Status:
				return nil, apierrors.FromObject(obj)
			}
			return nil, fmt.Errorf("the %s list is a %T", gvk.Kind, obj)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			opts.AllowWatchBookmarks = true
			body, err := f.client.Get().AbsPath(path...).
				SpecificallyVersionedParams(&opts, parameterCodec, parameterVersion).
				Stream(ctx)
			if err != nil {
				return nil, err
			}
			return watch.NewStreamWatcherWithLogger(klog.FromContext(ctx),
				&watchDecoder{body: body, json: newStreamDecoder(body), dec: f.dec},
				apierrors.NewClientErrorReporter(http.StatusInternalServerError, http.MethodGet, "ClientWatchDecoding")), nil
		},
	}
	ex := &Object{}
	ex.APIVersion, ex.Kind = gvk.GroupVersion().String(), gvk.Kind
	return f.next(listThenWatch{direct}, ex, resync, indexers)
}

// listThenWatch is a ListerWatcher whose informer lists, then watches,
// instead of asking for a watch list (client-go's WatchListClient): a watch
// list ends with a bookmark that the API server's watch cache sends on its
// bookmark timer, up to 1.25 s after the last object, where a list from the
// watch cache ends with its last object. The list is decoded as it arrives,
// as a watch list is, so it holds no more memory. (The binaries' bootstrap
// makes every informer list; this makes the Flux kinds' list elsewhere too.)
type listThenWatch struct {
	*toolscache.ListWatch
}

// IsWatchListSemanticsUnSupported tells client-go's reflector to list.
func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

// watchDecoder decodes a watch stream's events with a Decoder, reading the
// stream once.
type watchDecoder struct {
	body io.ReadCloser
	json *jsontext.Decoder
	dec  *Decoder
}

// Decode implements watch.Decoder.
func (w *watchDecoder) Decode() (watch.EventType, runtime.Object, error) {
	if k := w.json.PeekKind(); k != '{' {
		_, err := w.json.ReadToken()
		if err == nil {
			err = fmt.Errorf("a watch event is a JSON object, not %v", k)
		}
		return "", nil, err
	}
	if _, err := w.json.ReadToken(); err != nil {
		return "", nil, err
	}
	var (
		typ string
		obj runtime.Object
	)
	for w.json.PeekKind() != '}' {
		name, err := readName(w.json)
		if err != nil {
			return "", nil, err
		}
		switch name {
		case "type":
			tok, err := w.json.ReadToken()
			if err != nil {
				return "", nil, err
			}
			typ = tok.String()
		case "object":
			if obj, err = w.dec.next(w.json); err != nil {
				return "", nil, fmt.Errorf("unable to decode watch event: %w", err)
			}
		default:
			if err := w.json.SkipValue(); err != nil {
				return "", nil, err
			}
		}
	}
	if _, err := w.json.ReadToken(); err != nil {
		return "", nil, err
	}
	switch watch.EventType(typ) {
	case watch.Added, watch.Modified, watch.Deleted, watch.Error, watch.Bookmark:
	default:
		return "", nil, fmt.Errorf("got invalid watch event type: %q", typ)
	}
	if obj == nil {
		return "", nil, fmt.Errorf("the %s watch event has no object", typ)
	}
	return watch.EventType(typ), obj, nil
}

func newStreamDecoder(r io.Reader) *jsontext.Decoder {
	return jsontext.NewDecoder(r, decodeOptions...)
}

// Close implements watch.Decoder.
func (w *watchDecoder) Close() {
	_ = w.body.Close()
}

var _ client.Object = &Object{}
