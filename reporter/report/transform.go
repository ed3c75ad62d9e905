package report

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// keptSpecFields are the spec fields of Flux objects the report reads.
var keptSpecFields = []string{"suspend", "path", "sourceRef", "url", "endpoint", "bucketName"}

// Transform is a cache transform that drops from every cached object what the
// report never reads: managed fields always; the schemas of CRDs; and of Flux
// objects everything but their identity, a few spec fields, the Ready
// condition and the artifact size. With 12,000 Flux objects this keeps the
// cache to a few MiB.
func Transform(in any) (any, error) {
	switch obj := in.(type) {
	case *unstructured.Unstructured:
		obj.SetManagedFields(nil)
		pruneFluxObject(obj.Object)
		return obj, nil
	case *apiextensionsv1.CustomResourceDefinition:
		obj.SetManagedFields(nil)
		obj.Annotations = nil
		for i := range obj.Spec.Versions {
			obj.Spec.Versions[i].Schema = nil
			obj.Spec.Versions[i].AdditionalPrinterColumns = nil
		}
		obj.Spec.Conversion = nil
		obj.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
		return obj, nil
	case metav1.Object:
		obj.SetManagedFields(nil)
		return in, nil
	default:
		return in, nil
	}
}

func pruneFluxObject(o map[string]any) {
	if meta, ok := o["metadata"].(map[string]any); ok {
		kept := map[string]any{}
		for _, k := range []string{"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp"} {
			if v, ok := meta[k]; ok {
				kept[k] = v
			}
		}
		o["metadata"] = kept
	}
	if spec, ok := o["spec"].(map[string]any); ok {
		kept := map[string]any{}
		for _, k := range keptSpecFields {
			if v, ok := spec[k]; ok {
				kept[k] = v
			}
		}
		o["spec"] = kept
	}
	if status, ok := o["status"].(map[string]any); ok {
		kept := map[string]any{}
		if conds, ok := status["conditions"].([]any); ok {
			for _, c := range conds {
				if cm, ok := c.(map[string]any); ok && cm["type"] == "Ready" {
					kept["conditions"] = []any{cm}
					break
				}
			}
		}
		if art, ok := status["artifact"].(map[string]any); ok {
			if size, ok := art["size"]; ok {
				kept["artifact"] = map[string]any{"size": size}
			}
		}
		o["status"] = kept
	}
}
