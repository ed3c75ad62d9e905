package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

func obj(spec, status map[string]any) unstructured.Unstructured {
	return unstructured.Unstructured{Object: map[string]any{"spec": spec, "status": status}}
}

func ready(status, reason string) map[string]any {
	return map[string]any{"conditions": []any{
		map[string]any{"type": "Reconciling", "status": "True"},
		map[string]any{"type": "Ready", "status": status, "reason": reason},
	}}
}

func TestStats(t *testing.T) {
	got := stats([]unstructured.Unstructured{
		obj(map[string]any{}, ready("True", "Succeeded")),
		obj(map[string]any{}, ready("False", "BuildFailed")),
		obj(map[string]any{}, ready("False", DependencyNotReadyReason)),
		obj(map[string]any{"suspend": true}, ready("False", "BuildFailed")),
		obj(map[string]any{}, map[string]any{}), // never reconciled: Unknown, not failing
		obj(map[string]any{}, map[string]any{"artifact": map[string]any{"size": int64(1536)}}),
		obj(map[string]any{}, map[string]any{"artifact": map[string]any{"size": float64(512)}}),
		// A suspended object's artifact is still stored, so it counts in the size.
		obj(map[string]any{"suspend": true}, map[string]any{"artifact": map[string]any{"size": int64(1024)}}),
	})
	want := apiv1.FluxReconcilerStats{Running: 6, Failing: 1, Suspended: 2, TotalSize: "3.0 KiB"}
	if got != want {
		t.Errorf("stats() = %+v, want %+v", got, want)
	}
	if got := stats(nil); got != (apiv1.FluxReconcilerStats{}) {
		t.Errorf("stats(nil) = %+v, want zeros without a size", got)
	}
}

func TestDistributionManagedBy(t *testing.T) {
	crd := func(labels map[string]string) []fluxKind {
		return []fluxKind{{crd: &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: DistributionCRD, Labels: labels}}}}
	}
	cases := []struct {
		name   string
		kinds  []fluxKind
		status string
		by     string
	}{
		{"no GitRepository CRD means Flux is not installed", nil, apiv1.DistributionNotInstalled, ""},
		{"managed-by wins over the bootstrap label", crd(map[string]string{apiv1.ManagedByLabel: "Helm", BootstrapLabel: "flux-system"}), apiv1.DistributionInstalled, "Helm"},
		{"the bootstrap label alone means flux bootstrap", crd(map[string]string{BootstrapLabel: "flux-system"}), apiv1.DistributionInstalled, BootstrapTool},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := distribution(tc.kinds)
			if d.Status != tc.status || d.ManagedBy != tc.by || d.Entitlement != apiv1.DistributionUnknown {
				t.Errorf("distribution() = %+v", d)
			}
		})
	}
}

func TestTransformKeepsOnlyWhatTheReportReads(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"name": "a", "namespace": "b", "uid": "u", "resourceVersion": "7", "labels": map[string]any{"x": "y"},
			"annotations": map[string]any{"big": "value"}, "managedFields": []any{map[string]any{"manager": "m"}}},
		"spec": map[string]any{"url": "https://x", "suspend": true, "secretRef": map[string]any{"name": "s"}, "ignore": []any{"a"}},
		"status": map[string]any{
			"conditions": []any{map[string]any{"type": "Reconciling"}, map[string]any{"type": "Ready", "status": "True"}},
			"artifact":   map[string]any{"size": int64(3), "url": "http://x", "metadata": map[string]any{"k": "v"}},
			"history":    []any{"h"},
		},
	}}
	out, err := Transform(u)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := out.(*fluxobj.Object)
	if !ok {
		t.Fatalf("the transform made a %T, want a *fluxobj.Object", out)
	}
	o := c.Unstructured()
	if o.GetAnnotations() != nil || o.GetLabels() != nil || o.GetManagedFields() != nil || o.GetName() != "a" || o.GetNamespace() != "b" {
		t.Errorf("metadata not pruned to identity: %v", o.Object["metadata"])
	}
	if _, ok := o.Object["spec"].(map[string]any)["secretRef"]; ok {
		t.Errorf("spec.secretRef kept: %v", o.Object["spec"])
	}
	if conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions"); len(conds) != 1 {
		t.Errorf("want only the Ready condition, got %v", conds)
	}
	if art, _, _ := unstructured.NestedMap(o.Object, "status", "artifact"); len(art) != 1 {
		t.Errorf("want only the artifact size, got %v", art)
	}
	if _, ok := o.Object["status"].(map[string]any)["history"]; ok {
		t.Errorf("status.history kept")
	}
	if stats([]unstructured.Unstructured{*o}).Suspended != 1 || StatsOf([]*fluxobj.Object{c}).Suspended != 1 {
		t.Errorf("a transformed object must still count as suspended")
	}
	if got := StatsOf([]*fluxobj.Object{c}).TotalSize; got != "3 B" {
		t.Errorf("the artifact size is lost: %q", got)
	}
	if c.UID != "" || c.ResourceVersion != "" {
		t.Errorf("the UID %q and resource version %q are kept; the report reads neither", c.UID, c.ResourceVersion)
	}
	// An Object decoded straight from the API server's JSON loses them too.
	direct := &fluxobj.Object{}
	direct.Name, direct.UID, direct.ResourceVersion = "a", "u", "7"
	out, err = Transform(direct)
	if err != nil {
		t.Fatal(err)
	}
	if d := out.(*fluxobj.Object); d.UID != "" || d.ResourceVersion != "" || d.Name != "a" {
		t.Errorf("a decoded Object keeps UID %q, resource version %q, name %q", d.UID, d.ResourceVersion, d.Name)
	}
}

