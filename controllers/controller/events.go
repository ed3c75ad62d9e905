package controller

import (
	"context"
	"sync"

	fluxevents "github.com/fluxcd/pkg/runtime/events"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/builder"
)

// RevisionAnnotation carries the revision an event is about, on the
// Kubernetes event and, as metadata, on the notification-controller event.
const RevisionAnnotation = "fluxcd.controlplane.io/revision"

// NotificationOptions say where the installer's events are forwarded.
type NotificationOptions struct {
	// Address of notification-controller's event receiver; when empty, the
	// in-cluster notification-controller of the instance, if it installs one.
	Address string
	// Disabled turns forwarding off.
	Disabled bool
	// RetryMax is how many times an undelivered event is retried (3 when
	// zero); each attempt times out after 5s.
	RetryMax int
	// QueueSize bounds the events waiting for delivery (100 when zero); an
	// event that finds the queue full is dropped and logged.
	QueueSize int
}

// notification is one event waiting for delivery.
type notification struct {
	address  string
	obj      *apiv1.FluxInstance
	typ      string
	reason   string
	message  string
	metadata map[string]string
}

// Notifier records the installer's events: a Kubernetes event on the
// instance, reported by flux-operator, and the same event forwarded to
// notification-controller in Flux's event format. Forwarding happens off the
// reconcile: an unreachable receiver costs the reconcile nothing, the event
// is retried with backoff, and each undelivered event is logged once.
type Notifier struct {
	kube    recorder.EventRecorder
	scheme  *runtime.Scheme
	options NotificationOptions
	log     logr.Logger
	queue   chan notification

	mu        sync.Mutex
	recorders map[string]fluxevents.Recorder
}

// NewNotifier returns a Notifier that records Kubernetes events with kube
// (nil: none) and forwards them as o says; it delivers once started.
func NewNotifier(kube recorder.EventRecorder, scheme *runtime.Scheme, o NotificationOptions, log logr.Logger) *Notifier {
	if o.RetryMax == 0 {
		o.RetryMax = 3
	}
	if o.QueueSize == 0 {
		o.QueueSize = 100
	}
	return &Notifier{kube: kube, scheme: scheme, options: o, log: log, queue: make(chan notification, o.QueueSize),
		recorders: map[string]fluxevents.Recorder{}}
}

// Event records an event on the instance about revision (may be empty).
// Progress events stay in Kubernetes; the others are also forwarded.
func (n *Notifier) Event(obj *apiv1.FluxInstance, typ, reason, revision, msg string) {
	if n == nil {
		return
	}
	var annotations map[string]string
	if revision != "" {
		annotations = map[string]string{RevisionAnnotation: revision}
	}
	if n.kube != nil {
		// The API server takes notes of at most 1024 bytes; notification-
		// controller gets the whole message.
		n.kube.AnnotatedEventf(obj, nil, annotations, typ, reason, "Reconcile", "%s", eventMessage(msg))
	}
	if reason == apiv1.ProgressingReason {
		return
	}
	addr := n.address(obj)
	if addr == "" {
		return
	}
	select {
	case n.queue <- notification{address: addr, obj: obj.DeepCopy(), typ: typ, reason: reason, message: msg, metadata: annotations}:
	default:
		n.log.Info("dropped an event for notification-controller: too many undelivered events queued", "reason", reason,
			"address", addr, "queued", cap(n.queue))
	}
}

// address is where the events of obj go: the configured address, else the
// instance's own notification-controller; "" when forwarding is off.
func (n *Notifier) address(obj *apiv1.FluxInstance) string {
	switch {
	case n.options.Disabled:
		return ""
	case n.options.Address != "":
		return n.options.Address
	}
	for _, c := range obj.GetComponents() {
		if c == "notification-controller" {
			return InClusterNotificationAddress(obj)
		}
	}
	return ""
}

// InClusterNotificationAddress is the event receiver of the
// notification-controller an instance installs.
func InClusterNotificationAddress(obj *apiv1.FluxInstance) string {
	return builder.NotificationAddress(obj.Namespace, &obj.Spec)
}

// Start delivers queued events until ctx is done. An event being delivered
// when ctx ends is abandoned after its current attempt.
func (n *Notifier) Start(ctx context.Context) error {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-n.queue:
				n.deliver(e)
			}
		}
	}()
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: only the leader records events, and every
// replica must be able to drain what it queued.
func (n *Notifier) NeedLeaderElection() bool { return false }

func (n *Notifier) deliver(e notification) {
	r, err := n.recorder(e.address)
	if err != nil {
		n.log.Error(err, "invalid notification-controller address", "address", e.address)
		return
	}
	// The recorder retries, then logs "unable to record event" once.
	r.AnnotatedEventf(e.obj, nil, e.metadata, e.typ, e.reason, "Reconcile", "%s", e.message)
}

// recorder returns the webhook-only Flux recorder for address.
func (n *Notifier) recorder(address string) (fluxevents.Recorder, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.recorders[address]; ok {
		return r, nil
	}
	r, err := fluxevents.NewRecorder(n.log.WithValues("address", address), address, FieldManager,
		fluxevents.WithScheme(n.scheme), fluxevents.WithRetryMax(n.options.RetryMax))
	if err != nil {
		return nil, err
	}
	n.recorders[address] = r
	return r, nil
}
