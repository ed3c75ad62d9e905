package testenv

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
)

// Prometheus is a real Prometheus server (Debian's prometheus) on loopback.
type Prometheus struct {
	// URL is the server's base URL.
	URL string
}

// StartPrometheus starts a Prometheus that scrapes target's /metrics every
// second and, when rules is not empty, evaluates that rule file every
// second; it waits until the server is ready and stops it when the test
// ends, logging its log when the test failed.
func StartPrometheus(t *testing.T, target, rules string) *Prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	require.NoError(t, err, "prometheus is needed: install the Debian package prometheus (`make prometheus` does; `make test` runs it)")
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
`, target)
	if rules != "" {
		config += fmt.Sprintf("rule_files: [%q]\n", rules)
	}
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
	p := &Prometheus{URL: "http://" + addr}
	require.NoError(t, Eventually(context.Background(), 60*time.Second, func(context.Context) error {
		resp, err := http.Get(p.URL + "/-/ready")
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

// get decodes the data of a Prometheus API answer into data.
func (p *Prometheus) get(path string, data any) error {
	resp, err := http.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// Query runs an instant PromQL query and returns each sample's labels
// (joined as k=v, sorted, without the metric name) with its value.
func (p *Prometheus) Query(q string) (map[string]string, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range data.Result {
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

// EventuallyQuery polls q for up to a minute until it returns want.
func (p *Prometheus) EventuallyQuery(t *testing.T, q string, want map[string]string) {
	t.Helper()
	var got map[string]string
	err := Eventually(context.Background(), 60*time.Second, func(context.Context) error {
		var err error
		if got, err = p.Query(q); err != nil {
			return err
		}
		if !assert.ObjectsAreEqual(want, got) {
			return fmt.Errorf("query %s = %v, want %v", q, got, want)
		}
		return nil
	})
	assert.NoError(t, err)
}

// Alert is an alert of the server's /api/v1/alerts.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// Alerts returns the pending and firing alerts named name.
func (p *Prometheus) Alerts(name string) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", &data); err != nil {
		return nil, err
	}
	var out []Alert
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out, nil
}
