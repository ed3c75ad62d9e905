package packaging_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// components are the binaries config/default and the chart's defaults
// deploy; withWeb adds the optional web UI (config/web-ui, web.enabled).
var (
	components = []string{"installer", "reporter", "exporter"}
	withWeb    = append(slices.Clone(components), "web")
)

// dryRunApply server-side applies every object with dryRun=All: the API
// server validates each against its schema (CRDs included), defaults and
// admission, and persists nothing.
func dryRunApply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.DryRunAll, client.ForceOwnership, client.FieldOwner("packaging-test"))
		assert.NoError(t, err, "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
	}
}

func deployments(t *testing.T, objs []*unstructured.Unstructured) map[string]*appsv1.Deployment {
	t.Helper()
	out := map[string]*appsv1.Deployment{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, d))
		out[d.Labels["app.kubernetes.io/component"]] = d
	}
	return out
}

func TestOverlays(t *testing.T) {
	for _, tc := range []struct {
		overlay    string
		components []string
		monitoring bool
		namespace  bool
		replicas   int32
	}{
		{"default", components, false, true, 1},
		{"monitoring", components, true, true, 1},
		{"report-only", []string{"reporter", "exporter"}, false, false, 1},
		{"ha", components, false, true, 2},
		{"metrics-secure", components, true, true, 1},
		{"web-ui", withWeb, false, true, 1},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			objs, err := renderKustomize(tc.overlay)
			require.NoError(t, err)
			dryRunApply(t, objs)

			got := deployments(t, objs)
			assert.Len(t, got, len(tc.components), "Deployments: %v", ids(objs))
			for _, c := range tc.components {
				assert.Contains(t, got, c)
				assert.NotNil(t, find(objs, "ServiceAccount", "flux-operator-"+c), "ServiceAccount of %s", c)
				if d := got[c]; d != nil {
					assert.Equal(t, tc.replicas, *d.Spec.Replicas, "replicas of %s", c)
				}
				// Several replicas: drains keep one of each, and they spread.
				pdb := find(objs, "PodDisruptionBudget", "flux-operator-"+c)
				assert.Equal(t, tc.replicas > 1, pdb != nil, "PodDisruptionBudget of %s", c)
				if tc.replicas > 1 && got[c] != nil {
					assert.NotEmpty(t, got[c].Spec.Template.Spec.TopologySpreadConstraints, "spread of %s", c)
				}
			}
			assert.NotNil(t, find(objs, "Service", "flux-operator"))
			assert.NotNil(t, find(objs, "CustomResourceDefinition", "fluxreports.fluxcd.controlplane.io"))
			assert.NotNil(t, find(objs, "CustomResourceDefinition", "fluxinstances.fluxcd.controlplane.io"))
			assert.Equal(t, tc.namespace, find(objs, "Namespace", namespace) != nil, "Namespace object")
			for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
				assert.Equal(t, tc.monitoring, find(objs, kind, "flux-operator") != nil, kind)
			}
			assert.Equal(t, tc.monitoring, find(objs, "ConfigMap", "flux-operator-dashboards") != nil, "dashboards")
			if !slices.Contains(tc.components, "installer") {
				for _, o := range objs {
					assert.NotContains(t, o.GetName(), "installer", "%s/%s in an overlay without the installer", o.GetKind(), o.GetName())
				}
			}
			for _, o := range objs {
				if o.GetNamespace() != "" {
					assert.Equal(t, namespace, o.GetNamespace(), "%s/%s", o.GetKind(), o.GetName())
				}
			}
			// Authenticated metrics: every binary serves HTTPS, may review
			// tokens, and the ServiceMonitor scrapes with a token.
			secure := tc.overlay == "metrics-secure"
			for c, d := range got {
				assert.Equal(t, secure, slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--metrics-secure"), "%s --metrics-secure", c)
			}
			assert.Equal(t, secure, find(objs, "ClusterRoleBinding", "flux-operator-metrics-auth") != nil, "metrics auth RBAC")
			if sm := find(objs, "ServiceMonitor", "flux-operator"); sm != nil {
				eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
				require.Len(t, eps, 1)
				scheme, _ := eps[0].(map[string]any)["scheme"].(string)
				assert.Equal(t, secure, scheme == "https", "ServiceMonitor scheme %q", scheme)
			}
			checkPods(t, got)
			checkService(t, find(objs, "Service", "flux-operator"), got)
			// The web UI, its Service and its RBAC come together, only
			// with config/web-ui.
			web := slices.Contains(tc.components, "web")
			for _, kind := range []string{"Service", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"} {
				assert.Equal(t, web, find(objs, kind, "flux-operator-web") != nil, "%s flux-operator-web", kind)
			}
			if web {
				checkWebService(t, find(objs, "Service", "flux-operator-web"), got)
			}
		})
	}
}

