package bootstrap

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// fakeAPIServer is what the monitor's probe and a ListerWatcher see: up or
// refusing connections.
type fakeAPIServer struct {
	down   atomic.Bool
	lists  atomic.Int32
	probes atomic.Int32
}

var errRefused = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")

func (f *fakeAPIServer) probe(context.Context) error {
	f.probes.Add(1)
	if f.down.Load() {
		return errRefused
	}
	return nil
}

// waitProbes waits until n more probes have been made than when it is
// called: all but the last have finished, and what they changed is done.
func (f *fakeAPIServer) waitProbes(t *testing.T, n int32) {
	t.Helper()
	want := f.probes.Load() + n
	waitFor(t, func() bool { return f.probes.Load() >= want })
}

func newTestMonitor(t *testing.T, f *fakeAPIServer) (*APIServerMonitor, *logLines) {
	t.Helper()
	logs := &logLines{}
	log := funcr.New(func(_, args string) {
		logs.mu.Lock()
		logs.lines = append(logs.lines, args)
		logs.mu.Unlock()
	}, funcr.Options{})
	m := NewAPIServerMonitorFunc(f.probe, log)
	m.Interval, m.OutageInterval = 20*time.Millisecond, 5*time.Millisecond
	return m, logs
}

func TestAPIServerMonitorLogsAnOutageOnceAndItsEndOnce(t *testing.T) {
	f := &fakeAPIServer{}
	m, logs := newTestMonitor(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)

	f.down.Store(true)
	waitFor(t, func() bool { return !m.Connected() })
	f.waitProbes(t, 5) // several probes fail
	if got := testutil.ToFloat64(m.Gauge()); got != 0 {
		t.Errorf("%s = %v during the outage, want 0", APIServerConnectedMetric, got)
	}
	if m.Outage() <= 0 {
		t.Errorf("Outage() = %v during the outage", m.Outage())
	}
	f.down.Store(false)
	waitFor(t, m.Connected)
	f.waitProbes(t, 3) // several probes pass
	if got := testutil.ToFloat64(m.Gauge()); got != 1 {
		t.Errorf("%s = %v after the outage, want 1", APIServerConnectedMetric, got)
	}
	if m.Outage() != 0 {
		t.Errorf("Outage() = %v after the outage", m.Outage())
	}
	if n := logs.count("lost the API server"); n != 1 {
		t.Errorf("logged the loss %d times, want once: %q", n, logs.lines)
	}
	if n := logs.count("the API server is back"); n != 1 {
		t.Errorf("logged the return %d times, want once: %q", n, logs.lines)
	}
}

