package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestInterruptible(t *testing.T) {
	failing := Interruptible(reconcile.Func(func(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
		if ctx.Err() != nil {
			return reconcile.Result{}, fmt.Errorf("failed to apply the FluxReport spec: %w", ctx.Err())
		}
		return reconcile.Result{RequeueAfter: time.Minute}, errors.New("the API server refused the write")
	}))

	res, err := failing.Reconcile(t.Context(), reconcile.Request{})
	if err == nil || res.RequeueAfter != time.Minute {
		t.Errorf("a failure while running must reach controller-runtime as it is, got %v, %v", res, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if res, err := failing.Reconcile(ctx, reconcile.Request{}); err != nil || res != (reconcile.Result{}) {
		t.Errorf("a reconcile cut short by the manager stopping is not an error to log, got %v, %v", res, err)
	}
}