// checkWebService checks the web UI's Service: port 9080 of the web pods
// only, and not selected by the ServiceMonitor, which reaches the web pods'
// /metrics through the flux-operator Service already.
func checkWebService(t *testing.T, svcObj *unstructured.Unstructured, deps map[string]*appsv1.Deployment) {
	t.Helper()
	require.NotNil(t, svcObj, "Service flux-operator-web")
	svc := &corev1.Service{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(svcObj.Object, svc))
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
	require.Len(t, svc.Spec.Ports, 1)
	p := svc.Spec.Ports[0]
	assert.Equal(t, "http", p.Name)
	assert.Equal(t, int32(9080), p.Port)
	assert.Equal(t, "http", p.TargetPort.String())
	require.NotEmpty(t, svc.Spec.Selector)
	for c, d := range deps {
		selected := true
		for k, v := range svc.Spec.Selector {
			selected = selected && d.Spec.Template.Labels[k] == v
		}
		assert.Equal(t, c == "web", selected, "flux-operator-web selects the %s pods", c)
		if c == "web" {
			ports := map[string]int32{}
			for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
				ports[p.Name] = p.ContainerPort
			}
			assert.Equal(t, int32(9080), ports[p.TargetPort.String()], "the targetPort is the web container's port 9080")
		}
	}
	seed, err := decode(seedServiceMonitor)
	require.NoError(t, err)
	sel, _, _ := unstructured.NestedStringMap(seed[0].Object, "spec", "selector", "matchLabels")
	require.NotEmpty(t, sel)
	matches := true
	for k, v := range sel {
		matches = matches && svc.Labels[k] == v
	}
	assert.False(t, matches, "the ServiceMonitor's selector %v must not select flux-operator-web (labels %v): "+
		"the web pods would be scraped twice", sel, svc.Labels)
}

