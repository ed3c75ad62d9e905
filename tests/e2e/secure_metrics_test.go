//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// TestSecureMetrics: --metrics-secure, as the ServiceMonitor of
// docs/monitoring.md scrapes it: HTTPS, a ServiceAccount token, and RBAC on
// the /metrics non-resource URL, checked by the API server.
func TestSecureMetrics(t *testing.T) {
	testEnv.Test(t, features.New("authenticated metrics").
		Assess("only a token allowed to get /metrics reads the series, over HTTPS", step(secureMetrics)).
		Feature())
}

func secureMetrics(t *testing.T) {
	ns := faultNamespace(t, "secure-metrics")
	applyYAML(t, gitRepository(ns, "app"))
	applyYAML(t, `apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: secure-metrics}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nobody, namespace: secure-metrics}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-flux-operator-metrics-reader}
rules:
  - nonResourceURLs: ["/metrics"]
    verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-flux-operator-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-flux-operator-metrics-reader}
subjects:
  - {kind: ServiceAccount, name: prometheus, namespace: secure-metrics}
`)
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "delete", "clusterrolebinding,clusterrole", "e2e-flux-operator-metrics-reader")
	})
	env := []string{"RUNTIME_NAMESPACE=" + ns}
	exporter := startProcess(t, &binary{name: "exporter", env: env, args: []string{"--metrics-secure"},
		metrics: "127.0.0.1:19500", health: "127.0.0.1:19501"})
	reporter := startProcess(t, &binary{name: "reporter", env: env, args: []string{"--metrics-secure"},
		metrics: "127.0.0.1:19502", health: "127.0.0.1:19503"})
	allowed := strings.TrimSpace(mustKubectl(t, "-n", ns, "create", "token", "prometheus"))
	denied := strings.TrimSpace(mustKubectl(t, "-n", ns, "create", "token", "nobody"))

	// The certificate is self-signed without --metrics-cert-dir: the
	// ServiceMonitor sets insecureSkipVerify or a CA of its own.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the self-signed serving certificate
	}}
	get := func(url, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	for _, b := range []*binary{exporter, reporter} {
		url := "https://" + b.metrics + "/metrics"
		// The HTTPS server starts a moment after /readyz answers.
		require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
			resp, err := hc.Get(url)
			if err == nil {
				_ = resp.Body.Close()
			}
			return err
		}))
		code, _ := get(url, "")
		assert.Equal(t, http.StatusUnauthorized, code, "%s: no token", b.name)
		code, _ = get(url, denied)
		assert.Equal(t, http.StatusForbidden, code, "%s: a token without RBAC on /metrics", b.name)
		code, body := get(url, allowed)
		assert.Equal(t, http.StatusOK, code, "%s: %s", b.name, body)
		assert.Contains(t, body, "flux_operator_api_server_connected 1", b.name)
		// Plain HTTP is not served.
		resp, err := http.Get("http://" + b.metrics + "/metrics")
		if err == nil {
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s answers plain HTTP", b.name)
			_ = resp.Body.Close()
		}
	}
	// The exporter's own series are behind the same check.
	require.NoError(t, testenv.Eventually(context.Background(), time.Minute, func(context.Context) error {
		if _, body := get("https://"+exporter.metrics+"/metrics", allowed); !strings.Contains(body, series("GitRepository", ns, "app")) {
			return io.ErrUnexpectedEOF
		}
		return nil
	}))
}
