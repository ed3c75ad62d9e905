package exporter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// prometheus is a real Prometheus server on loopback scraping the exporter.
type prometheus struct {
	url string
}

// startPrometheus starts Debian's prometheus with a scrape config pointing at
// the exporter, every second, and waits until it is ready.
func startPrometheus(t *testing.T) *prometheus {
	t.Helper()
	bin := lookPath(t, "prometheus")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: flux-operator
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, exporter.MetricsAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(config), 0o644))
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", log)
		}
	})
	p := &prometheus{url: "http://" + addr}
	require.NoError(t, testenv.Eventually(context.Background(), 60*time.Second, func(context.Context) error {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("prometheus not ready: %s", resp.Status)
		}
		return nil
	}))
	return p
}

// query runs an instant PromQL query and returns each sample's labels
// (joined as k=v, sorted, without the metric name) with its value.
func (p *prometheus) query(q string) (map[string]string, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	out := map[string]string{}
	for _, r := range body.Data.Result {
		var kv []string
		for k, v := range r.Metric {
			if k == "__name__" {
				continue
			}
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		out[strings.Join(kv, ",")] = fmt.Sprint(r.Value[1])
	}
	return out, nil
}

// eventuallyQuery polls q until it returns want.
func (p *prometheus) eventuallyQuery(t *testing.T, q string, want map[string]string) {
	t.Helper()
	var got map[string]string
	err := testenv.Eventually(context.Background(), 60*time.Second, func(context.Context) error {
		var err error
		if got, err = p.query(q); err != nil {
			return err
		}
		if !assert.ObjectsAreEqual(want, got) {
			return fmt.Errorf("query %s = %v, want %v", q, got, want)
		}
		return nil
	})
	assert.NoError(t, err)
}

// TestPrometheusScrapesTheExporter has a real Prometheus scrape the exporter
// and answers the queries the metrics guide shows.
func TestPrometheusScrapesTheExporter(t *testing.T) {
	touchReport(t)
	p := startPrometheus(t)
	ns := `exported_namespace="` + goldenNS + `"`

	// The target is up and the seed's query counts the failing resources.
	p.eventuallyQuery(t, `up{job="flux-operator"}`, map[string]string{
		"instance=" + exporter.MetricsAddr + ",job=flux-operator": "1"})
	p.eventuallyQuery(t, `count by (kind) (flux_resource_info{ready="False",`+ns+`})`, map[string]string{
		"kind=Kustomization": "3", "kind=OCIRepository": "1"})

	// The guide's alert: not ready for 15 minutes, suspended ones excluded;
	// DependencyNotReady is left out with a label filter.
	p.eventuallyQuery(t, `count by (kind) (
		  (time() - flux_resource_not_ready_timestamp_seconds{`+ns+`}) > 900
		  and on (uid) flux_resource_info{reason!="DependencyNotReady"})`, map[string]string{
		"kind=ImagePolicy": "1", "kind=Kustomization": "2", "kind=OCIRepository": "1"})

	// Routing by team, from the allow-listed label.
	p.eventuallyQuery(t, `count by (label_team) (flux_resource_info{ready="False",`+ns+`})`, map[string]string{
		"label_team=payments": "1", "label_team=platform": "2", "": "1"})

	// Suspended resources.
	p.eventuallyQuery(t, `count(flux_resource_info{suspended="True",`+ns+`})`, map[string]string{"": "1"})

	// The report's freshness is a timestamp Prometheus can compare with time().
	p.eventuallyQuery(t, `count((time() - flux_report_timestamp_seconds) < 3600)`, map[string]string{"": "1"})
}