// checkPods checks what a platform team expects of each operator pod.
func checkPods(t *testing.T, deps map[string]*appsv1.Deployment) {
	t.Helper()
	for c, d := range deps {
		pod := d.Spec.Template
		assert.Equal(t, "flux-operator", pod.Labels["app.kubernetes.io/name"], c)
		assert.Equal(t, c, pod.Labels["app.kubernetes.io/component"], c)
		assert.Equal(t, "true", pod.Annotations["prometheus.io/scrape"], c)
		assert.Equal(t, "8080", pod.Annotations["prometheus.io/port"], c)
		assert.Equal(t, "flux-operator-"+c, pod.Spec.ServiceAccountName, c)
		require.Len(t, pod.Spec.Containers, 1, c)
		ctr := pod.Spec.Containers[0]
		assert.Equal(t, []string{"/flux-operator-" + c}, ctr.Command, c)

		sc := ctr.SecurityContext
		require.NotNil(t, sc, c)
		assert.Equal(t, true, *sc.ReadOnlyRootFilesystem, "%s: read-only root filesystem", c)
		assert.Equal(t, false, *sc.AllowPrivilegeEscalation, c)
		assert.Equal(t, true, *sc.RunAsNonRoot, c)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.Spec.SecurityContext.SeccompProfile.Type, c)

		ports := map[string]int32{}
		for _, p := range ctr.Ports {
			ports[p.Name] = p.ContainerPort
		}
		wantPorts := map[string]int32{"http-metrics": 8080, "http-health": 8081}
		if c == "web" {
			wantPorts["http"] = 9080
			assert.Contains(t, ctr.Args, "--web-addr=:9080", c)
			assert.Equal(t, 1, countEnv(ctr.Env, "WEB_AUTH"), "%s: WEB_AUTH", c)
		}
		assert.Equal(t, wantPorts, ports, c)
		assert.Contains(t, ctr.Args, "--metrics-addr=:8080", c)
		assert.Contains(t, ctr.Args, "--health-addr=:8081", c)
		if c == "exporter" || c == "web" {
			// Every replica serves: these binaries have no leader
			// election flags, and would refuse one.
			for _, a := range ctr.Args {
				assert.False(t, strings.HasPrefix(a, "--leader-elect"), "%s: %s", c, a)
			}
		}
		require.NotNil(t, ctr.LivenessProbe, c)
		require.NotNil(t, ctr.ReadinessProbe, c)
		assert.Equal(t, "/healthz", ctr.LivenessProbe.HTTPGet.Path, c)
		assert.Equal(t, "http-health", ctr.LivenessProbe.HTTPGet.Port.String(), c)
		assert.Equal(t, "/readyz", ctr.ReadinessProbe.HTTPGet.Path, c)
		assert.Equal(t, "http-health", ctr.ReadinessProbe.HTTPGet.Port.String(), c)
		assert.False(t, ctr.Resources.Requests.Memory().IsZero(), "%s: memory request", c)
		assert.False(t, ctr.Resources.Limits.Memory().IsZero(), "%s: memory limit", c)
		assert.False(t, ctr.Resources.Requests.Cpu().IsZero(), "%s: cpu request", c)

		var ns *corev1.EnvVar
		for i := range ctr.Env {
			if ctr.Env[i].Name == "RUNTIME_NAMESPACE" {
				ns = &ctr.Env[i]
			}
		}
		require.NotNil(t, ns, "%s: RUNTIME_NAMESPACE", c)
		require.NotNil(t, ns.ValueFrom, c)
		assert.Equal(t, "metadata.namespace", ns.ValueFrom.FieldRef.FieldPath, "%s: RUNTIME_NAMESPACE from the downward API", c)

		// The restricted Pod Security admission of the namespace accepts the pod.
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Namespace: namespace,
			Labels: pod.Labels, Annotations: pod.Annotations}, Spec: *pod.Spec.DeepCopy()}
		assert.NoError(t, env.Client.Create(context.Background(), p, client.DryRunAll),
			"%s: pod passes restricted Pod Security", c)
	}
}

// checkService checks the Service selects every pod on port 8080.
func checkService(t *testing.T, svcObj *unstructured.Unstructured, deps map[string]*appsv1.Deployment) {
	t.Helper()
	svc := &corev1.Service{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(svcObj.Object, svc))
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, "http-metrics", svc.Spec.Ports[0].Name)
	assert.Equal(t, int32(8080), svc.Spec.Ports[0].Port)
	assert.Equal(t, "flux-operator", svc.Labels["app.kubernetes.io/name"], "the ServiceMonitor selects the Service by this label")
	for c, d := range deps {
		for k, v := range svc.Spec.Selector {
			assert.Equal(t, v, d.Spec.Template.Labels[k], "Service selector %s=%s matches the %s pods", k, v, c)
		}
	}
}

// TestRestrictedPodSecurityIsEnforced is the control for checkPods: the same
// namespace refuses a pod that runs as root.
func TestRestrictedPodSecurityIsEnforced(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "root-", Namespace: namespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	err := env.Client.Create(context.Background(), p, client.DryRunAll)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `violates PodSecurity "restricted`)
}

