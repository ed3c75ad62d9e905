package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1"
)

// Receiver is an event receiver on loopback standing in for
// notification-controller's: it keeps the Flux events posted to it, and the
// bodies of the requests that were not one.
type Receiver struct {
	// URL is the address to post events to.
	URL string

	mu       sync.Mutex
	events   []eventv1.Event
	rejected []string
}

// StartReceiver starts a Receiver, stopped when the test ends.
func StartReceiver(t testing.TB) *Receiver {
	t.Helper()
	rc := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// serve keeps a posted event and answers 202, as notification-controller
// does; anything else is kept as rejected and answered 400.
func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var e eventv1.Event
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := json.Unmarshal(body, &e); err != nil || r.Method != http.MethodPost {
		rc.rejected = append(rc.rejected, string(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, e)
	w.WriteHeader(http.StatusAccepted)
}

// Find returns the first event received with reason, or an error that
// lists the reasons received.
func (rc *Receiver) Find(reason string) (eventv1.Event, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var reasons []string
	for _, e := range rc.events {
		if e.Reason == reason {
			return e, nil
		}
		reasons = append(reasons, e.Reason)
	}
	return eventv1.Event{}, fmt.Errorf("no %s event received; got %v", reason, reasons)
}

// Reasons returns the reasons of the events received, in order.
func (rc *Receiver) Reasons() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]string, 0, len(rc.events))
	for _, e := range rc.events {
		out = append(out, e.Reason)
	}
	return out
}

// Count returns how many events with reason were received.
func (rc *Receiver) Count(reason string) int {
	n := 0
	for _, r := range rc.Reasons() {
		if r == reason {
			n++
		}
	}
	return n
}

// Rejected returns the bodies of the requests that were not a Flux event
// posted.
func (rc *Receiver) Rejected() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.rejected...)
}
