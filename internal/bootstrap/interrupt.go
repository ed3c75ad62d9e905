package bootstrap

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Interrupted reports whether err ended a reconcile only because the
// manager is stopping (SIGTERM, a lost Lease), and then logs it once at
// info: the run was cut short, it did not fail, and the next leader or
// process does it again. A caller that writes status skips it then, as a
// Warning or a Ready=False saying the run failed would be false.
func Interrupted(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() == nil {
		return false
	}
	log.FromContext(ctx).Info("reconciliation interrupted: the manager is stopping; the next leader or process does it again",
		"error", err.Error())
	return true
}

// Interruptible wraps a reconciler whose work is safe to cut short: a
// reconcile that fails because the manager is stopping ends without an
// error, which controller-runtime would log as a "Reconciler error" with a
// stack trace on every shutdown that lands during one.
func Interruptible(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if Interrupted(ctx, err) {
			return reconcile.Result{}, nil
		}
		return res, err
	})
}