func TestChartDefaults(t *testing.T) {
	r, err := renderChart(nil)
	require.NoError(t, err)
	dryRunApply(t, r.CRDs)
	dryRunApply(t, r.Objects)
	assert.Equal(t, []string{"fluxinstances.fluxcd.controlplane.io", "fluxreports.fluxcd.controlplane.io"},
		[]string{r.CRDs[0].GetName(), r.CRDs[1].GetName()})

	deps := deployments(t, r.Objects)
	assert.Len(t, deps, 3)
	checkPods(t, deps)
	checkService(t, find(r.Objects, "Service", "flux-operator"), deps)
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		assert.Nil(t, find(r.Objects, kind, "flux-operator"), "%s is off by default", kind)
	}
	assert.Nil(t, find(r.Objects, "ConfigMap", "flux-operator-dashboards"))

	// The web UI is optional: nothing of it by default.
	for _, o := range r.Objects {
		assert.NotContains(t, o.GetName(), "web", "%s/%s without web.enabled", o.GetKind(), o.GetName())
	}

	// The chart's RBAC is the generated RBAC of the kustomize bases.
	assertSameRBAC(t, r.Objects, "default")

	// NOTES.txt prints the seed's commands.
	for _, cmd := range []string{
		"kubectl -n flux-system get fluxreport/flux -o yaml",
		"kubectl -n flux-system annotate --overwrite fluxreport/flux \\\n    reconcile.fluxcd.io/requestedAt=\"$(date +%s)\"",
		"kubectl -n flux-system events --for fluxinstance/flux",
	} {
		assert.Contains(t, r.Notes, cmd)
	}
}

// assertSameRBAC checks that the chart's ServiceAccounts, roles and
// bindings are those of config/<overlay>.
func assertSameRBAC(t *testing.T, chart []*unstructured.Unstructured, overlay string) {
	t.Helper()
	kz, err := renderKustomize(overlay)
	require.NoError(t, err)
	for _, kind := range []string{"ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount"} {
		var fromChart, fromKustomize []string
		for _, o := range chart {
			if o.GetKind() == kind {
				fromChart = append(fromChart, o.GetName()+" "+fmt.Sprint(o.Object["rules"], o.Object["roleRef"], o.Object["subjects"]))
			}
		}
		for _, o := range kz {
			if o.GetKind() == kind {
				fromKustomize = append(fromKustomize, o.GetName()+" "+fmt.Sprint(o.Object["rules"], o.Object["roleRef"], o.Object["subjects"]))
			}
		}
		slices.Sort(fromChart)
		slices.Sort(fromKustomize)
		assert.Equal(t, fromKustomize, fromChart, "%s objects of the chart and of config/%s", kind, overlay)
	}
}

func countEnv(env []corev1.EnvVar, name string) int {
	n := 0
	for _, e := range env {
		if e.Name == name {
			n++
		}
	}
	return n
}

