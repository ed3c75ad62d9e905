package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// APIServerConnectedMetric is the gauge of the API server connection state:
// 1 while the API server answers, 0 during an outage.
const APIServerConnectedMetric = "flux_operator_api_server_connected"

// Probe timings of an APIServerMonitor.
const (
	// ProbeInterval is how often the API server is probed while it answers.
	ProbeInterval = 5 * time.Second
	// OutageProbeInterval is how often it is probed while it does not, which
	// bounds how long after its return lists and watches resume.
	OutageProbeInterval = time.Second
	// ProbeTimeout bounds one probe.
	ProbeTimeout = 5 * time.Second
)

// APIServerMonitor follows whether the API server answers, for a whole
// process: it probes /readyz, logs once when the API server is lost and once
// when it is back, exports the state as a gauge, and holds the lists and
// watches of the informers it wraps (NewInformer) while the API server is
// away, so they resume the moment it returns instead of after client-go's
// reflector backoff, which grows to 30 s or more (up to a minute with its
// jitter) during an outage.
type APIServerMonitor struct {
	probe func(ctx context.Context) error
	log   logr.Logger
	gauge prometheus.Gauge
	// Interval and OutageInterval are the probe periods while connected and
	// during an outage.
	Interval, OutageInterval time.Duration

	mu        sync.Mutex
	connected bool
	lostAt    time.Time
	// changed is closed and replaced at every change of connected.
	changed chan struct{}

	probeMu   sync.Mutex
	lastProbe time.Time

	// identity is the leader election identity of the process, the same
	// for the managers of its successive campaigns.
	identity     string
	identityOnce sync.Once
	// lease is the Lease lock of the latest manager.
	lease atomic.Pointer[leaseLock]
}

// NewAPIServerMonitor returns a monitor of the API server of cfg, which
// counts as connected until a probe says otherwise. Its gauge is registered
// in controller-runtime's registry, served on every binary's /metrics.
func NewAPIServerMonitor(cfg *rest.Config, log logr.Logger) (*APIServerMonitor, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc := dc.RESTClient()
	registerOnce.Do(func() { registerErr = ctrlmetrics.Registry.Register(connectedGauge) })
	if registerErr != nil {
		return nil, registerErr
	}
	return newMonitor(func(ctx context.Context) error {
		return rc.Get().AbsPath("/readyz").Do(ctx).Error()
	}, log, connectedGauge), nil
}

// The gauge of the process, in controller-runtime's registry: registered
// once, however many monitors a process (a test) makes.
var (
	connectedGauge = newConnectedGauge()
	registerOnce   sync.Once
	registerErr    error
)

func newConnectedGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name: APIServerConnectedMetric,
		Help: "Whether the API server answers (1) or is unreachable or not ready (0), probed on /readyz.",
	})
}

// NewAPIServerMonitorFunc returns a monitor whose probe is probe, with an
// unregistered gauge: for tests and for callers that probe another way.
func NewAPIServerMonitorFunc(probe func(ctx context.Context) error, log logr.Logger) *APIServerMonitor {
	return newMonitor(probe, log, newConnectedGauge())
}

func newMonitor(probe func(ctx context.Context) error, log logr.Logger, gauge prometheus.Gauge) *APIServerMonitor {
	m := &APIServerMonitor{
		probe: probe, log: log, gauge: gauge,
		Interval: ProbeInterval, OutageInterval: OutageProbeInterval,
		connected: true, changed: make(chan struct{}),
	}
	m.gauge.Set(1)
	return m
}

// Gauge is the connection state gauge.
func (m *APIServerMonitor) Gauge() prometheus.Gauge { return m.gauge }

// Connected says whether the API server answered the last probe.
func (m *APIServerMonitor) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connected
}

// Outage is how long the API server has been away, 0 while it answers.
func (m *APIServerMonitor) Outage() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.connected {
		return 0
	}
	return time.Since(m.lostAt)
}

