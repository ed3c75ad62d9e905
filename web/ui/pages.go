package ui

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

type fluxObject = *fluxobj.Object

// LiveReader reads from the API server what the caches do not hold: a
// whole object for its page, and events.
type LiveReader struct {
	// Kinds reads whole objects.
	Kinds *fluxobj.KindLister
	// APIReader lists events.
	APIReader client.Reader
}

// overviewData is the overview page.
type overviewData struct {
	Report   *apiv1.FluxReport
	Ready    *metav1.Condition
	Instance *apiv1.FluxInstance
	// InstanceReady is the instance's Ready condition.
	InstanceReady *metav1.Condition
	Counts        Counts
	Failing       []Row
	Failed        []KindError
	CanReport     bool
	CanInstance   bool
}

func (s *Server) overview(r *http.Request, v *view) error {
	ctx := r.Context()
	v.Title = "Overview"
	d := &overviewData{CanReport: s.can(ctx, v, bootstrap.Access{Verb: "get", Group: apiv1.GroupVersion.Group,
		Resource: "fluxreports", Namespace: s.Catalog.Namespace}),
		CanInstance: s.can(ctx, v, bootstrap.Access{Verb: "get", Group: apiv1.GroupVersion.Group,
			Resource: "fluxinstances", Namespace: s.Catalog.Namespace})}
	v.Data = d
	var err error
	if d.CanReport {
		if d.Report, err = s.Catalog.Report(ctx); err != nil {
			return err
		}
		if d.Report != nil {
			d.Ready = findCondition(d.Report.Status.Conditions, apiv1.ReadyCondition)
		}
	}
	if d.CanInstance {
		if d.Instance, err = s.Catalog.Instance(ctx); err != nil {
			return err
		}
		if d.Instance != nil {
			d.InstanceReady = findCondition(d.Instance.Status.Conditions, apiv1.ReadyCondition)
		}
	}
	kinds, err := s.Catalog.FluxKinds(ctx)
	if err != nil {
		d.Failed = append(d.Failed, KindError{Kind: "kinds", Err: err})
	}
	objs, failed := s.Catalog.Objects(ctx, kinds)
	d.Failed = append(d.Failed, failed...)
	res := Select(objs, Query{State: StateFailing}, 10, s.visible(ctx, v, kinds))
	d.Counts, d.Failing = res.Counts, res.Rows
	return nil
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// resourcesData is the resources page.
type resourcesData struct {
	Query      Query
	Result     Result
	Kinds      []string
	Namespaces []string
	States     []State
	Failed     []KindError
	PageSize   int
}

// Prev and Next are the links to the pages around this one, empty at the ends.
func (d *resourcesData) Prev() string {
	if d.Result.Page <= 1 {
		return ""
	}
	return d.Query.WithPage(d.Result.Page - 1).URL()
}

func (d *resourcesData) Next() string {
	if d.Result.Page >= d.Result.Pages {
		return ""
	}
	return d.Query.WithPage(d.Result.Page + 1).URL()
}

// StateURL is the list with the same filters in another state ("" for all).
func (d *resourcesData) StateURL(st State) string {
	q := d.Query
	q.State, q.Page = st, 1
	return q.URL()
}

func (s *Server) resources(r *http.Request, v *view) error {
	ctx := r.Context()
	v.Title = "Resources"
	q := ParseQuery(r.URL.Query())
	kinds, err := s.Catalog.FluxKinds(ctx)
	d := &resourcesData{Query: q, States: States, PageSize: s.PageSize, Kinds: kindNames(kinds)}
	if err != nil {
		d.Failed = append(d.Failed, KindError{Kind: "kinds", Err: err})
	}
	selected := kinds
	if q.Kind != "" {
		selected = nil
		if k, ok := KindNamed(kinds, q.Kind); ok {
			selected = []Kind{k}
		}
	}
	all, failed := s.Catalog.Objects(ctx, selected)
	d.Failed = append(d.Failed, failed...)
	visible := s.visible(ctx, v, kinds)
	d.Result = Select(all, q, s.PageSize, visible)
	d.Namespaces = namespacesOf(all, visible)
	if q.Namespace != "" && !slices.Contains(d.Namespaces, q.Namespace) {
		d.Namespaces = append(d.Namespaces, q.Namespace)
	}
	v.Data = d
	return nil
}

// namespacesOf returns the namespaces of the objects visible, sorted.
func namespacesOf(objs []*fluxobj.Object, visible func(fluxObject) bool) []string {
	seen := map[string]bool{}
	for _, o := range objs {
		if !seen[o.Namespace] && (visible == nil || visible(o)) {
			seen[o.Namespace] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// resourceData is the page of one object.
type resourceData struct {
	Kind       Kind
	Namespace  string
	Name       string
	Object     *unstructured.Unstructured
	State      State
	Suspended  bool
	Conditions []metav1.Condition
	Revision   string
	Source     *Link
	Consumers  []Link
	Inventory  []InventoryGroup
	Events     []Event
	EventsErr  string
	YAML       string
	// CanAct: the user may patch the object (with authentication only).
	CanAct bool
}

// Link is a link to an object's page.
type Link struct{ Kind, Namespace, Name string }

// URL is the page of the object.
func (l Link) URL() string { return resourceURL(l.Kind, l.Namespace, l.Name) }

func resourceURL(kind, ns, name string) string {
	if ns == "" {
		ns = "-"
	}
	return "/resource/" + kind + "/" + ns + "/" + name
}

// InventoryGroup is the objects of one kind in an inventory.
type InventoryGroup struct {
	Kind    string
	Entries []InventoryEntry
}

// InventoryEntry is one object of an inventory; Flux objects link to their page.
type InventoryEntry struct {
	Namespace, Name, Group, Version string
	URL                             string
}

func (s *Server) resource(r *http.Request, v *view) error {
	ctx := r.Context()
	kindName, ns, name := r.PathValue("kind"), r.PathValue("namespace"), r.PathValue("name")
	if ns == "-" {
		ns = ""
	}
	v.Title = kindName + " " + ns + "/" + name
	kinds, err := s.Catalog.FluxKinds(ctx)
	if err != nil {
		return err
	}
	k, ok := KindNamed(kinds, kindName)
	if !ok {
		return errorf(http.StatusNotFound, "%s is not a Flux kind this cluster serves (the FluxReport lists: %s)", kindName,
			strings.Join(kindNames(kinds), ", "))
	}
	if !s.can(ctx, v, bootstrap.Access{Verb: "get", Group: k.GVK.Group, Resource: k.Resource, Namespace: ns}) {
		return errorf(http.StatusForbidden, "you may not get %s in namespace %s (RBAC: get %s.%s)", kindName, ns, k.Resource, k.GVK.Group)
	}
	obj, err := s.Live.Kinds.GetLive(ctx, k.GVK, client.ObjectKey{Namespace: ns, Name: name})
	if apierrors.IsNotFound(err) {
		return errorf(http.StatusNotFound, "%s %s/%s does not exist (any more)", kindName, ns, name)
	}
	if err != nil {
		return err
	}
	d := &resourceData{Kind: k, Namespace: ns, Name: name, Object: obj}
	o := compactor.Compact(obj.Object)
	d.State, d.Suspended, d.Revision = StateOf(o), o.Suspended, value(o, vRevision)
	if kindName == "FluxInstance" {
		d.Suspended = obj.GetAnnotations()[apiv1.ReconcileAnnotation] == apiv1.DisabledValue
		if d.Suspended {
			d.State = StateSuspended
		}
	}
	d.Conditions = conditionsOf(obj)
	if ref := sourceRef(kindName, obj.Object); ref.name != "" {
		d.Source = &Link{Kind: ref.kind, Namespace: cmp.Or(ref.namespace, ns), Name: ref.name}
	}
	objs, _ := s.Catalog.Objects(ctx, kinds)
	visible := s.visible(ctx, v, kinds)
	for _, c := range objs {
		if src, ok := sourceOf(c); ok && src == (objectRef{kind: kindName, namespace: ns, name: name}) && (visible == nil || visible(c)) {
			d.Consumers = append(d.Consumers, Link{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name})
		}
	}
	slices.SortFunc(d.Consumers, func(a, b Link) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	d.Inventory = inventoryOf(obj, kinds)
	if s.can(ctx, v, bootstrap.Access{Verb: "list", Resource: "events", Namespace: ns}) {
		d.Events, err = s.Live.Events(ctx, EventFilter{Namespace: ns, Kind: kindName, Name: name})
		if err != nil {
			d.EventsErr = err.Error()
		}
	} else {
		d.EventsErr = "you may not list events in namespace " + ns
	}
	shown := obj.DeepCopy()
	shown.SetManagedFields(nil)
	b, err := yaml.Marshal(shown.Object)
	if err != nil {
		return err
	}
	d.YAML = string(b)
	d.CanAct = s.Auth != nil && s.can(ctx, v, bootstrap.Access{Verb: "patch", Group: k.GVK.Group, Resource: k.Resource, Namespace: ns})
	v.Data = d
	return nil
}

func conditionsOf(obj *unstructured.Unstructured) []metav1.Condition {
	raw, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	out := make([]metav1.Condition, 0, len(raw))
	for _, c := range raw {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		var cond metav1.Condition
		if err := runtimeFromMap(m, &cond); err == nil {
			out = append(out, cond)
		}
	}
	return out
}

// inventoryOf returns status.inventory.entries grouped by kind, sorted.
func inventoryOf(obj *unstructured.Unstructured, kinds []Kind) []InventoryGroup {
	raw, _, _ := unstructured.NestedSlice(obj.Object, "status", "inventory", "entries")
	byKind := map[string][]InventoryEntry{}
	for _, e := range raw {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		ver, _ := m["v"].(string)
		parts := strings.Split(id, "_")
		if len(parts) != 4 {
			continue
		}
		en := InventoryEntry{Namespace: parts[0], Name: parts[1], Group: parts[2], Version: ver}
		if k, ok := KindNamed(kinds, parts[3]); ok && k.GVK.Group == parts[2] {
			en.URL = resourceURL(parts[3], parts[0], parts[1])
		}
		byKind[parts[3]] = append(byKind[parts[3]], en)
	}
	out := make([]InventoryGroup, 0, len(byKind))
	for k, es := range byKind {
		slices.SortFunc(es, func(a, b InventoryEntry) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, InventoryGroup{Kind: k, Entries: es})
	}
	slices.SortFunc(out, func(a, b InventoryGroup) int { return cmp.Compare(a.Kind, b.Kind) })
	return out
}

// Event is a Kubernetes event about a Flux object.
type Event struct {
	Type, Reason, Message, Source string
	Kind, Namespace, Name         string
	Count                         int32
	Last                          time.Time
}

// URL is the page of the event's object.
func (e Event) URL() string { return resourceURL(e.Kind, e.Namespace, e.Name) }

// EventFilter selects events.
type EventFilter struct {
	Type, Kind, Namespace, Name string
	// Kinds, when not empty, keeps the events of these kinds only.
	Kinds map[string]bool
	Limit int
}

// Events lists the events f selects from the API server, newest first. The
// type, kind, namespace and an exact name are selected by the API server.
func (l *LiveReader) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	sel := fields.Set{}
	if f.Type != "" {
		sel["type"] = f.Type
	}
	if f.Kind != "" {
		sel["involvedObject.kind"] = f.Kind
	}
	if f.Name != "" && !strings.ContainsAny(f.Name, "*?[") {
		sel["involvedObject.name"] = f.Name
	}
	var list corev1.EventList
	opts := []client.ListOption{client.MatchingFieldsSelector{Selector: sel.AsSelector()}}
	if f.Namespace != "" {
		opts = append(opts, client.InNamespace(f.Namespace))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.APIReader.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("failed to list events: %w", err)
	}
	match := Query{Name: f.Name}.matcher()
	out := make([]Event, 0, len(list.Items))
	for i := range list.Items {
		e := &list.Items[i]
		io := e.InvolvedObject
		if len(f.Kinds) > 0 && !f.Kinds[io.Kind] || !match(io.Name) {
			continue
		}
		out = append(out, Event{Type: e.Type, Reason: e.Reason, Message: e.Message,
			Source: cmp.Or(e.ReportingController, e.Source.Component), Kind: io.Kind, Namespace: io.Namespace,
			Name: io.Name, Count: max(e.Count, 1), Last: eventTime(e)})
	}
	slices.SortStableFunc(out, func(a, b Event) int { return b.Last.Compare(a.Last) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// eventsData is the events page.
type eventsData struct {
	Filter     EventFilter
	Events     []Event
	Kinds      []string
	Namespaces []string
	Limit      int
	Total      int
	Err        string
}

// MaxEvents bounds the events page.
const MaxEvents = 500

func (s *Server) events(r *http.Request, v *view) error {
	ctx := r.Context()
	v.Title = "Events"
	q := r.URL.Query()
	f := EventFilter{Type: q.Get("type"), Kind: q.Get("kind"), Namespace: q.Get("namespace"), Name: strings.TrimSpace(q.Get("name"))}
	if f.Type != "" && f.Type != corev1.EventTypeNormal && f.Type != corev1.EventTypeWarning {
		f.Type = ""
	}
	kinds, err := s.Catalog.FluxKinds(ctx)
	d := &eventsData{Filter: f, Kinds: kindNames(kinds), Limit: MaxEvents}
	v.Data = d
	if err != nil {
		d.Err = err.Error()
	}
	objs, _ := s.Catalog.Objects(ctx, kinds)
	d.Namespaces = namespacesOf(objs, s.visible(ctx, v, kinds))
	if !slices.Contains(d.Namespaces, s.Catalog.Namespace) {
		d.Namespaces = append(d.Namespaces, s.Catalog.Namespace)
		slices.Sort(d.Namespaces)
	}
	// The installer's events are on the FluxInstance, the reporter's on the
	// FluxReport; Flux's controllers' on their objects.
	f.Kinds = map[string]bool{"FluxInstance": true, "FluxReport": true}
	for _, k := range kinds {
		f.Kinds[k.GVK.Kind] = true
	}
	if s.Auth != nil {
		// Events are listed in the namespaces the user may list them in.
		if !s.can(ctx, v, bootstrap.Access{Verb: "list", Resource: "events"}) {
			if f.Namespace == "" {
				var all []Event
				for _, ns := range d.Namespaces {
					if !s.can(ctx, v, bootstrap.Access{Verb: "list", Resource: "events", Namespace: ns}) {
						continue
					}
					g := f
					g.Namespace = ns
					es, err := s.Live.Events(ctx, g)
					if err != nil {
						d.Err = err.Error()
					}
					all = append(all, es...)
				}
				slices.SortStableFunc(all, func(a, b Event) int { return b.Last.Compare(a.Last) })
				d.Total = len(all)
				d.Events = all[:min(len(all), MaxEvents)]
				return nil
			}
			if !s.can(ctx, v, bootstrap.Access{Verb: "list", Resource: "events", Namespace: f.Namespace}) {
				d.Err = "you may not list events in namespace " + f.Namespace
				return nil
			}
		}
	}
	es, err := s.Live.Events(ctx, f)
	if err != nil {
		d.Err = err.Error()
	}
	d.Total = len(es)
	d.Events = es[:min(len(es), MaxEvents)]
	return nil
}