// web.enabled renders the web UI as config/web-ui has it: the Deployment,
// the Service on port 9080 and the generated RBAC; web.auth and
// web.pageSize reach the binary.
func TestChartWeb(t *testing.T) {
	r, err := renderChart(map[string]any{"web": map[string]any{"enabled": true}})
	require.NoError(t, err)
	dryRunApply(t, r.Objects)
	deps := deployments(t, r.Objects)
	assert.Len(t, deps, 4, "Deployments: %v", ids(r.Objects))
	checkPods(t, deps)
	checkService(t, find(r.Objects, "Service", "flux-operator"), deps)
	checkWebService(t, find(r.Objects, "Service", "flux-operator-web"), deps)
	assertSameRBAC(t, r.Objects, "web-ui")

	web := deps["web"]
	require.NotNil(t, web)
	ctr := web.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "ghcr.io/fluxops/flux-operator-web:v0.1.0", ctr.Image)
	assert.Equal(t, int32(1), *web.Spec.Replicas)
	assert.Contains(t, ctr.Env, corev1.EnvVar{Name: "WEB_AUTH", Value: "false"}, "read-only, without sign-in, by default")
	assert.Contains(t, ctr.Args, "--web-page-size=100")
	assert.Equal(t, "512Mi", ctr.Resources.Limits.Memory().String())
	assert.Contains(t, r.Notes, "kubectl -n flux-system port-forward svc/flux-operator-web 9080:9080")
	assert.Contains(t, r.Notes, "set web.auth=true")

	// The chart's web container is config/web-ui's: ports, probes,
	// environment, security and resources.
	kz, err := renderKustomize("web-ui")
	require.NoError(t, err)
	want := deployments(t, kz)["web"].Spec.Template.Spec.Containers[0]
	assert.Equal(t, want.Ports, ctr.Ports)
	assert.Equal(t, want.LivenessProbe, ctr.LivenessProbe)
	assert.Equal(t, want.ReadinessProbe, ctr.ReadinessProbe)
	assert.Equal(t, want.Env, ctr.Env)
	assert.Equal(t, want.SecurityContext, ctr.SecurityContext)
	assert.Equal(t, want.Resources, ctr.Resources)
	assert.Equal(t, want.Command, ctr.Command)
	assert.Subset(t, ctr.Args, want.Args)

	// Sign-in, a page size, two replicas, a digest and --metrics-secure.
	digest := "sha256:" + strings.Repeat("cd", 32)
	r, err = renderChart(map[string]any{
		"web":           map[string]any{"enabled": true, "auth": true, "pageSize": 25, "replicas": 2},
		"image":         map[string]any{"repository": "registry.example.com/flux-operator", "digest": map[string]any{"web": digest}},
		"metricsSecure": true,
	})
	require.NoError(t, err)
	dryRunApply(t, r.Objects)
	web = deployments(t, r.Objects)["web"]
	require.NotNil(t, web)
	ctr = web.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "registry.example.com/flux-operator-web@"+digest, ctr.Image)
	assert.Contains(t, ctr.Env, corev1.EnvVar{Name: "WEB_AUTH", Value: "true"})
	assert.Contains(t, ctr.Args, "--web-page-size=25")
	assert.Contains(t, ctr.Args, "--metrics-secure")
	assert.Equal(t, int32(2), *web.Spec.Replicas)
	assert.NotEmpty(t, web.Spec.Template.Spec.TopologySpreadConstraints)
	assert.NotNil(t, find(r.Objects, "PodDisruptionBudget", "flux-operator-web"))
	assert.NotContains(t, r.Notes, "set web.auth=true")
	binding := find(r.Objects, "ClusterRoleBinding", "flux-operator-metrics-auth")
	require.NotNil(t, binding)
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	assert.Contains(t, subjects, map[string]any{"kind": "ServiceAccount", "name": "flux-operator-web", "namespace": namespace})

	// Only the web UI, e.g. next to another release of the other components.
	off := map[string]any{"enabled": false}
	r, err = renderChart(map[string]any{"installer": off, "reporter": off, "exporter": off, "web": map[string]any{"enabled": true}})
	require.NoError(t, err)
	dryRunApply(t, r.Objects)
	assert.Equal(t, []string{"web"}, slices.Collect(maps.Keys(deployments(t, r.Objects))))
}

// Images pinned by digest, as a release's chart pins them.
func TestChartImagesByDigest(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	r, err := renderChart(map[string]any{"image": map[string]any{"repository": "registry.example.com/flux-operator",
		"digest": map[string]any{"installer": digest, "reporter": digest}}})
	require.NoError(t, err)
	deps := deployments(t, r.Objects)
	assert.Equal(t, "registry.example.com/flux-operator-installer@"+digest, deps["installer"].Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, "registry.example.com/flux-operator-reporter@"+digest, deps["reporter"].Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, "registry.example.com/flux-operator-exporter:v0.1.0", deps["exporter"].Spec.Template.Spec.Containers[0].Image,
		"a binary without a digest keeps the tag")
	_, err = renderChart(map[string]any{"image": map[string]any{"repository": "r", "digest": map[string]any{"installer": "latest"}}})
	require.Error(t, err, "the schema refuses a digest that is not one")
}

