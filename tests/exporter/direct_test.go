package exporter_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/internal/fluxobj"
	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// directKinds are the kinds the direct-decoding cache is compared on: every
// kind with per-kind labels, and a static one.
var directKinds = []fixtures.Kind{
	fixtures.GitRepository, fixtures.OCIRepository, fixtures.Bucket, fixtures.HelmRepository,
	fixtures.Kustomization, fixtures.HelmRelease, fixtures.HelmChart, fixtures.Receiver,
	fixtures.ImageRepository, fixtures.ImagePolicy, fixtures.ImageUpdateAutomation, fixtures.Alert,
}

// The exporter's cache decodes Flux objects straight from the API server's
// JSON into compact Objects, and lists them (decoding the list as it
// arrives) rather than asking for a watch list. Read from the real API
// server, it must hold what the cache that decodes into unstructured objects
// and compacts them holds (with watch lists, and without), object for
// object, through the initial lists and the watch events that follow:
// updates, adds and deletes.
func TestTheDirectCacheHoldsWhatTheUnstructuredCacheHolds(t *testing.T) {
	for _, watchList := range []bool{true, false} {
		t.Run(fmt.Sprintf("WatchListClient=%v", watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			testDirectCache(t, fmt.Sprintf("direct-%v", watchList))
		})
	}
}

