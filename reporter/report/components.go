package report

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// components reports every Deployment labelled part-of=flux in the namespace,
// sorted by name, with its kstatus.
func (c *Computer) components(ctx context.Context, res *Result) []apiv1.FluxComponentStatus {
	var list appsv1.DeploymentList
	if err := c.list(ctx, &list, client.InNamespace(c.Namespace), client.MatchingLabels{apiv1.PartOfLabel: PartOfFlux}); err != nil {
		res.fail(err, "list Deployments in %s", c.Namespace)
		return nil
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := make([]apiv1.FluxComponentStatus, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, Component(&list.Items[i]))
	}
	return out
}

// Component describes one controller Deployment: the image of its first
// container, and whether kstatus finds it Current, with kstatus's message.
func Component(d *appsv1.Deployment) apiv1.FluxComponentStatus {
	cs := apiv1.FluxComponentStatus{Name: d.Name}
	if len(d.Spec.Template.Spec.Containers) > 0 {
		cs.Image = d.Spec.Template.Spec.Containers[0].Image
	}
	obj := d.DeepCopy()
	obj.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		cs.Status = fmt.Sprintf("Unknown failed to read Deployment: %v", err)
		return cs
	}
	r, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		cs.Status = fmt.Sprintf("Unknown failed to compute status: %v", err)
		return cs
	}
	cs.Ready = r.Status == status.CurrentStatus
	cs.Status = strings.TrimSpace(fmt.Sprintf("%s %s", r.Status, r.Message))
	return cs
}

// humanSize formats a byte count as the Flux Operator does: bytes below
// 1 KiB as "512 B", larger counts with binary units and one decimal
// ("914.4 KiB", "1.2 GiB").
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", max(n, 0))
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