func TestChartValues(t *testing.T) {
	r, err := renderChart(map[string]any{
		"image":     map[string]any{"repository": "registry.example.com/flux-operator", "tag": "v9.9.9"},
		"installer": map[string]any{"enabled": false},
		"reporter": map[string]any{"enabled": true, "replicas": 2, "reportingInterval": "1m",
			"resources": map[string]any{"limits": map[string]any{"memory": "2Gi"}}},
		"exporter":          map[string]any{"enabled": true, "resourceLabelAllowlist": []any{"team", "app.kubernetes.io/part-of"}},
		"logLevel":          "debug",
		"podAnnotations":    map[string]any{"example.com/owner": "platform"},
		"podLabels":         map[string]any{"team": "platform"},
		"nodeSelector":      map[string]any{"node-role.kubernetes.io/infra": ""},
		"tolerations":       []any{map[string]any{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}},
		"priorityClassName": "system-cluster-critical",
		"prometheusRule":    map[string]any{"create": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"grafanaDashboards": map[string]any{"create": true},
		"serviceMonitor":    map[string]any{"create": true},
	})
	require.NoError(t, err)
	dryRunApply(t, r.Objects)

	deps := deployments(t, r.Objects)
	assert.NotContains(t, deps, "installer")
	for _, o := range r.Objects {
		assert.NotContains(t, o.GetName(), "installer", "%s/%s with the installer disabled", o.GetKind(), o.GetName())
	}
	rep := deps["reporter"]
	require.NotNil(t, rep)
	assert.Equal(t, int32(2), *rep.Spec.Replicas)
	ctr := rep.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "registry.example.com/flux-operator-reporter:v9.9.9", ctr.Image)
	assert.Equal(t, "registry.example.com/flux-operator-exporter:v9.9.9", deps["exporter"].Spec.Template.Spec.Containers[0].Image)
	assert.Contains(t, ctr.Args, "--log-level=debug")
	assert.Equal(t, "2Gi", ctr.Resources.Limits.Memory().String())
	assert.Contains(t, ctr.Env, corev1.EnvVar{Name: "REPORTING_INTERVAL", Value: "1m"})
	assert.Equal(t, "platform", rep.Spec.Template.Annotations["example.com/owner"])
	assert.Equal(t, "true", rep.Spec.Template.Annotations["prometheus.io/scrape"])
	assert.Equal(t, "platform", rep.Spec.Template.Labels["team"])
	// Helm merges maps with the defaults.
	assert.Equal(t, map[string]string{"node-role.kubernetes.io/infra": "", "kubernetes.io/os": "linux"},
		rep.Spec.Template.Spec.NodeSelector)
	assert.Len(t, rep.Spec.Template.Spec.Tolerations, 1)
	assert.Equal(t, "system-cluster-critical", rep.Spec.Template.Spec.PriorityClassName)
	exp := deps["exporter"].Spec.Template.Spec.Containers[0]
	assert.Contains(t, exp.Env, corev1.EnvVar{Name: "RESOURCE_LABEL_ALLOWLIST", Value: "team,app.kubernetes.io/part-of"})

	rule := find(r.Objects, "PrometheusRule", "flux-operator")
	require.NotNil(t, rule)
	assert.Equal(t, "kube-prometheus-stack", rule.GetLabels()["release"])
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	assert.Len(t, groups, 3)

	cm := find(r.Objects, "ConfigMap", "flux-operator-dashboards")
	require.NotNil(t, cm)
	assert.Equal(t, "1", cm.GetLabels()["grafana_dashboard"])
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	assert.Contains(t, data, "flux-control-plane.json")
	assert.Contains(t, data, "flux-operator-runtime.json")
}

