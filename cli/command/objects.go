package command

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/restmapper"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// fluxKind is a Flux kind the report lists, with its resource.
type fluxKind struct {
	gvk schema.GroupVersionKind
	gvr schema.GroupVersionResource
}

// report reads the FluxReport; a missing one says what to do.
func (o *options) report(ctx context.Context) (*apiv1.FluxReport, error) {
	cs, err := o.clientset()
	if err != nil {
		return nil, err
	}
	ns := o.operatorNamespace()
	r, err := cs.FluxcdV1().FluxReports(ns).Get(ctx, apiv1.DefaultName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("there is no FluxReport in namespace %s yet: is flux-operator-reporter running there? "+
			"(--operator-namespace picks the operator's namespace)", ns)
	}
	return r, err
}

// instance reads the FluxInstance.
func (o *options) instance(ctx context.Context) (*apiv1.FluxInstance, error) {
	cs, err := o.clientset()
	if err != nil {
		return nil, err
	}
	ns := o.operatorNamespace()
	fi, err := cs.FluxcdV1().FluxInstances(ns).Get(ctx, apiv1.DefaultName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("there is no FluxInstance in namespace %s: Flux is not installed by the operator there "+
			"(--operator-namespace picks the operator's namespace)", ns)
	}
	return fi, err
}

// kinds are the Flux kinds the FluxReport lists and the cluster serves:
// those the commands accept as KIND.
func (o *options) kinds(ctx context.Context) ([]fluxKind, error) {
	r, err := o.report(ctx)
	if err != nil {
		return nil, err
	}
	return o.fluxKinds(r)
}

// fluxKinds are the Flux kinds the report lists (the report's own kind left
// out), mapped to their resources through discovery.
func (o *options) fluxKinds(r *apiv1.FluxReport) ([]fluxKind, error) {
	mapper, err := o.mapper()
	if err != nil {
		return nil, err
	}
	var out []fluxKind
	for _, rs := range r.Spec.ReconcilersStatus {
		gv, err := schema.ParseGroupVersion(rs.APIVersion)
		if err != nil || rs.Kind == "FluxReport" {
			continue
		}
		m, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: rs.Kind}, gv.Version)
		if err != nil {
			continue // listed by an older report, not served any more
		}
		out = append(out, fluxKind{gvk: gv.WithKind(rs.Kind), gvr: m.Resource})
	}
	return out, nil
}

// mapper maps kinds and resources through the API server's discovery,
// asked once per command: tree asks it for every nested object.
func (o *options) mapper() (meta.RESTMapper, error) {
	if o.restMapper != nil {
		return o.restMapper, nil
	}
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil && len(groups) == 0 {
		return nil, fmt.Errorf("failed to discover the API: %w", err)
	}
	o.restMapper = restmapper.NewDiscoveryRESTMapper(groups)
	return o.restMapper, nil
}

// kindNamed finds a kind by name, case-insensitively, singular or plural
// (kustomization, Kustomizations, ks is not a name).
func kindNamed(kinds []fluxKind, name string) (fluxKind, bool) {
	for _, k := range kinds {
		if strings.EqualFold(k.gvk.Kind, name) || strings.EqualFold(k.gvr.Resource, name) {
			return k, true
		}
	}
	return fluxKind{}, false
}

func kindNames(kinds []fluxKind) string {
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, k.gvk.Kind)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// state is what a user wants to know of a Flux object first, by the
// report's rules.
type state string

const (
	stateFailing     state = "Failing"
	stateProgressing state = "Progressing"
	stateUnknown     state = "Unknown"
	stateSuspended   state = "Suspended"
	stateReady       state = "Ready"
)

var stateOrder = []state{stateFailing, stateProgressing, stateUnknown, stateSuspended, stateReady}

// resource is one Flux object as `get resources` shows it.
type resource struct {
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	State     state     `json:"state"`
	Ready     string    `json:"ready"`
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message,omitempty"`
	Revision  string    `json:"revision,omitempty"`
	Since     time.Time `json:"since"`
	Suspended bool      `json:"suspended"`
}

func resourceOf(u *unstructured.Unstructured) resource {
	r := resource{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Ready: "Unknown",
		Since: u.GetCreationTimestamp().Time}
	r.Suspended, _, _ = unstructured.NestedBool(u.Object, "spec", "suspend")
	if r.Kind == apiv1.FluxInstanceKind {
		r.Suspended = u.GetAnnotations()[apiv1.ReconcileAnnotation] == apiv1.DisabledValue
	}
	hasReady := false
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != apiv1.ReadyCondition {
			continue
		}
		hasReady = true
		r.Ready, _ = m["status"].(string)
		r.Reason, _ = m["reason"].(string)
		r.Message, _ = m["message"].(string)
		if t, _ := m["lastTransitionTime"].(string); t != "" {
			if parsed, err := time.Parse(time.RFC3339, t); err == nil {
				r.Since = parsed
			}
		}
	}
	for _, p := range [][]string{{"status", "lastAttemptedRevision"}, {"status", "lastAppliedRevision"}, {"status", "artifact", "revision"}} {
		if v, _, _ := unstructured.NestedString(u.Object, p...); v != "" {
			r.Revision = v
			break
		}
	}
	static := r.Kind == "Alert" || r.Kind == "Provider"
	if t, _, _ := unstructured.NestedString(u.Object, "spec", "type"); r.Kind == "HelmRepository" && t == "oci" {
		static = true
	}
	switch {
	case r.Suspended:
		r.State = stateSuspended
	case static:
		r.State, r.Ready = stateReady, "True"
	case !hasReady:
		r.State = stateUnknown
	case r.Ready == "True":
		r.State = stateReady
	case r.Ready == "False" && r.Reason != "DependencyNotReady":
		r.State = stateFailing
	default:
		r.State = stateProgressing
	}
	return r
}

// listResources lists the Flux objects of kinds in namespace ("" for all),
// what needs attention first.
func (o *options) listResources(ctx context.Context, kinds []fluxKind, namespace string) ([]resource, error) {
	dc, err := o.dynamic()
	if err != nil {
		return nil, err
	}
	var out []resource
	for _, k := range kinds {
		list, err := dc.Resource(k.gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("failed to list %s: %w", k.gvk.Kind, err)
		}
		for i := range list.Items {
			out = append(out, resourceOf(&list.Items[i]))
		}
	}
	slices.SortFunc(out, func(a, b resource) int {
		return cmp.Or(cmp.Compare(slices.Index(stateOrder, a.State), slices.Index(stateOrder, b.State)),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// nameMatcher matches names as the web UI does: * and ? match whole names,
// plain text matches names containing it; case-insensitive.
func nameMatcher(pat string) func(string) bool {
	pat = strings.ToLower(pat)
	if pat == "" {
		return func(string) bool { return true }
	}
	if strings.ContainsAny(pat, "*?[") {
		if _, err := path.Match(pat, ""); err == nil {
			return func(n string) bool { ok, _ := path.Match(pat, strings.ToLower(n)); return ok }
		}
	}
	return func(n string) bool { return strings.Contains(strings.ToLower(n), pat) }
}
