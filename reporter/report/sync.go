package report

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

const (
	kustomizeGroup = "kustomize.toolkit.fluxcd.io"
	sourceGroup    = "source.toolkit.fluxcd.io"
)

// syncName returns the name of the cluster-sync Kustomization: the report's
// `fluxcd.controlplane.io/syncName` annotation, else the flag, else the
// FluxInstance's spec.sync.name, else the namespace name. A FluxInstance that
// cannot be read is a failed part of the report, and the namespace name is
// used.
func (c *Computer) syncName(ctx context.Context, report *apiv1.FluxReport, res *Result) string {
	if report != nil {
		if n := report.GetAnnotations()[apiv1.SyncNameAnnotation]; n != "" {
			return n
		}
	}
	if c.SyncName != "" {
		return c.SyncName
	}
	var fi apiv1.FluxInstance
	key := client.ObjectKey{Namespace: c.Namespace, Name: apiv1.DefaultName}
	switch err := c.get(ctx, key, &fi); {
	case apierrors.IsNotFound(err):
	case err != nil:
		res.fail(err, "get FluxInstance %s/%s for its spec.sync.name", key.Namespace, key.Name)
	case fi.Spec.Sync != nil && fi.Spec.Sync.Name != "":
		return fi.Spec.Sync.Name
	}
	return c.Namespace
}

func findKind(kinds []fluxKind, group, kind string) (schema.GroupVersionKind, bool) {
	for _, k := range kinds {
		if k.gvk.Group == group && k.gvk.Kind == kind {
			return k.gvk, true
		}
	}
	return schema.GroupVersionKind{}, false
}

// sync reports the cluster-sync Kustomization and its source; nil when there
// is no such Kustomization.
func (c *Computer) sync(ctx context.Context, kinds []fluxKind, report *apiv1.FluxReport, res *Result) *apiv1.FluxSyncStatus {
	ksGVK, ok := findKind(kinds, kustomizeGroup, "Kustomization")
	if !ok {
		return nil
	}
	name := c.syncName(ctx, report, res)
	ks, err := c.getFlux(ctx, ksGVK, client.ObjectKey{Namespace: c.Namespace, Name: name})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		res.fail(err, "get the sync Kustomization %s/%s", c.Namespace, name)
		return nil
	}
	s := &apiv1.FluxSyncStatus{ID: "kustomization/" + name}
	s.Path, _, _ = unstructured.NestedString(ks.Object, "spec", "path")
	st, _, msg := fluxobj.ReadyOf(ks.Object)
	s.Ready = st == string(metav1.ConditionTrue)
	s.Status = msg
	if s.Status == "" {
		s.Status = "Ready condition " + st
	}

	srcKind, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "kind")
	srcName, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "name")
	srcNS, _, _ := unstructured.NestedString(ks.Object, "spec", "sourceRef", "namespace")
	if srcNS == "" {
		srcNS = c.Namespace
	}
	if srcGVK, ok := findKind(kinds, sourceGroup, srcKind); ok && srcName != "" {
		src, err := c.getFlux(ctx, srcGVK, client.ObjectKey{Namespace: srcNS, Name: srcName})
		switch {
		case apierrors.IsNotFound(err):
			s.Ready = false
			s.Status = appendStatus(s.Status, fmt.Sprintf("%s %s/%s not found", srcKind, srcNS, srcName))
		case err != nil:
			res.fail(err, "get the sync source %s %s/%s", srcKind, srcNS, srcName)
		default:
			s.Source = sourceURL(srcKind, src.Object)
			if st, _, msg := fluxobj.ReadyOf(src.Object); st == string(metav1.ConditionFalse) {
				s.Ready = false
				s.Status = appendStatus(s.Status, msg)
			}
		}
	}
	if suspended, _, _ := unstructured.NestedBool(ks.Object, "spec", "suspend"); suspended {
		s.Status = "Suspended " + s.Status
	}
	return s
}

func appendStatus(status, more string) string {
	more = strings.TrimSpace(more)
	switch {
	case more == "" || strings.Contains(status, more):
		return status
	case status == "":
		return more
	}
	return status + "; " + more
}

// sourceURL is the source's spec.url, or endpoint/bucketName for a Bucket.
func sourceURL(kind string, obj map[string]any) string {
	if kind == "Bucket" {
		endpoint, _, _ := unstructured.NestedString(obj, "spec", "endpoint")
		bucket, _, _ := unstructured.NestedString(obj, "spec", "bucketName")
		return fluxobj.SafeURL(strings.TrimSuffix(endpoint, "/") + "/" + bucket)
	}
	url, _, _ := unstructured.NestedString(obj, "spec", "url")
	return fluxobj.SafeURL(url)
}

// getFlux reads one Flux object from the API server: the cache keeps only
// what the counts need.
func (c *Computer) getFlux(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*unstructured.Unstructured, error) {
	return c.kinds().GetLive(ctx, gvk, key)
}