func TestSourceURL(t *testing.T) {
	bucket := map[string]any{"spec": map[string]any{"endpoint": "minio.example.com/", "bucketName": "fleet"}}
	if got := sourceURL("Bucket", bucket); got != "minio.example.com/fleet" {
		t.Errorf("Bucket source = %q", got)
	}
	secret := map[string]any{"spec": map[string]any{"endpoint": "https://key:s3cret@minio.example.com", "bucketName": "fleet"}}
	if got := sourceURL("Bucket", secret); got != "https://minio.example.com/fleet" {
		t.Errorf("Bucket source with credentials in the endpoint = %q", got)
	}
	git := map[string]any{"spec": map[string]any{"url": "ssh://git:pw@example.com/fleet"}}
	if got := sourceURL("GitRepository", git); got != "ssh://git@example.com/fleet" {
		t.Errorf("GitRepository source = %q", got)
	}
}

func TestHumanSizePrintsOneDecimalAsTheFluxOperator(t *testing.T) {
	for n, want := range map[int64]string{
		0:               "0 B",
		1023:            "1023 B",
		1024:            "1.0 KiB",
		936346:          "914.4 KiB",
		5 * 1024 * 1024: "5.0 MiB",
		1288490189:      "1.2 GiB",
		3 << 60:         "3.0 EiB",
		-5:              "0 B",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSortReconcilersByAPIVersionThenKind(t *testing.T) {
	rs := []apiv1.FluxReconcilerStatus{
		{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository"},
		{APIVersion: "fluxcd.controlplane.io/v1", Kind: "FluxInstance"},
		{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "Bucket"},
		{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease"},
		{APIVersion: "image.toolkit.fluxcd.io/v1beta2", Kind: "ImagePolicy"},
		{APIVersion: "image.toolkit.fluxcd.io/v1", Kind: "ImageUpdateAutomation"},
	}
	sortReconcilers(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.APIVersion+" "+r.Kind)
	}
	want := []string{
		"fluxcd.controlplane.io/v1 FluxInstance",
		"helm.toolkit.fluxcd.io/v2 HelmRelease",
		"image.toolkit.fluxcd.io/v1 ImageUpdateAutomation",
		"image.toolkit.fluxcd.io/v1beta2 ImagePolicy",
		"source.toolkit.fluxcd.io/v1 Bucket",
		"source.toolkit.fluxcd.io/v1 GitRepository",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPartErrorsKeepTheirReasonAndPart(t *testing.T) {
	res := &Result{}
	gr := schema.GroupResource{Group: "helm.toolkit.fluxcd.io", Resource: "helmreleases"}
	res.fail(fmt.Errorf("forbidden: the RBAC does not allow list/watch: %w", apierrors.NewForbidden(gr, "", errors.New("no"))),
		"list HelmRelease (helm.toolkit.fluxcd.io/v2)")
	res.fail(&meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "source.toolkit.fluxcd.io", Kind: "Bucket"}},
		"list Bucket (source.toolkit.fluxcd.io/v1)")
	res.fail(context.DeadlineExceeded, "list Nodes")
	res.fail(errors.New("boom"), "get the server version")
	if got, want := strings.Join(res.Failures(), "; "),
		"get the server version (Failed); list Bucket (source.toolkit.fluxcd.io/v1) (NotServed); "+
			"list HelmRelease (helm.toolkit.fluxcd.io/v2) (Forbidden); list Nodes (Timeout)"; got != want {
		t.Errorf("Failures() = %q, want %q", got, want)
	}
	var pe *PartError
	if !errors.As(res.Errors[0], &pe) || !apierrors.IsForbidden(pe) {
		t.Errorf("the cause must stay reachable: %v", res.Errors[0])
	}
	if msg := res.Err().Error(); !strings.HasPrefix(msg, "failed to get the server version: boom; failed to list Bucket") {
		t.Errorf("Err() = %q", msg)
	}
}

// stats counts objects decoded from the API as the reporter counts the
// compacted ones it reads from its informers.
func stats(items []unstructured.Unstructured) apiv1.FluxReconcilerStats {
	objs := make([]*fluxobj.Object, len(items))
	for i := range items {
		objs[i] = compactor.Compact(items[i].Object)
	}
	return StatsOf(objs)
}
