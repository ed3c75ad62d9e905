//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// binary is bin/flux-operator-<name> run against the e2e cluster as a local
// process, as `make run` runs it.
type binary struct {
	name, metrics, health string
	env                   []string
	// kubeconfig is the e2e cluster's unless set; args are added to the
	// address and log flags.
	kubeconfig string
	args       []string
	mu         sync.Mutex
	cmd        *exec.Cmd
	logs       *bytes.Buffer
	// exited is closed when the current process has exited.
	exited chan struct{}
}

// startBinary starts the binary, waits for its /readyz and stops it at the
// end of the test.
func startBinary(t *testing.T, name, metrics, health string, env ...string) *binary {
	t.Helper()
	return startProcess(t, &binary{name: name, metrics: metrics, health: health, env: env})
}

// startProcess starts b as startBinary does.
func startProcess(t *testing.T, b *binary) *binary {
	t.Helper()
	name := b.name
	b.start(t)
	t.Cleanup(func() {
		b.stop(os.Interrupt)
		if t.Failed() || os.Getenv("E2E_LOGS") != "" {
			t.Logf("%s logs:\n%s", name, b.output())
		}
	})
	return b
}

func (b *binary) start(t *testing.T) {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "flux-operator-"+b.name)
	cmd := exec.Command(bin, append([]string{"--metrics-addr", b.metrics, "--health-addr", b.health, "--log-encoding", "console"},
		b.args...)...)
	kc := b.kubeconfig
	if kc == "" {
		kc = kubeconfig
	}
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kc, "RUNTIME_NAMESPACE=flux-system"), b.env...)
	b.mu.Lock()
	if b.logs == nil {
		b.logs = &bytes.Buffer{}
	}
	cmd.Stdout, cmd.Stderr = lockedWriter{b}, lockedWriter{b}
	b.cmd = cmd
	exited := make(chan struct{})
	b.exited = exited
	b.mu.Unlock()
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(exited) }()
	require.NoError(t, testenv.Eventually(context.Background(), time.Minute, func(context.Context) error {
		code, _, err := get("http://" + b.health + "/readyz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%s /readyz: %d", b.name, code)
		}
		return err
	}))
}

// stop signals the process and waits for it to exit.
func (b *binary) stop(sig os.Signal) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-exited
}

// pid is the process ID of the binary's current process.
func (b *binary) pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd.Process.Pid
}

// running says whether the current process has not exited.
func (b *binary) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

func (b *binary) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

// count is how many lines of the output contain every one of substrs.
func (b *binary) count(substrs ...string) int {
	n := 0
	for _, l := range strings.Split(b.output(), "\n") {
		all := true
		for _, s := range substrs {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

type lockedWriter struct{ b *binary }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.logs.Write(p)
}

// receiver is an event receiver on loopback standing in for Slack behind
// notification-controller: it keeps the events posted to it.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []eventv1.Event
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e eventv1.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.events = append(rc.events, e)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// find returns the last event with reason whose message contains substr.
func (rc *receiver) find(reason, substr string) (eventv1.Event, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var reasons []string
	for i := len(rc.events) - 1; i >= 0; i-- {
		e := rc.events[i]
		if e.Reason == reason && strings.Contains(e.Message, substr) {
			return e, nil
		}
		reasons = append(reasons, e.Reason)
	}
	return eventv1.Event{}, fmt.Errorf("no %s event with %q received; got %v", reason, substr, reasons)
}

// blockingWebhook is a validating admission webhook on loopback that holds
// the admission of one Deployment until released: an apply that reaches
// that object is stopped in the middle.
type blockingWebhook struct {
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
	name    string
}

// startBlockingWebhook registers the webhook for the Deployment name and
// returns it; release() lets the admission through and removes the webhook.
func startBlockingWebhook(t *testing.T, name string) (*blockingWebhook, func()) {
	t.Helper()
	ctx := context.Background()
	wh := &blockingWebhook{blocked: make(chan struct{}), release: make(chan struct{}), name: name}
	cert, caPEM := selfSignedCert(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: wh, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	url := "https://" + l.Addr().String() + "/validate"
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-hold-" + name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "hold.e2e.fluxops.example.com",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptrTo(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptrTo(admissionregistrationv1.Fail),
			TimeoutSeconds:          ptrTo[int32](30),
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"},
					Resources: []string{"deployments"}},
			}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "only-" + name,
				Expression: fmt.Sprintf("object.metadata.name == %q", name)}},
		}},
	}
	require.NoError(t, k8s.Create(ctx, cfg))
	var done sync.Once
	release := func() {
		done.Do(func() {
			close(wh.release)
			_ = k8s.Delete(ctx, cfg)
			_ = srv.Close()
		})
	}
	t.Cleanup(release)
	return wh, release
}

func (wh *blockingWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if review.Request.Name == wh.name {
		wh.once.Do(func() { close(wh.blocked) })
		select {
		case <-wh.release:
		case <-time.After(25 * time.Second):
		}
	}
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	review.Request = nil
	_ = json.NewEncoder(w).Encode(review)
}

// selfSignedCert is a certificate for 127.0.0.1 and its PEM, the webhook's
// CA bundle.
func selfSignedCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	require.NoError(t, err)
	return cert, certPEM
}

func ptrTo[T any](v T) *T { return &v }

// instanceSeries is the flux_instance_info line the exporter at addr
// serves, or "" when it serves none.
func instanceSeries(addr string) (string, error) {
	body, err := scrape(addr)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "flux_instance_info{") {
			return l, nil
		}
	}
	return "", nil
}

