package bootstrap

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// memLock is a Lease in memory that another replica can take over: from
// then on this replica's writes conflict, as they do on an API server.
type memLock struct {
	id     string
	failed atomic.Bool
	mu     sync.Mutex
	rec    *resourcelock.LeaderElectionRecord
}

func (l *memLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rec == nil {
		return nil, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "leases"}, "test")
	}
	r := *l.rec
	return &r, []byte(r.HolderIdentity + r.RenewTime.String()), nil
}

func (l *memLock) write(ler resourcelock.LeaderElectionRecord) error {
	if l.failed.Load() {
		return apierrors.NewConflict(schema.GroupResource{Resource: "leases"}, "test", nil)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec = &ler
	return nil
}

func (l *memLock) takeOver(holder string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed.Store(true)
	r := *l.rec
	r.HolderIdentity = holder
	l.rec = &r
}

func (l *memLock) Create(_ context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.write(ler)
}
func (l *memLock) Update(_ context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.write(ler)
}
func (l *memLock) RecordEvent(string) {}
func (l *memLock) Identity() string   { return l.id }
func (l *memLock) Describe() string   { return "test/lease" }

// elect runs client-go's elector on the lock as controller-runtime does,
// until it stops leading or ctx is done; it returns once the Lease is held
// and a channel closed when the elector has stopped.
func elect(ctx context.Context, t *testing.T, lock resourcelock.Interface) <-chan struct{} {
	t.Helper()
	started, stopped := make(chan struct{}), make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 600 * time.Millisecond, RenewDeadline: 400 * time.Millisecond, RetryPeriod: 50 * time.Millisecond,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(started) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { defer close(stopped); le.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the Lease was not acquired")
	}
	return stopped
}

func TestTheLeaseLockKnowsWhenTheLeaseWasLost(t *testing.T) {
	m := NewAPIServerMonitorFunc(func(context.Context) error { return nil }, logr.Discard())
	inner := &memLock{id: "me"}
	l := newLeaseLock(inner, m, 400*time.Millisecond)
	m.lease.Store(l)

	stopped := elect(t.Context(), t, l)
	if lost, renewed := m.LeaseLost(); lost || renewed.IsZero() {
		t.Fatalf("LeaseLost() = %v, %v while leading, want false and a renewal", lost, renewed)
	}
	// Another replica took the Lease: every renewal fails from now on.
	inner.takeOver("other")
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the elector did not stop leading")
	}
	lost, renewed := m.LeaseLost()
	if !lost {
		t.Fatal("LeaseLost() = false after the elector stopped leading for lack of renewals")
	}
	if since := time.Since(renewed); since < 400*time.Millisecond {
		t.Errorf("last renewal %s ago, want at least the renew deadline", since)
	}
}

func TestAStopThatIsNotALostLeaseIsNotOne(t *testing.T) {
	m := NewAPIServerMonitorFunc(func(context.Context) error { return nil }, logr.Discard())
	inner := &memLock{id: "me"}
	l := newLeaseLock(inner, m, 400*time.Millisecond)
	m.lease.Store(l)

	// A SIGTERM (or a runnable's error) cancels the elector: it releases the
	// Lease, which writes an empty holder, and that is no renewal.
	ctx, cancel := context.WithCancel(t.Context())
	stopped := elect(ctx, t, l)
	cancel()
	<-stopped
	inner.mu.Lock()
	holder := inner.rec.HolderIdentity
	inner.mu.Unlock()
	if holder != "" {
		t.Fatalf("the Lease was not released: holder %q", holder)
	}
	if lost, _ := m.LeaseLost(); lost {
		t.Error("LeaseLost() = true right after a stop by cancellation")
	}
	// A manager that never held the Lease did not lose it, however long ago
	// it started.
	m.lease.Store(newLeaseLock(&memLock{id: "other"}, m, time.Nanosecond))
	if lost, _ := m.LeaseLost(); lost {
		t.Error("LeaseLost() = true for a Lease never held")
	}
}