// metricsSecure: the chart's authenticated metrics are those of
// config/metrics-secure.
func TestChartMetricsSecure(t *testing.T) {
	r, err := renderChart(map[string]any{"metricsSecure": true, "installer": map[string]any{"enabled": false},
		"serviceMonitor": map[string]any{"create": true}})
	require.NoError(t, err)
	dryRunApply(t, r.Objects)
	kustomized, err := renderKustomize("metrics-secure")
	require.NoError(t, err)
	for c, d := range deployments(t, r.Objects) {
		assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--metrics-secure", c)
	}
	binding := find(r.Objects, "ClusterRoleBinding", "flux-operator-metrics-auth")
	require.NotNil(t, binding)
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	assert.Len(t, subjects, 2, "the reporter and the exporter, the installer being disabled")
	for _, name := range []string{"flux-operator-metrics-auth", "flux-operator-metrics-reader"} {
		chart, kust := find(r.Objects, "ClusterRole", name), find(kustomized, "ClusterRole", name)
		require.NotNil(t, chart, name)
		require.NotNil(t, kust, name)
		assert.Equal(t, kust.Object["rules"], chart.Object["rules"], name)
	}
	chartEP, _, _ := unstructured.NestedSlice(find(r.Objects, "ServiceMonitor", "flux-operator").Object, "spec", "endpoints")
	kustEP, _, _ := unstructured.NestedSlice(find(kustomized, "ServiceMonitor", "flux-operator").Object, "spec", "endpoints")
	assert.Equal(t, kustEP, chartEP, "the chart's ServiceMonitor scrapes as config/metrics-secure's")

	r, err = renderChart(nil)
	require.NoError(t, err)
	assert.Nil(t, find(r.Objects, "ClusterRole", "flux-operator-metrics-auth"), "no token review rights by default")
}

// replicas above 1: the chart spreads the replicas and keeps one available
// through drains, as config/ha does; one replica gets neither.
func TestChartReplicas(t *testing.T) {
	two := map[string]any{"replicas": 2}
	r, err := renderChart(map[string]any{"installer": two, "reporter": two, "exporter": map[string]any{"replicas": 1}})
	require.NoError(t, err)
	dryRunApply(t, r.Objects)
	ha, err := renderKustomize("ha")
	require.NoError(t, err)
	haDeployments := deployments(t, ha)
	for c, d := range deployments(t, r.Objects) {
		pdb := find(r.Objects, "PodDisruptionBudget", "flux-operator-"+c)
		if c == "exporter" {
			assert.Nil(t, pdb, "no PodDisruptionBudget for one exporter")
			assert.Empty(t, d.Spec.Template.Spec.TopologySpreadConstraints, "no spread for one exporter")
			continue
		}
		assert.Equal(t, int32(2), *d.Spec.Replicas, c)
		assert.Equal(t, haDeployments[c].Spec.Template.Spec.TopologySpreadConstraints, d.Spec.Template.Spec.TopologySpreadConstraints,
			"the chart spreads the %s as config/ha does", c)
		require.NotNil(t, pdb, "PodDisruptionBudget of the %s", c)
		maxUnavailable, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "maxUnavailable")
		haMax, _, _ := unstructured.NestedFieldNoCopy(find(ha, "PodDisruptionBudget", "flux-operator-"+c).Object, "spec", "maxUnavailable")
		assert.Equal(t, haMax, maxUnavailable, "the %s's budget is config/ha's", c)
		selector, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
		assert.Equal(t, d.Spec.Selector.MatchLabels, selector, "the %s's budget selects its Deployment's Pods", c)
	}

	r, err = renderChart(nil)
	require.NoError(t, err)
	for _, o := range r.Objects {
		assert.NotEqual(t, "PodDisruptionBudget", o.GetKind(), "no PodDisruptionBudget with one replica of each")
	}
}

