// Package fluxobj reads Flux objects, whose kinds are known only at run time,
// for the reporter and the exporter: a cache lister that probes each kind
// before trusting its informer, the Ready condition of an unstructured object,
// and URLs cleared of credentials.
package fluxobj

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

// ListTimeout bounds how long one read waits for its informer to sync.
var ListTimeout = 30 * time.Second

// KindLister reads Flux kinds, known only at run time, from an informer
// cache. The first time it meets a kind it probes it with a one-item list
// straight from the API server, so a kind the binary may not list (RBAC) or
// that is not served fails fast with the server's answer instead of leaving a
// never-syncing informer behind. A kind whose cached read fails has its
// informer dropped and is probed again next time.
type KindLister struct {
	// Cache serves the reads; it is the manager's cache.
	Cache cache.Cache
	// APIReader reads straight from the API server for the probes.
	APIReader client.Reader
	// Component names the binary in RBAC errors, e.g. flux-operator-reporter.
	Component string
	// Track makes the lister remember the keys of the objects that changed
	// since the last Drain of their kind, for a reader that updates what it
	// built object by object (the exporter).
	Track bool

	mu     sync.Mutex
	probed map[schema.GroupVersionKind]bool
	// watched are the kinds whose informer counts its events in changes,
	// and that informer.
	watched map[schema.GroupVersionKind]toolscache.SharedIndexInformer
	changes atomic.Uint64
	// dirty holds, per kind, the keys of the objects changed since the last
	// Drain; reset the kinds whose informer was dropped since (Track only).
	dirty map[schema.GroupVersionKind]map[client.ObjectKey]struct{}
	reset map[schema.GroupVersionKind]bool
}

// Drain returns the keys of the kind's objects that were added, updated or
// deleted since the last Drain of the kind, and forgets them. ok is false
// when the keys do not tell everything: the lister does not track (Track),
// has not watched the kind, or dropped its informer since; the caller then
// reads the kind whole, after this Drain. Objects watches a kind before it
// reads it, so what a read misses is in the next Drain. An informer of the
// kind that is not the one watched (the cache dropped it and made another)
// is a reset too.
func (l *KindLister) Drain(ctx context.Context, gvk schema.GroupVersionKind) (keys []client.ObjectKey, ok bool) {
	current, err := informer(ctx, l.cache(), gvk, cache.BlockUntilSynced(false))
	l.mu.Lock()
	defer l.mu.Unlock()
	ok = l.Track && err == nil && l.watched[gvk] != nil && l.watched[gvk] == current && !l.reset[gvk]
	delete(l.reset, gvk)
	for k := range l.dirty[gvk] {
		keys = append(keys, k)
	}
	delete(l.dirty, gvk)
	return keys, ok
}

// Object returns one cached Object of a kind, nil when there is none.
func (l *KindLister) Object(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*Object, error) {
	o, err := getObject(ctx, l.cache(), gvk, key)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return o, err
}

// changed counts an event of a kind's informer, and remembers its object's
// key when the lister tracks keys.
func (l *KindLister) changed(gvk schema.GroupVersionKind, obj any) {
	l.changes.Add(1)
	if !l.Track {
		return
	}
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(*Object)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		// Not an Object: the keys cannot say what changed.
		if l.reset == nil {
			l.reset = map[schema.GroupVersionKind]bool{}
		}
		l.reset[gvk] = true
		return
	}
	if l.dirty == nil {
		l.dirty = map[schema.GroupVersionKind]map[client.ObjectKey]struct{}{}
	}
	if l.dirty[gvk] == nil {
		l.dirty[gvk] = map[client.ObjectKey]struct{}{}
	}
	l.dirty[gvk][client.ObjectKey{Namespace: o.Namespace, Name: o.Name}] = struct{}{}
}

// Changes counts the events (adds, updates, deletes) of the informers the
// lister has read Objects from, and the informers it dropped: while it stays
// the same, what Objects returns has not changed.
func (l *KindLister) Changes() uint64 { return l.changes.Load() }

// Objects returns the cached Objects of a Flux kind, in namespace when it is
// not empty; the cache's transform must be a Compactor's. The Objects are
// the cache's own: callers only read them.
func (l *KindLister) Objects(ctx context.Context, gvk schema.GroupVersionKind, namespace string) ([]*Object, error) {
	if err := l.probe(ctx, gvk); err != nil {
		return nil, err
	}
	// Counted before the read: a change after it is counted, one before
	// it is in what the read returns.
	l.watch(ctx, gvk)
	ctx, cancel := context.WithTimeout(ctx, ListTimeout)
	defer cancel()
	objs, err := listObjects(ctx, l.cache(), gvk, namespace)
	if err != nil {
		return nil, errors.Join(l.explain(err), l.forget(ctx, gvk))
	}
	return objs, nil
}

