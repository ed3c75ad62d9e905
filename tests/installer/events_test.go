package installer_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// logLines collects the installer's log lines.
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

func withLogs(l *logLines) func(*ctrl.Options) {
	return func(o *ctrl.Options) {
		o.Logger = funcr.New(func(prefix, args string) {
			l.mu.Lock()
			l.lines = append(l.lines, prefix+" "+args)
			l.mu.Unlock()
		}, funcr.Options{})
	}
}

// The installer's events reach an event receiver in Flux's format, with the
// revision, and the Kubernetes events carry the revision annotation;
// progress stays in Kubernetes.
func TestEventsAreForwardedToTheEventReceiver(t *testing.T) {
	ctx := context.Background()
	rc := testenv.StartReceiver(t)
	startInstallerWith(t, controller.Config{Namespace: ns, Notifications: controller.NotificationOptions{Address: rc.URL}})
	createInstance(t, &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}, Wait: ptrTo(false)}})
	waitReason(t, metav1.ConditionTrue, apiv1.ReconciliationSucceededReason)
	revision := getInstance(t).Status.LastAppliedRevision

	var got eventv1.Event
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		var err error
		got, err = rc.Find(apiv1.ReconciliationSucceededReason)
		return err
	}))
	assert.Equal(t, apiv1.FluxInstanceKind, got.InvolvedObject.Kind)
	assert.Equal(t, "fluxcd.controlplane.io/v1", got.InvolvedObject.APIVersion)
	assert.Equal(t, "flux", got.InvolvedObject.Name)
	assert.Equal(t, ns, got.InvolvedObject.Namespace)
	assert.Equal(t, eventv1.EventSeverityInfo, got.Severity)
	assert.Equal(t, "flux-operator", got.ReportingController)
	assert.Contains(t, got.Message, "Flux v2.9.5 installed")
	assert.Contains(t, got.Message, "Deployment/flux-system/source-controller created")
	assert.Equal(t, revision, got.Metadata[controller.RevisionAnnotation])
	assert.NotContains(t, rc.Reasons(), apiv1.ProgressingReason, "progress events are for Kubernetes only")
	assert.Empty(t, rc.Rejected())

	// The Kubernetes events are annotated with the revision.
	var list eventsv1.EventList
	require.NoError(t, env.Client.List(ctx, &list, client.InNamespace(ns)))
	annotated := map[string]string{}
	for _, e := range list.Items {
		if e.Regarding.Name == "flux" && e.Regarding.Kind == apiv1.FluxInstanceKind {
			annotated[e.Reason] = e.Annotations[controller.RevisionAnnotation]
			assert.Equal(t, "flux-operator", e.ReportingController)
		}
	}
	assert.Equal(t, revision, annotated[apiv1.ProgressingReason])
	assert.Equal(t, revision, annotated[apiv1.ReconciliationSucceededReason])

	// A reconciliation that changes nothing records nothing.
	succeeded := rc.Count(apiv1.ReconciliationSucceededReason)
	waitHandled(t, "noop")
	// Delivery is asynchronous: a stray event would arrive within 2s.
	assert.NoError(t, testenv.Consistently(ctx, 2*time.Second, func(context.Context) error {
		if n := rc.Count(apiv1.ReconciliationSucceededReason); n != succeeded {
			return fmt.Errorf("a no-op reconcile sent an event: %d ReconciliationSucceeded events, %d before it", n, succeeded)
		}
		return nil
	}))
	require.NoError(t, env.Client.List(ctx, &list, client.InNamespace(ns)))
	for _, e := range list.Items {
		if e.Regarding.Name == "flux" && e.Reason == apiv1.ReconciliationSucceededReason {
			assert.Nil(t, e.Series, "a no-op reconcile repeated the ReconciliationSucceeded event")
		}
	}

	// A failure is an error.
	patchSpec(t, func(s *apiv1.FluxInstanceSpec) { s.Distribution.Version = "9.x" })
	require.NoError(t, testenv.Eventually(ctx, 30*time.Second, func(context.Context) error {
		var err error
		got, err = rc.Find(apiv1.BuildFailedReason)
		return err
	}))
	assert.Equal(t, eventv1.EventSeverityError, got.Severity)
	assert.Contains(t, got.Message, `"9.x"`)
}

// With the receiver down the instance still becomes Ready, and each event
// that cannot be delivered is logged once, after its retries.
func TestAnUnreachableReceiverNeverFailsTheReconcile(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + l.Addr().String() + "/"
	require.NoError(t, l.Close())
	logs := &logLines{}
	startInstallerWith(t, controller.Config{Namespace: ns, Notifications: controller.NotificationOptions{Address: down, RetryMax: 1}},
		withLogs(logs))
	createInstance(t, &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns},
		Spec: apiv1.FluxInstanceSpec{Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd"}, Wait: ptrTo(false)}})
	waitReason(t, metav1.ConditionTrue, apiv1.ReconciliationSucceededReason)
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		if n := logs.count("unable to record event"); n == 0 {
			return fmt.Errorf("the undelivered event was not logged")
		}
		return nil
	}))
	// One ReconciliationSucceeded event, one log line: retries are not logged.
	assert.Equal(t, 1, logs.count("unable to record event"), "log lines: %d", logs.count(""))
}
