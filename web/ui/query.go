package ui

import (
	"cmp"
	"container/heap"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// State is what a user wants to know of a Flux object first.
type State string

// The states, in the order the resources page lists them: what needs
// attention first.
const (
	StateFailing     State = "failing"
	StateProgressing State = "progressing"
	StateUnknown     State = "unknown"
	StateSuspended   State = "suspended"
	StateReady       State = "ready"
)

// States lists the states in their order.
var States = []State{StateFailing, StateProgressing, StateUnknown, StateSuspended, StateReady}

func (s State) rank() int { return slices.Index(States, s) }

// dependencyNotReady is Flux's reason for an object waiting on another: the
// report does not count it failing, and neither does the UI.
const dependencyNotReady = "DependencyNotReady"

// StateOf classifies an object: suspended first, then its Ready condition
// (False is failing, but waiting for a dependency is progressing; Unknown is
// progressing, as Flux sets it while it reconciles). Objects Flux does not
// reconcile (Alerts, Providers) are ready; an object without a Ready
// condition yet is unknown.
func StateOf(o *fluxobj.Object) State {
	switch {
	case o.Suspended:
		return StateSuspended
	case o.Static:
		return StateReady
	case !o.HasReady:
		return StateUnknown
	}
	switch o.Ready.Status {
	case "True":
		return StateReady
	case "False":
		if o.Ready.Reason == dependencyNotReady {
			return StateProgressing
		}
		return StateFailing
	}
	return StateProgressing
}

// Query is the resources page's filter, as its URL carries it, so that a
// link to a filtered list can be pasted in a ticket.
type Query struct {
	Kind, Namespace string
	State           State
	// Name matches names: a pattern with * and ? matches the whole name; a
	// plain string matches names containing it. Case-insensitive.
	Name string
	// Page counts from 1.
	Page int
}

// ParseQuery reads a Query from URL parameters; unknown states are ignored.
func ParseQuery(v url.Values) Query {
	q := Query{Kind: strings.TrimSpace(v.Get("kind")), Namespace: strings.TrimSpace(v.Get("namespace")),
		Name: strings.TrimSpace(v.Get("name")), Page: 1}
	if s := State(v.Get("state")); s.rank() >= 0 {
		q.State = s
	}
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 1 {
		q.Page = p
	}
	return q
}

// Values is the query as URL parameters, the empty ones left out.
func (q Query) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("kind", q.Kind)
	set("namespace", q.Namespace)
	set("state", string(q.State))
	set("name", q.Name)
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// URL is the resources page of the query.
func (q Query) URL() string {
	if e := q.Values().Encode(); e != "" {
		return "/resources?" + e
	}
	return "/resources"
}

// WithPage is the query on another page.
func (q Query) WithPage(p int) Query { q.Page = p; return q }

// matcher returns whether a name matches the query's name filter.
func (q Query) matcher() func(string) bool {
	pat := strings.ToLower(q.Name)
	switch {
	case pat == "":
		return func(string) bool { return true }
	case strings.ContainsAny(pat, "*?["):
		if _, err := path.Match(pat, ""); err != nil {
			// A malformed pattern matches it as plain text.
			return func(n string) bool { return strings.Contains(strings.ToLower(n), pat) }
		}
		return func(n string) bool { ok, _ := path.Match(pat, strings.ToLower(n)); return ok }
	}
	return func(n string) bool { return strings.Contains(strings.ToLower(n), pat) }
}

// Row is one object on the resources page.
type Row struct {
	Object *fluxobj.Object
	State  State
}

// Kind is the object's kind.
func (r Row) Kind() string { return r.Object.Kind }

// Namespace is the object's namespace.
func (r Row) Namespace() string { return r.Object.Namespace }

// Name is the object's name.
func (r Row) Name() string { return r.Object.Name }

// Reason is the reason of the object's Ready condition.
func (r Row) Reason() string { return r.Object.Ready.Reason }

// Message is the start of the message of the object's Ready condition.
func (r Row) Message() string { return value(r.Object, vMessage) }

// Revision is the revision the object last attempted, applied or stored.
func (r Row) Revision() string { return value(r.Object, vRevision) }

// Since is when the object entered its state: the last transition of its
// Ready condition, or its creation.
func (r Row) Since() time.Time {
	if t := r.Object.Ready.LastTransitionTime; r.Object.HasReady && !t.IsZero() {
		return t.Time
	}
	return r.Object.CreationTimestamp.Time
}

// Counts are the objects in each state.
type Counts map[State]int

// Total is the number of objects counted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Result is one page of the resources list.
type Result struct {
	Rows []Row
	// Matched is how many objects match the query; Counts how many of the
	// objects matching every filter but the state are in each state.
	Matched int
	Counts  Counts
	Page    int
	Pages   int
}

// Select filters objs by q, orders what matches (state, then kind,
// namespace and name) and returns the page q asks for, of size pageSize.
// visible, when not nil, hides the objects a user may not list.
//
// It keeps only the rows up to the end of the page asked for, in a bounded
// heap, so a page costs one pass over the objects and no sort of them all:
// with 50,000 objects, the first page keeps 100 rows, not 50,000.
func Select(objs []*fluxobj.Object, q Query, pageSize int, visible func(*fluxobj.Object) bool) Result {
	match := q.matcher()
	res := Result{Counts: Counts{}}
	keep := max(q.Page, 1) * pageSize
	top := &rowHeap{}
	for _, o := range objs {
		if q.Kind != "" && o.Kind != q.Kind || q.Namespace != "" && o.Namespace != q.Namespace || !match(o.Name) {
			continue
		}
		if visible != nil && !visible(o) {
			continue
		}
		s := StateOf(o)
		res.Counts[s]++
		if q.State != "" && s != q.State {
			continue
		}
		res.Matched++
		r := Row{Object: o, State: s}
		if top.Len() < keep {
			heap.Push(top, r)
		} else if compareRows(r, top.rows[0]) < 0 {
			top.rows[0] = r
			heap.Fix(top, 0)
		}
	}
	res.Pages = max(1, (res.Matched+pageSize-1)/pageSize)
	res.Page = min(max(q.Page, 1), res.Pages)
	if res.Page < max(q.Page, 1) {
		// Past the end: the last page, which the heap may not hold.
		q.Page = res.Page
		return Select(objs, q, pageSize, visible)
	}
	rows := top.rows
	slices.SortFunc(rows, compareRows)
	lo := (res.Page - 1) * pageSize
	res.Rows = rows[min(lo, len(rows)):]
	return res
}

// compareRows orders rows as the resources page lists them.
func compareRows(a, b Row) int {
	return cmp.Or(cmp.Compare(a.State.rank(), b.State.rank()), cmp.Compare(a.Object.Kind, b.Object.Kind),
		cmp.Compare(a.Object.Namespace, b.Object.Namespace), cmp.Compare(a.Object.Name, b.Object.Name))
}

// rowHeap is a max-heap of rows: its root is the row that comes last.
type rowHeap struct{ rows []Row }

func (h *rowHeap) Len() int           { return len(h.rows) }
func (h *rowHeap) Less(i, j int) bool { return compareRows(h.rows[i], h.rows[j]) > 0 }
func (h *rowHeap) Swap(i, j int)      { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *rowHeap) Push(x any)         { h.rows = append(h.rows, x.(Row)) }
func (h *rowHeap) Pop() any {
	r := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return r
}

// Of is the count of a state given by name, for templates.
func (c Counts) Of(s string) int { return c[State(s)] }