// Run probes the API server until ctx is done.
func (m *APIServerMonitor) Run(ctx context.Context) {
	for {
		wait := m.Interval
		if !m.Check(ctx) {
			wait = m.OutageInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Check probes the API server now, unless another probe finished less than
// OutageInterval ago, and returns whether it answers.
func (m *APIServerMonitor) Check(ctx context.Context) bool {
	m.probeMu.Lock()
	defer m.probeMu.Unlock()
	if time.Since(m.lastProbe) < m.OutageInterval {
		return m.Connected()
	}
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	err := m.probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return m.Connected() // stopping: a cancelled probe says nothing
	}
	m.lastProbe = time.Now()
	m.set(answered(err), err)
	return m.Connected()
}

// answered says whether a probe's error still means that the API server
// answered: a 4xx status (a probe that is not allowed, say) does.
func answered(err error) bool {
	if err == nil {
		return true
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	code := int(status.Status().Code)
	return code >= http.StatusBadRequest && code < http.StatusInternalServerError
}

func (m *APIServerMonitor) set(connected bool, err error) {
	m.mu.Lock()
	if m.connected == connected {
		m.mu.Unlock()
		return
	}
	m.connected = connected
	outage := time.Since(m.lostAt)
	if !connected {
		m.lostAt = time.Now()
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
	if connected {
		m.gauge.Set(1)
		m.log.Info("the API server is back: lists and watches resume", "outage", outage.Round(time.Millisecond).String())
		return
	}
	m.gauge.Set(0)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	m.log.Info("lost the API server: serving what the cache holds, retrying every "+m.OutageInterval.String(), "error", msg)
}

// WaitConnected returns once the API server answers, or with ctx's error.
func (m *APIServerMonitor) WaitConnected(ctx context.Context) error {
	for {
		m.mu.Lock()
		connected, changed := m.connected, m.changed
		m.mu.Unlock()
		if connected {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// gated runs call once the API server answers; when call fails and a probe
// then finds the API server away, it waits for its return and calls again,
// so the caller only sees the errors of an API server that answers. An
// error the API server itself returned (a 4xx: a Lease not found yet, a
// watch too old, a conflict) needs no probe to tell.
func gated[T any](ctx context.Context, m *APIServerMonitor, call func() (T, error)) (T, error) {
	for {
		if err := m.WaitConnected(ctx); err != nil {
			var zero T
			return zero, err
		}
		v, err := call()
		if err == nil || ctx.Err() != nil || answered(err) || m.Check(ctx) {
			return v, err
		}
	}
}

// NewInformer is a cache.Options.NewInformer: client-go's shared index
// informer, whose lists and watches wait for the API server while it is away.
func (m *APIServerMonitor) NewInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration,
	indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(m.listerWatcher(lw, kindOf(obj)), obj, resync, indexers)
}

// kindOf names an informer's kind for its log lines.
func kindOf(obj runtime.Object) string {
	if gvk := obj.GetObjectKind().GroupVersionKind(); !gvk.Empty() {
		return gvk.String()
	}
	return fmt.Sprintf("%T", obj)
}

// The waits between lists of a kind the API server does not serve.
var (
	notServedFirstRetry = time.Second
	notServedMaxRetry   = 16 * time.Second
)

// whileNotServed calls call until the API server serves its kind: a list or
// watch answered 404 is of a kind that is not served, either yet (a
// restarted API server serves custom resources a few seconds after it is
// ready) or any more (its CRD was deleted, and the informer is stopped at
// the next report). Handed to client-go, the 404 would be logged as an error
// with a stack trace on every retry; here the informer logs once that it
// waits and once that the kind is back, and retries after 1s, 2s, 4s... up
// to 16s until it is served or stopped.
func whileNotServed[T any](ctx context.Context, log logr.Logger, call func() (T, error)) (T, error) {
	wait, waiting := notServedFirstRetry, false
	for {
		v, err := call()
		if !apierrors.IsNotFound(err) || ctx.Err() != nil {
			if waiting && err == nil {
				log.Info("the API server serves the kind again")
			}
			return v, err
		}
		if !waiting {
			log.Info("the API server does not serve the kind: waiting for it", "error", err.Error())
			waiting = true
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(2*wait, notServedMaxRetry)
	}
}

// stopped turns the error of a list or watch whose informer is stopping
// (its manager stepped down, say, while it waited for the API server) into
// io.EOF, which the reflector takes for a watch that ended normally: an
// informer that stops is not an error to log.
func stopped(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return io.EOF
	}
	return err
}

// ListerWatcher wraps lw so that its lists and watches wait for the API
// server while it is away.
func (m *APIServerMonitor) ListerWatcher(lw toolscache.ListerWatcher) toolscache.ListerWatcher {
	return m.listerWatcher(lw, "")
}

func (m *APIServerMonitor) listerWatcher(lw toolscache.ListerWatcher, kind string) toolscache.ListerWatcher {
	inner := toolscache.ToListerWatcherWithContext(lw)
	log := m.log
	if kind != "" {
		log = log.WithValues("kind", kind)
	}
	gatedLW := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			obj, err := whileNotServed(ctx, log, func() (runtime.Object, error) {
				return gated(ctx, m, func() (runtime.Object, error) { return inner.ListWithContext(ctx, opts) })
			})
			return obj, stopped(ctx, err)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			w, err := whileNotServed(ctx, log, func() (watch.Interface, error) {
				return gated(ctx, m, func() (watch.Interface, error) { return inner.WatchWithContext(ctx, opts) })
			})
			return w, stopped(ctx, err)
		},
	}
	if orig, ok := lw.(*toolscache.ListWatch); ok {
		gatedLW.DisableChunking = orig.DisableChunking
	}
	return listsThenWatches{gatedLW}
}

// listsThenWatches is a ListerWatcher whose informer lists, then watches,
// instead of asking for a watch list (client-go's WatchListClient, on by
// default): a watch list ends with a bookmark that the API server's watch
// cache sends on its bookmark timer, every 1 to 1.25 s, where a list from
// the watch cache ends with its last object. A binary's first report reads
// several kinds in turn (Nodes, Deployments, the Flux kinds, FluxInstances),
// and each informer waited up to that long to sync. The lists the binaries
// make are small (one namespace, a label), or are those of the Flux kinds,
// which fluxobj decodes item by item as they arrive.
type listsThenWatches struct {
	*toolscache.ListWatch
}

// IsWatchListSemanticsUnSupported tells client-go's reflector to list.
func (listsThenWatches) IsWatchListSemanticsUnSupported() bool { return true }
