package report

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// pruner keeps of every Flux object the fields the report reads: suspension,
// the sync fields (path, source, URL) and the artifact size, besides the
// identity and the whole Ready condition (the sync status quotes its message).
var pruner = &fluxobj.Pruner{Paths: [][]string{
	{"spec", "suspend"},
	{"spec", "path"},
	{"spec", "sourceRef"},
	{"spec", "url"},
	{"spec", "endpoint"},
	{"spec", "bucketName"},
	{"status", "artifact", "size"},
}}

// Transform is a cache transform that drops from every cached object what the
// report never reads: managed fields always; the schemas of CRDs; and of Flux
// objects everything the pruner does not keep. With 12,000 Flux objects this
// keeps the cache to a few MiB.
func Transform(in any) (any, error) {
	if out, ok := pruner.Transform(in); ok {
		return out, nil
	}
	switch obj := in.(type) {
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
