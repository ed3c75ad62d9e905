package packaging_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/fluxops/flux-operator/metrics-exporter/metrics"
)

func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is needed: install the Debian package prometheus (`make prometheus`)")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out.String())
	return out.String()
}

// writeRules writes the groups of config/monitoring/prometheusrule.yaml as a
// Prometheus rule file in dir.
func writeRules(t *testing.T, dir string) {
	t.Helper()
	objs, err := renderKustomize("monitoring")
	require.NoError(t, err)
	rule := find(objs, "PrometheusRule", "flux-operator")
	require.NotNil(t, rule)
	data, err := yaml.Marshal(map[string]any{"groups": rule.Object["spec"].(map[string]any)["groups"]})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), data, 0o644))
}

// TestAlertsFire checks every rule with `promtool check rules` and runs the
// rule unit tests of testdata/alerts_test.yaml: each alert fires on recorded
// series, with its labels and annotations, and stays quiet where it should.
func TestAlertsFire(t *testing.T) {
	dir := t.TempDir()
	writeRules(t, dir)
	out := promtool(t, dir, "check", "rules", "rules.yaml")
	assert.Contains(t, out, "SUCCESS: 8 rules found")

	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644))
	out = promtool(t, dir, "test", "rules", "alerts_test.yaml")
	assert.Contains(t, out, "SUCCESS")

	// Every alert has a unit test.
	rules, err := os.ReadFile(filepath.Join(dir, "rules.yaml"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)alert: (\w+)`).FindAllStringSubmatch(string(rules), -1) {
		assert.Contains(t, string(tests), "alertname: "+m[1], "alert %s has a promtool test", m[1])
	}
}

// servedMetrics are the metric names the operator serves: the exporter's own
// and the runtime metrics the dashboards use.
var servedMetrics = map[string]bool{
	metrics.InstanceInfoName: true, metrics.ResourceInfoName: true, metrics.ResourceNotReadySinceName: true,
	metrics.ReportTimestampName: true, metrics.ReportReadyName: true, metrics.ReportReconcilersName: true,
	metrics.ReportComponentReadyName: true, metrics.ReportSyncReadyName: true, metrics.ReportDistributionName: true,
	"controller_runtime_reconcile_errors_total": true, "controller_runtime_reconcile_total": true,
	"rest_client_requests_total": true, "workqueue_longest_running_processor_seconds": true,
	"go_memstats_alloc_bytes": true, "go_goroutines": true,
}

var metricName = regexp.MustCompile(`\b(flux_[a-z_]+|controller_runtime_[a-z_]+|rest_client_[a-z_]+|workqueue_[a-z_]+|go_[a-z_]+)\b`)

// TestDashboards checks that each Grafana dashboard is valid JSON, that every
// query parses as PromQL (promtool, as recording rules) and that it queries
// only metrics the operator serves.
func TestDashboards(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configDir("monitoring"), "dashboards", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	var rules []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			UID, Title string
			Templating struct {
				List []struct{ Name, Type string }
			}
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		require.NoError(t, json.Unmarshal(data, &d), f)
		assert.NotEmpty(t, d.UID, f)
		hasDatasource := false
		for _, v := range d.Templating.List {
			hasDatasource = hasDatasource || (v.Name == "datasource" && v.Type == "datasource")
		}
		assert.True(t, hasDatasource, "%s lets the user pick the Prometheus data source", f)
		require.NotEmpty(t, d.Panels, f)
		for _, p := range d.Panels {
			require.NotEmpty(t, p.Targets, "%s: panel %q", f, p.Title)
			for _, tg := range p.Targets {
				expr := strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*").Replace(tg.Expr)
				rules = append(rules, map[string]any{"record": "dashboard:" + strings.ToLower(regexp.MustCompile(`\W+`).ReplaceAllString(p.Title, "_")), "expr": expr})
				names := metricName.FindAllString(expr, -1)
				assert.NotEmpty(t, names, "%s: panel %q queries no metric", f, p.Title)
				for _, n := range names {
					assert.True(t, servedMetrics[n], "%s: panel %q queries %s, which the operator does not serve", f, p.Title, n)
				}
			}
		}
	}
	dir := t.TempDir()
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dashboards.yaml"), data, 0o644))
	promtool(t, dir, "check", "rules", "dashboards.yaml")
}
