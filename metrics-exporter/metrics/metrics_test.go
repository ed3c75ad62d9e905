package metrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

func flux(kind string, spec, status map[string]any) *unstructured.Unstructured {
	return fluxWithLabels(kind, spec, status, nil)
}

func fluxWithLabels(kind string, spec, status, labels map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": "app", "namespace": "apps", "uid": "u-1", "creationTimestamp": "2026-01-02T03:04:05Z"}
	if labels != nil {
		meta["labels"] = labels
	}
	o := map[string]any{"apiVersion": "x.toolkit.fluxcd.io/v1", "kind": kind, "metadata": meta, "spec": spec}
	if status != nil {
		o["status"] = status
	}
	return &unstructured.Unstructured{Object: o}
}

func readyStatus(status, reason, since string) map[string]any {
	return map[string]any{"conditions": []any{map[string]any{
		"type": "Ready", "status": status, "reason": reason, "lastTransitionTime": since, "message": "m",
	}}}
}

// series returns each metric as its name-less label map plus value, keyed by
// the metric name.
func series(t *testing.T, ms []prometheus.Metric) map[string][]map[string]string {
	t.Helper()
	out := map[string][]map[string]string{}
	for _, m := range ms {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		l := map[string]string{}
		for _, p := range d.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		l["__value__"] = strconv.FormatFloat(d.GetGauge().GetValue(), 'f', -1, 64)
		name := m.Desc().String()
		name = name[strings.Index(name, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		out[name] = append(out[name], l)
	}
	return out
}

func one(t *testing.T, ms []prometheus.Metric, name string) map[string]string {
	t.Helper()
	got := series(t, ms)[name]
	if len(got) != 1 {
		t.Fatalf("want one %s series, got %d: %v", name, len(got), got)
	}
	return got[0]
}

func TestResourceLabelsPerKind(t *testing.T) {
	b := NewResourceBuilder(Allowlist{})
	ok := readyStatus("True", "Succeeded", "2026-01-02T03:04:05Z")
	withRev := func(m map[string]any, k, v string) map[string]any {
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want map[string]string // per-kind labels only
	}{
		{"Kustomization", flux("Kustomization", map[string]any{
			"path": "./apps", "sourceRef": map[string]any{"kind": "GitRepository", "name": "fleet"},
		}, withRev(withRev(ok, "lastAppliedRevision", "main@sha1:old"), "lastAttemptedRevision", "main@sha1:new")),
			map[string]string{"revision": "main@sha1:new", "source_name": "fleet", "path": "./apps"}},
		{"GitRepository branch", flux("GitRepository", map[string]any{
			"url": "https://x-access-token:s3cret@github.com/org/fleet", "ref": map[string]any{"branch": "main"},
		}, map[string]any{"artifact": map[string]any{"revision": "main@sha1:abc"}}),
			map[string]string{"revision": "main@sha1:abc", "url": "https://github.com/org/fleet", "ref": "main"}},
		{"GitRepository precedence", flux("GitRepository", map[string]any{
			"url": "ssh://git@github.com/org/fleet",
			"ref": map[string]any{"branch": "main", "tag": "v1", "semver": ">=1.0", "name": "refs/pull/1/head"},
		}, nil),
			map[string]string{"revision": "", "url": "ssh://git@github.com/org/fleet", "ref": "refs/pull/1/head"}},
		{"GitRepository commit wins", flux("GitRepository", map[string]any{
			"url": "https://github.com/org/fleet", "ref": map[string]any{"branch": "main", "commit": "abc123"},
		}, nil),
			map[string]string{"revision": "", "url": "https://github.com/org/fleet", "ref": "abc123"}},
		{"OCIRepository", flux("OCIRepository", map[string]any{
			"url": "oci://ghcr.io/org/manifests", "ref": map[string]any{"tag": "latest", "semver": "1.x"},
		}, map[string]any{"artifact": map[string]any{"revision": "1.2.0@sha256:aa"}}),
			map[string]string{"revision": "1.2.0@sha256:aa", "url": "oci://ghcr.io/org/manifests", "ref": "1.x"}},
		{"OCIRepository digest", flux("OCIRepository", map[string]any{
			"url": "oci://ghcr.io/org/manifests", "ref": map[string]any{"tag": "latest", "digest": "sha256:bb"},
		}, nil),
			map[string]string{"revision": "", "url": "oci://ghcr.io/org/manifests", "ref": "sha256:bb"}},
		{"Bucket", flux("Bucket", map[string]any{"endpoint": "minio.example.com", "bucketName": "fleet"},
			map[string]any{"artifact": map[string]any{"revision": "sha256:cc"}}),
			map[string]string{"revision": "sha256:cc", "url": "minio.example.com", "ref": "fleet"}},
		{"HelmRelease chartRef", flux("HelmRelease", map[string]any{
			"chartRef": map[string]any{"kind": "OCIRepository", "name": "podinfo"},
		}, map[string]any{"lastAttemptedRevision": "6.5.0"}),
			map[string]string{"revision": "6.5.0", "source_name": "podinfo"}},
		{"HelmRelease chart template", flux("HelmRelease", map[string]any{
			"chart": map[string]any{"spec": map[string]any{"chart": "podinfo", "sourceRef": map[string]any{"name": "charts"}}},
		}, nil),
			map[string]string{"revision": "", "source_name": "charts"}},
		{"HelmChart", flux("HelmChart", map[string]any{"sourceRef": map[string]any{"name": "charts"}},
			map[string]any{"artifact": map[string]any{"revision": "6.5.0"}}),
			map[string]string{"revision": "6.5.0", "source_name": "charts"}},
		{"HelmRepository", flux("HelmRepository", map[string]any{"url": "https://user:pw@charts.example.com/?t=1"},
			map[string]any{"artifact": map[string]any{"revision": "sha256:dd"}}),
			map[string]string{"revision": "sha256:dd", "url": "https://charts.example.com/"}},
		{"Receiver", flux("Receiver", map[string]any{"type": "github"},
			map[string]any{"webhookPath": "/hook/abc"}),
			map[string]string{"url": "/hook/abc"}},
		{"ImageRepository", flux("ImageRepository", map[string]any{"image": "ghcr.io/org/app"}, nil),
			map[string]string{"url": "ghcr.io/org/app"}},
		{"ImagePolicy", flux("ImagePolicy", map[string]any{"imageRepositoryRef": map[string]any{"name": "app"}}, nil),
			map[string]string{"source_name": "app"}},
		{"ImageUpdateAutomation", flux("ImageUpdateAutomation", map[string]any{"sourceRef": map[string]any{"name": "fleet"}}, nil),
			map[string]string{"source_name": "fleet"}},
		{"Alert has common labels only", flux("Alert", map[string]any{}, nil), map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := one(t, b.appendFresh(nil, tc.obj), ResourceInfoName)
			for _, l := range CommonLabels {
				if _, ok := got[l]; !ok {
					t.Errorf("common label %s missing", l)
				}
				delete(got, l)
			}
			if got["__value__"] != "1" {
				t.Errorf("value = %s, want 1", got["__value__"])
			}
			delete(got, "__value__")
			if len(got) != len(tc.want) {
				t.Errorf("per-kind labels = %v, want exactly %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestResourceReadiness(t *testing.T) {
	b := NewResourceBuilder(Allowlist{})
	since := "2026-03-04T05:06:07Z"
	sinceUnix := strconv.FormatInt(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Unix(), 10)
	created := strconv.FormatInt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix(), 10)
	for _, tc := range []struct {
		name                     string
		obj                      *unstructured.Unstructured
		ready, reason, suspended string
		notReadySince            string // "" when no not-ready series
	}{
		{"ready", flux("Kustomization", map[string]any{}, readyStatus("True", "ReconciliationSucceeded", since)),
			"True", "ReconciliationSucceeded", "False", ""},
		{"failing", flux("Kustomization", map[string]any{}, readyStatus("False", "BuildFailed", since)),
			"False", "BuildFailed", "False", sinceUnix},
		{"progressing", flux("GitRepository", map[string]any{}, readyStatus("Unknown", "Progressing", since)),
			"Unknown", "Progressing", "False", sinceUnix},
		{"never reconciled", flux("HelmRelease", map[string]any{}, nil),
			"Unknown", "", "False", created},
		{"suspended and failing", flux("Kustomization", map[string]any{"suspend": true}, readyStatus("False", "BuildFailed", since)),
			"False", "BuildFailed", "True", ""},
		{"static Provider", flux("Provider", map[string]any{"type": "slack"}, nil), "True", "", "False", ""},
		{"static OCI HelmRepository", flux("HelmRepository", map[string]any{"type": "oci", "url": "oci://ghcr.io/org"}, nil),
			"True", "", "False", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := b.appendFresh(nil, tc.obj)
			info := one(t, ms, ResourceInfoName)
			if info["ready"] != tc.ready || info["reason"] != tc.reason || info["suspended"] != tc.suspended {
				t.Errorf("ready/reason/suspended = %s/%q/%s, want %s/%q/%s",
					info["ready"], info["reason"], info["suspended"], tc.ready, tc.reason, tc.suspended)
			}
			nr := series(t, ms)[ResourceNotReadySinceName]
			switch {
			case tc.notReadySince == "" && len(nr) != 0:
				t.Errorf("unexpected not-ready series %v", nr)
			case tc.notReadySince != "" && (len(nr) != 1 || nr[0]["__value__"] != tc.notReadySince):
				t.Errorf("not-ready series = %v, want value %s", nr, tc.notReadySince)
			case tc.notReadySince != "" && (nr[0]["uid"] != "u-1" || nr[0]["kind"] != tc.obj.GetKind() ||
				nr[0]["name"] != "app" || nr[0]["exported_namespace"] != "apps" || len(nr[0]) != 5):
				t.Errorf("not-ready labels = %v, want uid, kind, name, exported_namespace", nr[0])
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist(" team, app.kubernetes.io/part-of,,team")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.names, ","); got != "label_team,label_app_kubernetes_io_part_of" {
		t.Errorf("names = %s", got)
	}
	b := NewResourceBuilder(a)
	obj := fluxWithLabels("Kustomization", map[string]any{}, readyStatus("False", "BuildFailed", "2026-03-04T05:06:07Z"),
		map[string]any{"team": "payments", "secret-ish": "no"})
	ms := b.appendFresh(nil, obj)
	info := one(t, ms, ResourceInfoName)
	if info["label_team"] != "payments" || info["label_app_kubernetes_io_part_of"] != "" {
		t.Errorf("copied labels = team %q, part-of %q", info["label_team"], info["label_app_kubernetes_io_part_of"])
	}
	if _, leaked := info["label_secret_ish"]; leaked {
		t.Errorf("a label not in the allowlist was copied")
	}
	if nr := one(t, ms, ResourceNotReadySinceName); nr["label_team"] != "payments" {
		t.Errorf("not-ready series lacks label_team: %v", nr)
	}

	for in, want := range map[string]string{
		"*":             "'*' is not allowed",
		"team,Bad Key!": `"Bad Key!" is not a Kubernetes label key`,
		"a.b,a_b":       `"a.b" and "a_b" both become the label label_a_b`,
	} {
		if _, err := ParseAllowlist(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAllowlist(%q) error = %v, want it to contain %q", in, err, want)
		}
	}
}

func TestTransformKeepsWhatSeriesNeed(t *testing.T) {
	a, _ := ParseAllowlist("team")
	obj := fluxWithLabels("GitRepository", map[string]any{
		"url": "https://github.com/org/fleet", "ref": map[string]any{"branch": "main"},
		"secretRef": map[string]any{"name": "creds"}, "interval": "1m",
	}, map[string]any{
		"conditions": []any{
			map[string]any{"type": "Reconciling", "status": "True"},
			map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "long", "lastTransitionTime": "2026-01-02T03:04:05Z"},
		},
		"artifact": map[string]any{"revision": "main@sha1:abc", "digest": "sha256:1", "url": "http://x"},
	}, map[string]any{"team": "a", "other": "b"})
	obj.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "kubectl"}}
	before := b2s(t, NewResourceBuilder(a).appendFresh(nil, obj.DeepCopy()))
	out, err := NewTransform(a)(obj)
	if err != nil {
		t.Fatal(err)
	}
	compact, ok := out.(*fluxobj.Object)
	if !ok {
		t.Fatalf("the transform made a %T, want a *fluxobj.Object", out)
	}
	var ms []prometheus.Metric
	for _, s := range NewResourceBuilder(a).append(nil, compact, nil, nil) {
		ms = append(ms, s.Metric())
	}
	if after := b2s(t, ms); after != before {
		t.Errorf("series changed by the transform:\n%s\nvs\n%s", before, after)
	}
	pruned := compact.Unstructured()
	for _, path := range [][]string{{"spec", "secretRef"}, {"spec", "interval"}, {"metadata", "managedFields"},
		{"metadata", "labels", "other"}, {"status", "artifact", "url"}} {
		if _, found, _ := unstructured.NestedFieldNoCopy(pruned.Object, path...); found {
			t.Errorf("%v kept", path)
		}
	}
	conds, _, _ := unstructured.NestedSlice(pruned.Object, "status", "conditions")
	if len(conds) != 1 || conds[0].(map[string]any)["message"] != nil {
		t.Errorf("conditions = %v, want the Ready condition without its message", conds)
	}
}

func b2s(t *testing.T, ms []prometheus.Metric) string {
	s := &Snapshot{}
	s.Swap(ms)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, mf := range mfs {
		sb.WriteString(mf.String())
	}
	return sb.String()
}

func TestInstance(t *testing.T) {
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: "flux-system", UID: "i-1",
		Annotations: map[string]string{apiv1.ReconcileAnnotation: apiv1.DisabledValue}}}
	fi.Spec.Distribution.Registry = "ghcr.io/fluxcd"
	fi.Status.LastAttemptedRevision = "v2.9.5@sha256:new"
	fi.Status.LastAppliedRevision = "v2.9.4@sha256:old"
	fi.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "False", Reason: "HealthCheckFailed"}}
	got := one(t, []prometheus.Metric{Instance(fi)}, InstanceInfoName)
	want := map[string]string{"uid": "i-1", "kind": "FluxInstance", "name": "flux", "exported_namespace": "flux-system",
		"ready": "False", "reason": "HealthCheckFailed", "suspended": "True", "registry": "ghcr.io/fluxcd",
		"revision": "v2.9.4@sha256:old", "__value__": "1"}
	if len(got) != len(want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestReportGauges(t *testing.T) {
	s := &Snapshot{}
	s.Swap(Report(nil))
	const noReport = `
# HELP flux_report_ready 1 when the last FluxReport was computed in full (Ready True), 0 when parts of it failed or there is no report.
# TYPE flux_report_ready gauge
flux_report_ready 0
# HELP flux_report_timestamp_seconds Unix time of the last FluxReport update (the lastTransitionTime of its Ready condition); 0 when there is no report.
# TYPE flux_report_timestamp_seconds gauge
flux_report_timestamp_seconds 0
`
	if err := testutil.CollectAndCompare(s, strings.NewReader(noReport)); err != nil {
		t.Error(err)
	}

	fr := &apiv1.FluxReport{}
	fr.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "True",
		LastTransitionTime: metav1.NewTime(time.Unix(1700000000, 0))}}
	fr.Spec.Distribution = apiv1.FluxDistributionStatus{Status: "Installed", Version: "v2.9.5", ManagedBy: "flux bootstrap"}
	fr.Spec.ComponentsStatus = []apiv1.FluxComponentStatus{{Name: "source-controller", Ready: true}, {Name: "helm-controller"}}
	fr.Spec.ReconcilersStatus = []apiv1.FluxReconcilerStatus{{Kind: "Kustomization",
		Stats: apiv1.FluxReconcilerStats{Running: 5, Failing: 2, Suspended: 1}}, {Kind: "Bucket"}}
	fr.Spec.SyncStatus = &apiv1.FluxSyncStatus{ID: "kustomization/flux-system", Ready: false}
	got := series(t, Report(fr))
	check := func(name string, labels map[string]string, value string) {
		t.Helper()
		for _, l := range got[name] {
			match := true
			for k, v := range labels {
				if l[k] != v {
					match = false
				}
			}
			if match {
				if l["__value__"] != value {
					t.Errorf("%s%v = %s, want %s", name, labels, l["__value__"], value)
				}
				return
			}
		}
		t.Errorf("%s%v missing", name, labels)
	}
	check(ReportTimestampName, nil, "1700000000")
	check(ReportReadyName, nil, "1")
	check(ReportReconcilersName, map[string]string{"kind": "Kustomization", "state": "running"}, "5")
	check(ReportReconcilersName, map[string]string{"kind": "Kustomization", "state": "failing"}, "2")
	check(ReportReconcilersName, map[string]string{"kind": "Kustomization", "state": "suspended"}, "1")
	check(ReportReconcilersName, map[string]string{"kind": "Bucket", "state": "failing"}, "0")
	check(ReportComponentReadyName, map[string]string{"component": "source-controller"}, "1")
	check(ReportComponentReadyName, map[string]string{"component": "helm-controller"}, "0")
	check(ReportSyncReadyName, map[string]string{"id": "kustomization/flux-system"}, "0")
	check(ReportDistributionName, map[string]string{"version": "v2.9.5", "status": "Installed", "managed_by": "flux bootstrap"}, "1")
	if n := len(got[ReportReconcilersName]); n != 6 {
		t.Errorf("%d reconciler series, want 6 (3 states x 2 kinds)", n)
	}
}

