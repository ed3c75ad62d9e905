package report

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// compactor keeps of every Flux object what the counts read: its identity,
// suspension, Ready status and reason, and artifact size. The sync status,
// which quotes Ready messages and reads paths and URLs, reads its two
// objects from the API server instead.
var compactor = &fluxobj.Compactor{}

// NewCache is the reporter's NewCache: its informers of Flux kinds decode
// straight into the compactor's Objects.
var NewCache = fluxobj.NewCompactCacheFor(compactor)

// Transform is a cache transform that drops from every cached object what the
// report never reads: managed fields always; the schemas of CRDs; and Flux
// objects become compact fluxobj.Objects, a few hundred bytes each, without
// their UID and resource version.
func Transform(in any) (any, error) {
	if out, ok := compactor.Transform(in); ok {
		in = out
	}
	switch obj := in.(type) {
	case *fluxobj.Object:
		// Nothing in the report reads them: ~56 bytes per object, 2.8 MB
		// at 50,000 objects. The informer has read the resource version
		// of the event already.
		obj.UID, obj.ResourceVersion = "", ""
	case *apiextensionsv1.CustomResourceDefinition:
		obj.SetManagedFields(nil)
		obj.Annotations = nil
		for i := range obj.Spec.Versions {
			obj.Spec.Versions[i].Schema = nil
			obj.Spec.Versions[i].AdditionalPrinterColumns = nil
		}
		obj.Spec.Conversion = nil
		obj.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	case metav1.Object:
		obj.SetManagedFields(nil)
	}
	return in, nil
}