func TestChartRejectsInvalidValues(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"log level":         {map[string]any{"logLevel": "verbose"}, "logLevel"},
		"interval":          {map[string]any{"serviceMonitor": map[string]any{"create": true, "interval": "1 minute"}}, "interval"},
		"unknown value":     {map[string]any{"serviceMonitor": map[string]any{"enabled": true}}, "enabled"},
		"allowlist key":     {map[string]any{"exporter": map[string]any{"enabled": true, "resourceLabelAllowlist": []any{"Bad Key"}}}, "resourceLabelAllowlist"},
		"reporting period":  {map[string]any{"reporter": map[string]any{"enabled": true, "reportingInterval": "often"}}, "reportingInterval"},
		"zero period":       {map[string]any{"reporter": map[string]any{"enabled": true, "reportingInterval": "0s"}}, "reportingInterval"},
		"go duration":       {map[string]any{"serviceMonitor": map[string]any{"create": true, "scrapeTimeout": "1.5m"}}, "scrapeTimeout"},
		"web page size":     {map[string]any{"web": map[string]any{"enabled": true, "pageSize": 0}}, "pageSize"},
		"web page size max": {map[string]any{"web": map[string]any{"enabled": true, "pageSize": 1001}}, "pageSize"},
		"web auth":          {map[string]any{"web": map[string]any{"enabled": true, "auth": "yes"}}, "auth"},
		"web digest":        {map[string]any{"image": map[string]any{"repository": "r", "digest": map[string]any{"web": "latest"}}}, "web"},
		"web unknown":       {map[string]any{"web": map[string]any{"enabled": true, "ingress": true}}, "ingress"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderChart(tc.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// seedServiceMonitor is the ServiceMonitor of the user's description.
const seedServiceMonitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: flux-operator
  namespace: flux-system
  labels:
    release: kube-prometheus-stack
spec:
  namespaceSelector:
    matchNames:
      - flux-system
  selector:
    matchLabels:
      app.kubernetes.io/name: flux-operator
  endpoints:
    - targetPort: 8080
      path: /metrics
      interval: 60s
      scrapeTimeout: 30s
`

func TestServiceMonitorIsTheSeeds(t *testing.T) {
	seed, err := decode(seedServiceMonitor)
	require.NoError(t, err)
	want := seed[0]

	kz, err := renderKustomize("monitoring")
	require.NoError(t, err)
	assert.Equal(t, want.Object, find(kz, "ServiceMonitor", "flux-operator").Object, "config/monitoring")

	r, err := renderChart(map[string]any{"serviceMonitor": map[string]any{
		"create": true, "labels": map[string]any{"release": "kube-prometheus-stack"}}})
	require.NoError(t, err)
	got := find(r.Objects, "ServiceMonitor", "flux-operator")
	require.NotNil(t, got, "serviceMonitor.create=true renders a ServiceMonitor")
	assert.Equal(t, want.Object["spec"], got.Object["spec"], "selector, port, path, interval and scrapeTimeout")
	assert.Equal(t, "kube-prometheus-stack", got.GetLabels()["release"], "the labels of serviceMonitor.labels")
	assert.Equal(t, namespace, got.GetNamespace())

	// The Service it selects is the one the chart renders.
	svc := find(r.Objects, "Service", "flux-operator")
	for k, v := range want.Object["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any) {
		assert.Equal(t, v, svc.GetLabels()[k])
	}
	// Without the value, none.
	r, err = renderChart(nil)
	require.NoError(t, err)
	assert.Nil(t, find(r.Objects, "ServiceMonitor", "flux-operator"))
	assert.False(t, strings.Contains(fmt.Sprint(ids(r.Objects)), "ServiceMonitor"))
}

// TestSamples dry-run applies config/samples: they pass the CRD schemas and
// CEL rules of the operator and of Flux.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configDir("samples"), "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := decode(string(data))
		require.NoError(t, err, f)
		require.NotEmpty(t, objs, f)
		dryRunApply(t, objs)
	}
}
