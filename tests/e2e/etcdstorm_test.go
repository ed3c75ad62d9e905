//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// etcdStatusWriter writes status updates of the bench objects straight into
// the e2e cluster's etcd, where the API server keeps them, instead of sending
// them to the API server. The API server still sees every update: its watch
// cache decodes each one from its etcd watch and fans it out to every watcher
// as a MODIFIED event, which is all the reporter and the exporter consume.
// What it skips is its own write path (decoding, admission, schema and CEL
// validation, managed fields, the etcd transaction), which is what holds a
// 2-core machine to about 200 status writes a second. The storm's rate then
// depends on etcd and on the watch path, as in a large cluster whose API
// servers have the cores to take the writes.
type etcdStatusWriter struct {
	etcd *clientv3.Client
	// keys and objects by the load's object index (obj-<i>): the etcd key
	// and the object as stored, decoded.
	keys    []string
	objects []map[string]any
}

// e2eEtcdEndpoint reads the etcd client URL of the e2e cluster from the
// kube-apiserver's arguments in kwokctl's cluster config.
func e2eEtcdEndpoint() (string, error) {
	path := filepath.Join(testenv.RepoRoot(), ".cache", "kwok-e2e", "clusters", clusterName, "kwok.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`--etcd-servers=(\S+)`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s has no --etcd-servers", path)
	}
	return strings.Split(string(m[1]), ",")[0], nil
}

// newEtcdStatusWriter reads the n bench objects (fixtures.Populate) from etcd.
func newEtcdStatusWriter(ctx context.Context, mapper meta.RESTMapper, n int) (*etcdStatusWriter, error) {
	endpoint, err := e2eEtcdEndpoint()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", endpoint, err)
	}
	w := &etcdStatusWriter{etcd: cli, keys: make([]string, n), objects: make([]map[string]any, n)}
	for _, kind := range fixtures.BenchKinds {
		m, err := mapper.RESTMapping(kind.GVK.GroupKind(), kind.GVK.Version)
		if err != nil {
			w.Close()
			return nil, err
		}
		// The API server's layout: <prefix>/<group>/<resource>/<namespace>/<name>.
		prefix := fmt.Sprintf("/registry/%s/%s/", kind.GVK.Group, m.Resource.Resource)
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("etcd get %s: %w", prefix, err)
		}
		for _, kv := range resp.Kvs {
			var i int
			if _, err := fmt.Sscanf(filepath.Base(string(kv.Key)), "obj-%d", &i); err != nil || i < 0 || i >= n ||
				string(kv.Key) != fmt.Sprintf("%sbench-%d/obj-%d", prefix, i%fixtures.BenchNamespaces, i) {
				continue
			}
			var o map[string]any
			// Custom resources are stored as JSON.
			if err := json.Unmarshal(kv.Value, &o); err != nil {
				w.Close()
				return nil, fmt.Errorf("etcd %s: %w", kv.Key, err)
			}
			w.keys[i], w.objects[i] = string(kv.Key), o
		}
	}
	for i, k := range w.keys {
		if k == "" {
			w.Close()
			return nil, fmt.Errorf("obj-%d is not in etcd", i)
		}
	}
	return w, nil
}

// setReady replaces object i's Ready condition and returns the object's new
// resourceVersion (etcd's revision of the write). Calls for one object must
// not overlap; calls for different objects may.
func (w *etcdStatusWriter) setReady(ctx context.Context, i int, status, reason string) (int64, error) {
	o := make(map[string]any, len(w.objects[i]))
	for k, v := range w.objects[i] {
		o[k] = v
	}
	st := map[string]any{}
	if old, ok := o["status"].(map[string]any); ok {
		for k, v := range old {
			st[k] = v
		}
	}
	st["conditions"] = []any{map[string]any{
		"type": "Ready", "status": status, "reason": reason, "message": "storm",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": int64(1),
	}}
	o["status"] = st
	data, err := json.Marshal(o)
	if err != nil {
		return 0, err
	}
	resp, err := w.etcd.Put(ctx, w.keys[i], string(data))
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// watchedRevision watches the metadata of one kind's objects from now on, as
// the binaries' informers do, and returns the highest resourceVersion the
// API server has delivered so far: how far its watch path has got through
// the storm. A watch the API server ends is started again from the
// resourceVersion of a list served by its watch cache, as a reflector does.
func watchedRevision(ctx context.Context, t *testing.T, cfg *rest.Config, gvr schema.GroupVersionResource) func() int64 {
	t.Helper()
	mc, err := metadata.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	var seen atomic.Int64
	see := func(v string) {
		if rv, err := strconv.ParseInt(v, 10, 64); err == nil && rv > seen.Load() {
			seen.Store(rv)
		}
	}
	list := func() string {
		for ctx.Err() == nil {
			l, err := mc.Resource(gvr).List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 1})
			if err == nil {
				see(l.GetResourceVersion())
				return l.GetResourceVersion()
			}
			// A failed list is tried again after a pause, as a reflector
			// does: not a wait for anything.
			time.Sleep(100 * time.Millisecond)
		}
		return ""
	}
	from := list()
	w, err := mc.Resource(gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: from})
	require.NoError(t, err)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for ev := range w.ResultChan() {
				if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ok {
					see(m.ResourceVersion)
				} else if ev.Type == watch.Error && ctx.Err() == nil {
					t.Logf("the storm's watch of %s ended: %v", gvr.Resource, apierrors.FromObject(ev.Object))
				}
			}
			var err error
			for ctx.Err() == nil {
				if w, err = mc.Resource(gvr).Watch(ctx, metav1.ListOptions{ResourceVersion: list()}); err == nil {
					break
				}
			}
		}
	}()
	return seen.Load
}

func (w *etcdStatusWriter) Close() { _ = w.etcd.Close() }

// logAPIServerOnFailure logs the e2e kube-apiserver's lines about watches
// and its watch cache when the test fails.
func logAPIServerOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), ".cache", "kwok-e2e", "clusters", clusterName, "logs", "kube-apiserver.log"))
		if err != nil {
			t.Logf("kube-apiserver log: %v", err)
			return
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "watch") || strings.Contains(l, "cacher") || strings.Contains(l, "Watch") {
				lines = append(lines, l)
			}
		}
		t.Logf("kube-apiserver, the last of %d lines about watches:\n%s", len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	})
}
