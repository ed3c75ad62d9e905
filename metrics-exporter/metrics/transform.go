package metrics

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// NewCache returns the exporter's NewCache for the allow-list: its informers
// of Flux kinds decode straight into the Objects NewTransform makes.
func NewCache(allow Allowlist) func(*rest.Config, ctrlcache.Options) (ctrlcache.Cache, error) {
	return fluxobj.NewCompactCacheFor(newCompactor(allow))
}

// NewTransform returns the cache transform of the exporter: every Flux
// object becomes a compact fluxobj.Object holding its identity, the
// allow-listed labels, its Ready condition (without the message), whether it
// is suspended or static, and its per-kind label values; managed fields are
// dropped from every other object. With 50,000 Flux objects this keeps the
// cache to a few hundred bytes per object.
func NewTransform(allow Allowlist) cache.TransformFunc {
	c := newCompactor(allow)
	return func(in any) (any, error) {
		if out, ok := c.Transform(in); ok {
			return out, nil
		}
		if obj, ok := in.(metav1.Object); ok {
			obj.SetManagedFields(nil)
		}
		return in, nil
	}
}
