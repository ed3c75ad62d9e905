package controller

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/distribution"
)

// ReconcileArtifactEveryAnnotation sets how often the distribution artifact
// of an instance is checked for a new digest (a Go duration).
const ReconcileArtifactEveryAnnotation = "fluxcd.controlplane.io/reconcileArtifactEvery"

// ArtifactWatcher checks the digest of the instance's distribution artifact
// every fluxcd.controlplane.io/reconcileArtifactEvery (default 10m), with one
// HEAD request, and asks for a reconciliation (reconcile.fluxcd.io/requestedAt)
// when it differs from status.lastArtifactRevision: a tag such as latest was
// pushed again. It runs on the leader only.
type ArtifactWatcher struct {
	Client    client.Client
	Namespace string
	Options   distribution.ArtifactOptions
	// secrets reads the artifact pull secret; Client when nil.
	secrets client.Reader
	// Tick is how often the watcher looks at the instance; 30s when zero.
	Tick time.Duration

	lastCheck time.Time
}

// Start runs until ctx is done.
func (w *ArtifactWatcher) Start(ctx context.Context) error {
	tick := w.Tick
	if tick <= 0 {
		tick = 30 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := w.check(ctx); err != nil {
				log.FromContext(ctx).Error(err, "failed to check the distribution artifact; retrying at the next interval")
			}
		}
	}
}

func (w *ArtifactWatcher) check(ctx context.Context) error {
	fi := &apiv1.FluxInstance{}
	if err := w.Client.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: apiv1.DefaultName}, fi); err != nil {
		return client.IgnoreNotFound(err)
	}
	d := fi.Spec.Distribution
	if d.Artifact == "" || fi.IsDisabled() || !fi.DeletionTimestamp.IsZero() || fi.Status.LastArtifactRevision == "" {
		return nil // nothing pulled yet: the reconciler will
	}
	interval := distribution.DefaultPollInterval
	if v, ok := fi.Annotations[ReconcileArtifactEveryAnnotation]; ok {
		if p, err := time.ParseDuration(v); err == nil && p > 0 {
			interval = p
		}
	}
	if time.Since(w.lastCheck) < interval {
		return nil
	}
	w.lastCheck = time.Now()
	o, err := artifactOptions(ctx, w.secrets, w.Client, fi, w.Options)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	digest, err := distribution.ArtifactDigest(cctx, d.Artifact, o)
	if err != nil {
		return err
	}
	if digest == fi.Status.LastArtifactRevision {
		return nil
	}
	log.FromContext(ctx).Info("the distribution artifact moved: reconciling", "artifact", distribution.RedactArtifactURL(d.Artifact),
		"from", fi.Status.LastArtifactRevision, "to", digest)
	patch := client.MergeFrom(fi.DeepCopy())
	if fi.Annotations == nil {
		fi.Annotations = map[string]string{}
	}
	fi.Annotations[apiv1.ReconcileRequestAnnotation] = metav1.Now().Format(time.RFC3339Nano)
	if err := w.Client.Patch(ctx, fi, patch); err != nil {
		return fmt.Errorf("failed to ask for a reconciliation: %w", err)
	}
	return nil
}