func testDirectCache(t *testing.T, ns string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	for i, k := range directKinds {
		for j := range 4 {
			opts := []fixtures.Option{fixtures.Labels(map[string]string{"team": "platform", "app.kubernetes.io/name": "demo"})}
			switch {
			case k.GVK.Kind == "Alert": // no status subresource
				if j == 1 {
					opts = append(opts, fixtures.Suspended())
				}
			case j == 0:
				opts = append(opts, fixtures.Ready("True", "Succeeded", "Applied revision: main@sha1:abc"), fixtures.Artifact(int64(1000+i)),
					fixtures.Status("main@sha1:abc", "lastAppliedRevision"))
			case j == 1:
				opts = append(opts, fixtures.Ready("False", "BuildFailed", "kustomize build failed: \"quoted\"\nsecond line"), fixtures.Suspended())
			case j == 2:
				opts = append(opts, fixtures.Status("/hook/"+k.GVK.Kind, "webhookPath"))
			}
			createFlux(t, k, ns, fmt.Sprintf("%s-%d", strings.ToLower(k.GVK.Kind), j), opts...)
		}
	}
	allow, err := metrics.ParseAllowlist("team")
	require.NoError(t, err)
	opts := func() cache.Options {
		return cache.Options{Scheme: env.Scheme, DefaultTransform: metrics.NewTransform(allow)}
	}
	// What the direct cache's transform receives: Objects, decoded
	// already, and never an unstructured object.
	var decoded, unstructuredIn atomic.Int64
	directOpts := opts()
	transform := directOpts.DefaultTransform
	directOpts.DefaultTransform = func(in any) (any, error) {
		switch in.(type) {
		case *fluxobj.Object:
			decoded.Add(1)
		case *unstructured.Unstructured:
			unstructuredIn.Add(1)
		}
		return transform(in)
	}
	// The binaries' caches have a NewInformer of their own (it follows the
	// API server): it still makes the informers, of Objects.
	var examples sync.Map
	directOpts.NewInformer = func(lw toolscache.ListerWatcher, ex runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
		examples.Store(ex.GetObjectKind().GroupVersionKind().Kind, fmt.Sprintf("%T", ex))
		return toolscache.NewSharedIndexInformer(lw, ex, resync, idx)
	}
	requests := &testenv.RequestCounter{}
	direct, err := metrics.NewCache(allow)(requests.Config(env.Config), directOpts)
	require.NoError(t, err)
	full, err := fluxobj.NewCompactCache(env.Config, opts())
	require.NoError(t, err)
	go func() { _ = direct.Start(ctx) }()
	go func() { _ = full.Start(ctx) }()
	dl := &fluxobj.KindLister{Cache: direct, APIReader: env.Client, Component: "test", Track: true}
	fl := &fluxobj.KindLister{Cache: full, APIReader: env.Client, Component: "test"}

	// same waits until both caches hold the same Objects of every kind,
	// and those of the direct cache satisfy until, and returns them.
	same := func(what string, until func(map[schema.GroupVersionKind][]*fluxobj.Object) string) map[schema.GroupVersionKind][]*fluxobj.Object {
		t.Helper()
		got := map[schema.GroupVersionKind][]*fluxobj.Object{}
		var diff string
		ok := assert.Eventually(t, func() bool {
			diff = ""
			for _, k := range directKinds {
				d, err := dl.Objects(ctx, k.GVK, ns)
				require.NoError(t, err)
				f, err := fl.Objects(ctx, k.GVK, ns)
				require.NoError(t, err)
				sortObjects(d)
				sortObjects(f)
				if len(d) != len(f) {
					diff = fmt.Sprintf("%s: %d objects, the unstructured cache %d", k.GVK.Kind, len(d), len(f))
					return false
				}
				for i := range d {
					if !assert.ObjectsAreEqual(f[i], d[i]) {
						diff = fmt.Sprintf("%s %s:\n%#v\nthe unstructured cache:\n%#v", k.GVK.Kind, d[i].Name, d[i], f[i])
						return false
					}
				}
				got[k.GVK] = d
			}
			diff = until(got)
			return diff == ""
		}, 20*time.Second, 50*time.Millisecond)
		if !ok {
			t.Fatalf("%s: the caches differ: %s", what, diff)
		}
		return got
	}

	first := same("after the initial lists", func(got map[schema.GroupVersionKind][]*fluxobj.Object) string {
		for _, k := range directKinds {
			if len(got[k.GVK]) != 4 {
				return fmt.Sprintf("%d %s objects", len(got[k.GVK]), k.GVK.Kind)
			}
		}
		return ""
	})
	for _, k := range directKinds {
		objs := first[k.GVK]
		require.Len(t, objs, 4)
		// What the series read is there: not only what both could miss.
		assert.True(t, objs[1].Suspended, k.GVK.Kind)
		assert.Equal(t, map[string]string{"team": "platform"}, objs[2].Labels, k.GVK.Kind)
		if k.GVK.Kind == "Alert" {
			assert.True(t, objs[0].Static)
			continue
		}
		assert.Equal(t, "True", objs[0].Ready.Status, k.GVK.Kind)
		if slices.Contains([]string{"GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"}, k.GVK.Kind) {
			assert.True(t, objs[0].HasArtifactSize, k.GVK.Kind)
		}
		assert.Equal(t, "BuildFailed", objs[1].Ready.Reason, k.GVK.Kind)
		if len(metrics.KindLabels[k.GVK.Kind]) > 0 {
			assert.Len(t, objs[0].Values, len(metrics.KindLabels[k.GVK.Kind]), k.GVK.Kind)
		}
	}
	assert.Zero(t, unstructuredIn.Load(), "the direct cache decoded objects into unstructured ones")
	for _, k := range directKinds {
		ex, _ := examples.Load(k.GVK.Kind)
		assert.Equal(t, "*fluxobj.Object", ex, "the %s informer was not made by the cache's NewInformer, of Objects", k.GVK.Kind)
	}
	assert.GreaterOrEqual(t, decoded.Load(), int64(4*len(directKinds)), "the direct cache's transform saw no decoded Objects")
	// One list (not a watch) of each kind's collection, then a watch.
	for _, k := range directKinds {
		mapping, err := env.Client.RESTMapper().RESTMapping(k.GVK.GroupKind(), k.GVK.Version)
		require.NoError(t, err)
		lists, watches := 0, 0
		for _, r := range requests.Since(0) {
			if r.Method == "GET" && strings.HasSuffix(r.Path, "/"+mapping.Resource.Resource) {
				if r.Watch {
					watches++
				} else {
					lists++
				}
			}
		}
		assert.Equal(t, 1, lists, "%s: lists by the direct cache", k.GVK.Kind)
		assert.GreaterOrEqual(t, watches, 1, "%s: watches by the direct cache", k.GVK.Kind)
	}
	for _, k := range directKinds {
		_, ok := dl.Drain(ctx, k.GVK)
		require.True(t, ok, "%s: the direct cache's lister does not track its keys", k.GVK.Kind)
	}

	// Watch events: a status update, a label change, an add and a delete.
	k := fixtures.Kustomization
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(k.GVK)
	u.SetNamespace(ns)
	u.SetName("kustomization-1")
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(u), u))
	require.NoError(t, unstructured.SetNestedSlice(u.Object, []any{map[string]any{
		"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "ok",
		"lastTransitionTime": "2026-12-06T08:00:00Z",
	}}, "status", "conditions"))
	require.NoError(t, env.Client.Status().Update(ctx, u))
	require.NoError(t, env.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"apps"}}}`))))
	createFlux(t, k, ns, "kustomization-new", fixtures.Ready("Unknown", "Progressing", "reconciling"))
	gone := &unstructured.Unstructured{}
	gone.SetGroupVersionKind(k.GVK)
	gone.SetNamespace(ns)
	gone.SetName("kustomization-3")
	require.NoError(t, env.Client.Delete(ctx, gone))

	after := same("after the watch events", func(got map[schema.GroupVersionKind][]*fluxobj.Object) string {
		var names []string
		for _, o := range got[k.GVK] {
			names = append(names, o.Name)
		}
		if want := []string{"kustomization-0", "kustomization-1", "kustomization-2", "kustomization-new"}; !slices.Equal(names, want) {
			return fmt.Sprintf("Kustomizations %v, want %v", names, want)
		}
		if o := got[k.GVK][1]; o.Ready.Status != "True" || o.Labels["team"] != "apps" {
			return fmt.Sprintf("kustomization-1 is %s with team %q", o.Ready.Status, o.Labels["team"])
		}
		return ""
	})[k.GVK]
	assert.Equal(t, "True", after[1].Ready.Status)
	assert.Equal(t, "apps", after[1].Labels["team"])
	keys, ok := dl.Drain(ctx, k.GVK)
	require.True(t, ok)
	slices.SortFunc(keys, func(a, b client.ObjectKey) int { return strings.Compare(a.Name, b.Name) })
	assert.Equal(t, []client.ObjectKey{{Namespace: ns, Name: "kustomization-1"}, {Namespace: ns, Name: "kustomization-3"},
		{Namespace: ns, Name: "kustomization-new"}}, keys, "the keys of the changed objects")
}

func sortObjects(objs []*fluxobj.Object) {
	slices.SortFunc(objs, func(a, b *fluxobj.Object) int { return strings.Compare(a.Name, b.Name) })
}
