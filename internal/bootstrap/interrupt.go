package bootstrap

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Interruptible wraps a reconciler whose work is safe to cut short: a
// reconcile that fails because the manager is stopping (SIGTERM, a lost
// Lease) ends without an error, which controller-runtime would log as a
// "Reconciler error" with a stack trace on every shutdown that lands during
// one. The next leader or process does the work again.
func Interruptible(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err != nil && ctx.Err() != nil {
			log.FromContext(ctx).Info("interrupted: the manager is stopping; the next leader or process does it again",
				"error", err.Error())
			return reconcile.Result{}, nil
		}
		return res, err
	})
}
