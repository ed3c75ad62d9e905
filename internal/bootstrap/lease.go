package bootstrap

import (
	"context"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderLock is the leader election Lease lock of a manager (as
// controller-runtime makes it, without its events) whose reads and writes
// wait for the API server while it is away: a replica campaigning during an
// outage waits quietly instead of logging a failed read every retry period,
// and takes the Lease the moment the API server is back. A leader that
// cannot renew within the renew deadline still steps down, and the lock
// knows it: LeaseLost says so once the manager has stopped.
func (m *APIServerMonitor) LeaderLock(cfg *rest.Config, namespace, name string, renewDeadline time.Duration) (resourcelock.Interface, error) {
	// A new campaign of the same process keeps its identity: the Lease it
	// held before an outage is its own, taken back at once rather than after
	// a lease duration.
	m.identityOnce.Do(func() {
		host, err := os.Hostname()
		if err != nil {
			host = "flux-operator"
		}
		m.identity = host + "_" + string(uuid.NewUUID())
	})
	cfg = rest.AddUserAgent(cfg, "leader-election")
	// One hung request must not use up the renew deadline.
	cfg.Timeout = max(renewDeadline/2, time.Second)
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, name, core, coord,
		resourcelock.ResourceLockConfig{Identity: m.identity})
	if err != nil {
		return nil, err
	}
	l := newLeaseLock(lock, m, renewDeadline)
	m.lease.Store(l)
	return l, nil
}

// LeaseLost reports whether the latest manager's Lease was lost: held, then
// not renewed for the renew deadline, which is when client-go's elector
// stops leading and the manager stops. lastRenewed is its last renewal.
func (m *APIServerMonitor) LeaseLost() (lost bool, lastRenewed time.Time) {
	l := m.lease.Load()
	if l == nil {
		return false, time.Time{}
	}
	return l.lost()
}

// leaseLock gates a Lease lock on the API server and records when this
// process last wrote the Lease as its holder.
type leaseLock struct {
	resourcelock.Interface
	m             *APIServerMonitor
	renewDeadline time.Duration
	now           func() time.Time

	mu      sync.Mutex
	renewed time.Time // zero until the Lease is held
}

func newLeaseLock(lock resourcelock.Interface, m *APIServerMonitor, renewDeadline time.Duration) *leaseLock {
	return &leaseLock{Interface: lock, m: m, renewDeadline: renewDeadline, now: time.Now}
}

// lost: the Lease was held and has not been renewed for the renew deadline.
// A manager stopped for any other reason (a runnable's error, a signal)
// renewed it within a retry period of stopping.
func (l *leaseLock) lost() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.renewed.IsZero() && l.now().Sub(l.renewed) >= l.renewDeadline, l.renewed
}

// wrote records a successful write of ler: a renewal when this process is
// its holder (a release writes an empty holder).
func (l *leaseLock) wrote(ler resourcelock.LeaderElectionRecord) {
	if ler.HolderIdentity != l.Identity() {
		return
	}
	l.mu.Lock()
	l.renewed = l.now()
	l.mu.Unlock()
}

func (l *leaseLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	type got struct {
		rec *resourcelock.LeaderElectionRecord
		raw []byte
	}
	g, err := gated(ctx, l.m, func() (got, error) {
		rec, raw, err := l.Interface.Get(ctx)
		return got{rec, raw}, err
	})
	return g.rec, g.raw, err
}

func (l *leaseLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	_, err := gated(ctx, l.m, func() (struct{}, error) { return struct{}{}, l.Interface.Create(ctx, ler) })
	if err == nil {
		l.wrote(ler)
	}
	return err
}

func (l *leaseLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	_, err := gated(ctx, l.m, func() (struct{}, error) { return struct{}{}, l.Interface.Update(ctx, ler) })
	if err == nil {
		l.wrote(ler)
	}
	return err
}