func TestAPIServerMonitorCountsAnAnswerThatRefusesAsConnected(t *testing.T) {
	gr := schema.GroupResource{Resource: "readyz"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, true},
		{apierrors.NewForbidden(gr, "", errors.New("no")), true},
		{apierrors.NewUnauthorized("no"), true},
		{apierrors.NewServiceUnavailable("starting"), false},
		{apierrors.NewInternalError(errors.New("etcd")), false},
		{errRefused, false},
		{context.DeadlineExceeded, false},
	} {
		if got := answered(tc.err); got != tc.want {
			t.Errorf("answered(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A list that fails because the API server went away waits for its return
// and is retried then, instead of returning the error to the reflector, whose
// backoff would delay the informer's recovery.
func TestAListWaitsForTheAPIServerAndResumesWhenItIsBack(t *testing.T) {
	f := &fakeAPIServer{}
	m, _ := newTestMonitor(t, f)
	lw := m.ListerWatcher(&toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			f.lists.Add(1)
			if f.down.Load() {
				return nil, errRefused
			}
			return &metav1.List{ListMeta: metav1.ListMeta{ResourceVersion: "42"}}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	})
	lwc := toolscache.ToListerWatcherWithContext(lw)

	f.down.Store(true)
	type result struct {
		obj runtime.Object
		err error
	}
	done := make(chan result, 1)
	go func() {
		obj, err := lwc.ListWithContext(context.Background(), metav1.ListOptions{})
		done <- result{obj, err}
	}()
	waitFor(t, func() bool { return !m.Connected() })
	select {
	case r := <-done:
		t.Fatalf("the list returned during the outage: %v, %v", r.obj, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	if n := f.lists.Load(); n != 1 {
		t.Errorf("the list was tried %d times during the outage, want once", n)
	}

	f.down.Store(false)
	go m.Run(t.Context())
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("the list failed after the API server returned: %v", r.err)
		}
		if rv := r.obj.(*metav1.List).ResourceVersion; rv != "42" {
			t.Errorf("the list returned resourceVersion %q, want the server's 42", rv)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the list did not resume after the API server returned")
	}

	// An error of an API server that answers is the caller's to handle.
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "gitrepositories"}, "", errors.New("RBAC"))
	lw = m.ListerWatcher(&toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) { return nil, forbidden },
	})
	if _, err := toolscache.ToListerWatcherWithContext(lw).ListWithContext(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("a forbidden list returned %v, want the Forbidden error", err)
	}

	// A stopping informer is not held, and its reflector is told the watch
	// ended normally (io.EOF), not an error to log.
	f.down.Store(true)
	waitFor(t, func() bool { return !m.Connected() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := lwc.ListWithContext(ctx, metav1.ListOptions{}); err != io.EOF {
		t.Errorf("a list whose context ended returned %v, want io.EOF", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A restarted API server serves custom resources a few seconds after it is
// ready: the lists in between are answered 404, which the informer waits out
// with one line each way instead of handing client-go an error to log.
func TestAListOfAKindNotServedYetWaitsForIt(t *testing.T) {
	first, maxRetry := notServedFirstRetry, notServedMaxRetry
	notServedFirstRetry, notServedMaxRetry = 5*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { notServedFirstRetry, notServedMaxRetry = first, maxRetry })

	f := &fakeAPIServer{}
	m, logs := newTestMonitor(t, f)
	gr := schema.GroupResource{Group: "source.toolkit.fluxcd.io", Resource: "gitrepositories"}
	var served atomic.Bool
	lw := toolscache.ToListerWatcherWithContext(m.listerWatcher(&toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			f.lists.Add(1)
			if !served.Load() {
				return nil, apierrors.NewNotFound(gr, "")
			}
			return &metav1.List{ListMeta: metav1.ListMeta{ResourceVersion: "7"}}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}, "source.toolkit.fluxcd.io/v1, Kind=GitRepository"))

	done := make(chan error, 1)
	go func() {
		_, err := lw.ListWithContext(t.Context(), metav1.ListOptions{})
		done <- err
	}()
	waitFor(t, func() bool { return f.lists.Load() >= 4 })
	select {
	case err := <-done:
		t.Fatalf("the list returned while the kind was not served: %v", err)
	default:
	}
	served.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the list failed once the kind was served: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the list did not return once the kind was served")
	}
	if n := logs.count(`"msg"="the API server does not serve the kind: waiting for it"`); n != 1 {
		t.Errorf("the wait was logged %d times, want once:\n%s", n, strings.Join(logs.lines, "\n"))
	}
	if n := logs.count(`"msg"="the API server serves the kind again" "kind"="source.toolkit.fluxcd.io/v1, Kind=GitRepository"`); n != 1 {
		t.Errorf("the kind's return was logged %d times, want once:\n%s", n, strings.Join(logs.lines, "\n"))
	}

	// An informer stopped while it waits (its kind deleted) ends quietly.
	served.Store(false)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_, err := lw.ListWithContext(ctx, metav1.ListOptions{})
		done <- err
	}()
	waitFor(t, func() bool { return logs.count("does not serve the kind") == 2 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("a list stopped while waiting returned %v, want io.EOF (an informer that stops is not an error)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the list did not return when its informer stopped")
	}
}

// The binaries' informers list, then watch: a watch list waits for the API
// server's bookmark timer (up to 1.25 s) before its informer syncs.
func TestTheInformersListInsteadOfAskingForWatchLists(t *testing.T) {
	m, _ := newTestMonitor(t, &fakeAPIServer{})
	inner := &toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return &metav1.List{}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}
	if !watchlist.DoesClientNotSupportWatchListSemantics(m.listerWatcher(inner, "GitRepository")) {
		t.Error("the wrapped ListerWatcher lets its reflector ask for watch lists")
	}
}