// Start probes kinds and starts their informers without waiting for them to
// sync, all at once, so their initial lists overlap instead of running one
// after the other when Objects reads the kinds in turn. What fails here is
// reported by the reads that follow.
func (l *KindLister) Start(ctx context.Context, gvks []schema.GroupVersionKind) {
	var wg sync.WaitGroup
	for _, gvk := range gvks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.probe(ctx, gvk) != nil {
				return
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			_, _ = l.cache().GetInformer(ctx, u, cache.BlockUntilSynced(false))
		}()
	}
	wg.Wait()
}

// Retain stops the informers of the kinds the lister has read that are not
// in gvks, the kinds still served: when a CRD is deleted, its informer stops
// at the next read instead of failing to watch, and logging it, forever. A
// kind that comes back is probed and watched again when it is next read.
func (l *KindLister) Retain(ctx context.Context, gvks []schema.GroupVersionKind) error {
	keep := make(map[schema.GroupVersionKind]bool, len(gvks))
	for _, gvk := range gvks {
		keep[gvk] = true
	}
	l.mu.Lock()
	var gone []schema.GroupVersionKind
	for gvk := range l.probed {
		if !keep[gvk] {
			gone = append(gone, gvk)
		}
	}
	l.mu.Unlock()
	var errs []error
	for _, gvk := range gone {
		errs = append(errs, l.forget(ctx, gvk))
	}
	return errors.Join(errs...)
}

// watch makes the kind's informer count its events in changes, once. The
// adds of the informer's initial list, and those replayed to a handler added
// to a running informer, are not changes: the read that follows the watch
// returns those objects. Counting them made the first report after every
// start, and the one after each new kind, rebuild for nothing, as the
// replay reached the counter after the read.
func (l *KindLister) watch(ctx context.Context, gvk schema.GroupVersionKind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sii, err := informer(ctx, l.cache(), gvk, cache.BlockUntilSynced(false))
	if err == nil && l.watched[gvk] == sii {
		return
	}
	if err != nil {
		l.changes.Add(1) // the next read tries again, and rebuilds
		return
	}
	if _, err := sii.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				l.changed(gvk, obj)
			}
		},
		UpdateFunc: func(_, obj any) { l.changed(gvk, obj) },
		DeleteFunc: func(obj any) { l.changed(gvk, obj) },
	}); err != nil {
		l.changes.Add(1)
		return
	}
	if l.watched == nil {
		l.watched = map[schema.GroupVersionKind]toolscache.SharedIndexInformer{}
	}
	l.watched[gvk] = sii
}

// cache is the cache under a CompactCache, which the Objects are read from.
func (l *KindLister) cache() cache.Cache {
	if c, ok := l.Cache.(*CompactCache); ok {
		return c.Cache
	}
	return l.Cache
}

// GetLive reads one object of a Flux kind, whole, from the API server.
func (l *KindLister) GetLive(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	ctx, cancel := context.WithTimeout(ctx, ListTimeout)
	defer cancel()
	if err := l.APIReader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, err
		}
		return nil, l.explain(err)
	}
	return obj, nil
}

func (l *KindLister) probe(ctx context.Context, gvk schema.GroupVersionKind) error {
	l.mu.Lock()
	probed := l.probed[gvk]
	l.mu.Unlock()
	if probed {
		return nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := l.APIReader.List(ctx, list, client.Limit(1)); err != nil {
		return l.explain(err)
	}
	l.mu.Lock()
	if l.probed == nil {
		l.probed = map[schema.GroupVersionKind]bool{}
	}
	l.probed[gvk] = true
	l.mu.Unlock()
	return nil
}

// forget drops the informer of a kind whose read failed, so the next read
// probes the kind again; it returns why the informer could not be dropped.
func (l *KindLister) forget(ctx context.Context, gvk schema.GroupVersionKind) error {
	l.mu.Lock()
	delete(l.probed, gvk)
	delete(l.watched, gvk)
	delete(l.dirty, gvk)
	if l.reset == nil {
		l.reset = map[schema.GroupVersionKind]bool{}
	}
	l.reset[gvk] = true
	l.mu.Unlock()
	l.changes.Add(1)
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	if err := l.Cache.RemoveInformer(context.WithoutCancel(ctx), obj); err != nil {
		return fmt.Errorf("failed to stop the %s informer: %w", gvk.Kind, err)
	}
	return nil
}

// explain shortens API errors to what a user acts on.
func (l *KindLister) explain(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		who := l.Component
		if who == "" {
			who = "this binary"
		}
		return fmt.Errorf("forbidden: the RBAC of %s does not allow list/watch: %w", who, err)
	case meta.IsNoMatchError(err), apierrors.IsNotFound(err):
		return fmt.Errorf("API not served: %w", err)
	}
	return err
}

