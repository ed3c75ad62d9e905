package exporter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/internal/fluxobj"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
	"github.com/fluxops/flux-operator/tests/fixtures"
)

// The exporter skips a rebuild while its lister counts no change. The
// objects a first read returns are not changes: counting the informer's
// initial list (replayed to the lister's handler after the read) made the
// first report after every start rebuild for nothing. A change after the
// read is counted, and so is a deletion.
func TestTheListerCountsChangesNotTheInitialList(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 150
	ns := "changes"
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	for i := range n {
		createFlux(t, fixtures.Bucket, ns, fmt.Sprintf("b-%d", i))
	}

	c, err := fluxobj.NewCompactCache(env.Config, cache.Options{Scheme: env.Scheme,
		DefaultTransform: metrics.NewTransform(metrics.Allowlist{})})
	require.NoError(t, err)
	go func() { _ = c.Start(ctx) }()
	l := &fluxobj.KindLister{Cache: c, APIReader: env.Client, Component: "test"}

	before := l.Changes()
	objs, err := l.Objects(ctx, fixtures.Bucket.GVK, ns)
	require.NoError(t, err)
	require.Len(t, objs, n)
	// The replay of the initial list to a new handler is asynchronous, but
	// it reaches the handler before any later event: the update below is
	// counted after it, so were the replay counted, the count would be off
	// by n there.
	assert.Equal(t, before, l.Changes(), "the initial list was counted as changes")
	objs, err = l.Objects(ctx, fixtures.Bucket.GVK, ns)
	require.NoError(t, err)
	require.Len(t, objs, n)
	assert.Equal(t, before, l.Changes(), "a second read counted changes")

	// An update is a change.
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fixtures.Bucket.GVK)
	u.SetNamespace(ns)
	u.SetName("b-0")
	require.NoError(t, env.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"touched":"yes"}}}`))))
	require.Eventually(t, func() bool { return l.Changes() == before+1 }, 10*time.Second, 20*time.Millisecond,
		"the update was not counted once: %d changes", l.Changes()-before)
	// So are a new object and a deletion.
	createFlux(t, fixtures.Bucket, ns, "b-new")
	require.NoError(t, env.Client.Delete(ctx, u))
	require.Eventually(t, func() bool { return l.Changes() == before+3 }, 10*time.Second, 20*time.Millisecond,
		"the add and the delete were not counted: %d changes", l.Changes()-before)
}