func TestSnapshotSwapReplacesTheWholeSet(t *testing.T) {
	b := NewResourceBuilder(Allowlist{})
	s := &Snapshot{}
	s.Swap(b.appendFresh(nil, flux("Bucket", map[string]any{}, readyStatus("True", "Succeeded", "2026-01-02T03:04:05Z"))))
	if n := testutil.CollectAndCount(s); n != 1 {
		t.Fatalf("%d series, want 1", n)
	}
	other := flux("Receiver", map[string]any{}, readyStatus("True", "Succeeded", "2026-01-02T03:04:05Z"))
	other.SetUID("u-2")
	s.Swap(b.appendFresh(nil, other))
	if n := testutil.CollectAndCount(s, ResourceInfoName); n != 1 {
		t.Errorf("%d series after the swap, want only the new one", n)
	}
}

func TestNotReadySinceSurvivesRetries(t *testing.T) {
	b := NewResourceBuilder(Allowlist{})
	at := func(status, since string) []unstructured.Unstructured {
		return []unstructured.Unstructured{*flux("Kustomization", map[string]any{}, readyStatus(status, "BuildFailed", since))}
	}
	value := func(ks *KindSeries) string {
		t.Helper()
		nr := series(t, ks.Metrics())[ResourceNotReadySinceName]
		if len(nr) == 0 {
			return ""
		}
		return nr[0]["__value__"]
	}
	unix := func(s string) string {
		ts, _ := time.Parse(time.RFC3339, s)
		return strconv.FormatInt(ts.Unix(), 10)
	}
	// Failing since 10:00; every retry flips Ready to Unknown and back to
	// False, moving lastTransitionTime.
	ks := b.Build(at("False", "2026-03-04T10:00:00Z"), nil)
	if got := value(ks); got != unix("2026-03-04T10:00:00Z") {
		t.Fatalf("first refresh: %s", got)
	}
	ks = b.Build(at("Unknown", "2026-03-04T10:05:00Z"), ks)
	ks = b.Build(at("False", "2026-03-04T10:06:00Z"), ks)
	if got := value(ks); got != unix("2026-03-04T10:00:00Z") {
		t.Errorf("after retries, not ready since %s, want the first failure 10:00", got)
	}
	// Ready again: the memory is dropped; the next failure starts anew.
	ks = b.Build(at("True", "2026-03-04T10:20:00Z"), ks)
	if got := value(ks); got != "" || len(ks.NotReady) != 0 {
		t.Errorf("a ready resource has a not-ready time %q", got)
	}
	ks = b.Build(at("False", "2026-03-04T11:00:00Z"), ks)
	if got := value(ks); got != unix("2026-03-04T11:00:00Z") {
		t.Errorf("a new failure is not ready since %s, want 11:00", got)
	}
	// A deleted resource is forgotten.
	if ks = b.Build(nil, ks); len(ks.NotReady) != 0 {
		t.Errorf("deleted resources are remembered: %v", ks.NotReady)
	}
}