// waitInstanceSeries waits until the exporter's flux_instance_info has every
// label=value of want (regular expressions for values).
func waitInstanceSeries(t *testing.T, addr string, want map[string]string) string {
	t.Helper()
	var line string
	require.NoError(t, testenv.Eventually(context.Background(), 30*time.Second, func(context.Context) error {
		var err error
		if line, err = instanceSeries(addr); err != nil {
			return err
		}
		for k, v := range want {
			if !regexp.MustCompile(k + `="` + v + `"`).MatchString(line) {
				return fmt.Errorf("flux_instance_info has no %s=%q: %s", k, v, line)
			}
		}
		return nil
	}))
	return line
}

// events is what `kubectl -n flux-system events --for fluxinstance/flux`
// prints, with extra arguments.
func events(ctx context.Context, args ...string) (string, error) {
	return kubectl(ctx, append([]string{"-n", "flux-system", "events", "--for", "fluxinstance/flux"}, args...)...)
}

// waitEvent waits until the instance's events list a line with every one
// of substrs.
func waitEvent(t *testing.T, timeout time.Duration, args []string, substrs ...string) string {
	t.Helper()
	var found string
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(ctx context.Context) error {
		out, err := events(ctx, args...)
		if err != nil {
			return err
		}
	lines:
		for _, l := range strings.Split(out, "\n") {
			for _, s := range substrs {
				if !strings.Contains(l, s) {
					continue lines
				}
			}
			found = l
			return nil
		}
		return fmt.Errorf("no event line with %q:\n%s", substrs, out)
	}))
	return found
}

// get returns the status and the body of a GET of url.
func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// scrape returns the /metrics served on addr, or an error.
func scrape(addr string) (string, error) {
	code, body, err := get("http://" + addr + "/metrics")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("/metrics: %d", code)
	}
	return body, err
}

// httpGet returns the body of a GET of url, which must answer 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	code, body, err := get(url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "%s: %s", url, body)
	return body
}

// holdFault keeps a fault in place until d after it began (the duration is
// the scenario's: "the API server unreachable for 60s"), checking all the
// while what the scenario is about: every binary keeps running through it.
func holdFault(t *testing.T, began time.Time, d time.Duration, all ...*binary) {
	t.Helper()
	require.NoError(t, testenv.Consistently(context.Background(), time.Until(began.Add(d)), func(context.Context) error {
		for _, b := range all {
			if !b.running() {
				return fmt.Errorf("%s exited during the fault:\n%s", b.name, b.output())
			}
		}
		return nil
	}))
}

// assertRodeOut checks the binaries after the API server came back from an
// outage: each is still the process it was (pids, in the order of all),
// said once that it lost the API server and once that it is back, and
// logged at most 3 error lines in logs[name] (what it logged while the API
// server was away); the exporter's failed readiness probe added no line,
// and the leaders stepped down with their Lease and campaigned again.
func assertRodeOut(t *testing.T, all []*binary, pids []int, logs map[string]string) {
	t.Helper()
	for i, b := range all {
		assert.True(t, b.running(), "%s exited during the outage:\n%s", b.name, b.output())
		assert.Equal(t, pids[i], b.pid(), "%s was restarted", b.name)
		assert.Equal(t, 1, b.count(lostLog), "%s logs the loss once", b.name)
		assert.Equal(t, 1, b.count(backLog), "%s logs the return once", b.name)
		// Nothing repeats an error while the API server is away.
		assert.LessOrEqual(t, errorLines(logs[b.name]), 3, "%s logged errors:\n%s", b.name, logs[b.name])
		if b.name == "exporter" {
			assert.Zero(t, b.count("healthz check failed"), "a failed readiness probe adds no line at the info level")
			continue
		}
		assert.Contains(t, b.output(), "lost the leader Lease: stepped down, campaigning again",
			"the %s steps down when it cannot renew its Lease, and campaigns again in the same process", b.name)
	}
}

// requestReport asks the reporter of ns for a report now, as a user would.
func requestReport(t *testing.T, ns string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		fmt.Sprintf("%s=%d", apiv1.ReconcileRequestAnnotation, time.Now().UnixNano()))
}

// waitServedAfterReports asks the reporter of ns for a report every 2 s
// until the exporter at addr serves every line of want. The series follow the
// reports, and an object created just before one may reach the exporter's
// cache only after it has refreshed from that report: it is served from the
// next report, which a user waiting for it asks for.
func waitServedAfterReports(t *testing.T, timeout time.Duration, ns, addr string, want []string) {
	t.Helper()
	askReports(t, timeout, ns, func(context.Context) error { return serves(addr, want) })
}

// askReports asks the reporter of ns for a report every 2 s, as a user
// waiting for one would, until check succeeds.
func askReports(t *testing.T, timeout time.Duration, ns string, check func(context.Context) error) {
	t.Helper()
	asked := time.Time{}
	require.NoError(t, testenv.Eventually(context.Background(), timeout, func(ctx context.Context) error {
		if time.Since(asked) >= 2*time.Second {
			requestReport(t, ns)
			asked = time.Now()
		}
		return check(ctx)
	}))
}

// operatorComponents are the operator's binaries, each a Deployment
// flux-operator-<name> once installed.
var operatorComponents = []string{"installer", "reporter", "exporter"}

// deleteOperatorAtEnd deletes the operator's Deployments at the end of the
// test, for the tests after it to run the binaries as processes.
func deleteOperatorAtEnd(t *testing.T) {
	t.Cleanup(func() {
		for _, c := range operatorComponents {
			_, _ = kubectl(context.Background(), "-n", "flux-system", "delete", "deployment", "flux-operator-"+c, "--ignore-not-found")
		}
	})
}