// Why a read of Flux objects failed, as Reason returns it.
const (
	// ReasonForbidden: the binary's RBAC does not allow the read.
	ReasonForbidden = "Forbidden"
	// ReasonNotServed: the API server does not serve the kind (its CRD is
	// gone or not established).
	ReasonNotServed = "NotServed"
	// ReasonTimeout: the read did not finish in time (informer not synced,
	// API server slow or away).
	ReasonTimeout = "Timeout"
	// ReasonFailed: any other error.
	ReasonFailed = "Failed"
)

// Reason classifies the error of a read; "" for nil.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case apierrors.IsForbidden(err):
		return ReasonForbidden
	case meta.IsNoMatchError(err), apierrors.IsNotFound(err):
		return ReasonNotServed
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return ReasonTimeout
	}
	return ReasonFailed
}

// ReadyOf returns the status, reason and message of an object's Ready
// condition; the status is Unknown when there is none.
func ReadyOf(obj map[string]any) (status, reason, message string) {
	c := ReadyCondition(obj)
	if c == nil {
		return string(metav1.ConditionUnknown), "", ""
	}
	status, _ = c["status"].(string)
	reason, _ = c["reason"].(string)
	message, _ = c["message"].(string)
	return status, reason, message
}

// ReadyCondition returns an object's Ready condition, or nil. It does not
// copy: the caller must not change what it returns.
func ReadyCondition(obj map[string]any) map[string]any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, "status", "conditions")
	conds, _ := v.([]any)
	for _, c := range conds {
		if cm, ok := c.(map[string]any); ok && cm["type"] == apiv1.ReadyCondition {
			return cm
		}
	}
	return nil
}

// SafeURL returns u without what may carry a credential: the user info
// (an ssh:// URL keeps its user name, which is never a secret with key
// authentication), the query and the fragment, whether u parses as a URL or
// not. The result never holds a raw '?' or '#' (a %3F or %23 in the path of a
// URL that parses stays, escaped: it is part of the path).
//
// A URL that parses with a host is read as RFC 3986 reads it, and also loses
// the user info of a URL in its path (https://proxy/https://user:token@host/
// repo). Its user info ends at the first '/': a password with a raw '/', not
// %2F, may be taken for a host and a path, as Git and Flux take it.
//
// A value that does not parse, or has no host (an scp-like
// git@github.com:org/repo, a Bucket endpoint host:port), keeps its scheme://
// and what lies between its last '@' and its first '?' or '#', or nothing
// when an '@' comes after a '?' or '#', as it cannot be told whether that
// '?' or '#' is in a password or that '@' in a query.
func SafeURL(u string) string {
	if u == "" {
		return ""
	}
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		if p.Scheme == "ssh" && p.User != nil && p.User.Username() != "" {
			p.User = url.User(p.User.Username())
		} else {
			p.User = nil
		}
		p.RawQuery, p.ForceQuery = "", false
		p.Fragment, p.RawFragment = "", ""
		// On the escaped path, so that escapes stay as they were.
		if ep := p.EscapedPath(); strings.Contains(ep, "@") {
			if safe := dropUserInfo(ep); safe != ep {
				path, err := url.PathUnescape(safe)
				if err != nil { // not expected: no escape spans a '/' or '@'
					return ""
				}
				p.Path, p.RawPath = path, safe
			}
		}
		return p.String()
	}
	scheme, rest := "", u
	if i := strings.Index(u, "://"); i > 0 && validScheme(u[:i]) {
		scheme, rest = u[:i+3], u[i+3:]
	}
	end := strings.IndexAny(rest, "?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest, '@')
	if at > end {
		return ""
	}
	return scheme + rest[at+1:end]
}

// dropUserInfo drops the user info of every authority in path: from each
// "//" to the last '@' before the next '/'.
func dropUserInfo(path string) string {
	var b strings.Builder
	for {
		i := strings.Index(path, "//")
		if i < 0 {
			b.WriteString(path)
			return b.String()
		}
		b.WriteString(path[:i+2])
		path = path[i+2:]
		end := strings.IndexByte(path, '/')
		if end < 0 {
			end = len(path)
		}
		if at := strings.LastIndexByte(path[:end], '@'); at >= 0 {
			path = path[at+1:]
		}
	}
}

// validScheme tells whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func validScheme(s string) bool {
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}
