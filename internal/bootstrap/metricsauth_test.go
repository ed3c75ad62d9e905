package bootstrap

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
)

// reviewServer is the part of the API server that metricsAuth asks: it
// answers TokenReviews and SubjectAccessReviews and counts them.
type reviewServer struct {
	// users maps a valid token to its user; a token user-* is valid for a
	// user of that name; any other token is not valid.
	users map[string]authenticationv1.UserInfo
	// allowed is the user that may get every non-resource URL.
	allowed string
	// hold, when set, is waited on before each answer, so that a test can
	// keep a review open until concurrent requests are waiting on it.
	hold <-chan struct{}

	tokenReviews, accessReviews atomic.Int32
}

const prometheusUser = "system:serviceaccount:monitoring:prometheus"

func newReviewServer(t *testing.T) (*reviewServer, *rest.Config) {
	t.Helper()
	rs := &reviewServer{
		users: map[string]authenticationv1.UserInfo{
			"valid":  {Username: prometheusUser, Groups: []string{"system:serviceaccounts"}},
			"nobody": {Username: "system:serviceaccount:monitoring:nobody"},
		},
		allowed: prometheusUser,
	}
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	// QPS -1: no client-side rate limit, so that only metricsAuth's own counts.
	return rs, &rest.Config{Host: srv.URL, QPS: -1, ContentConfig: rest.ContentConfig{ContentType: "application/json"}}
}

func (rs *reviewServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rs.hold != nil {
		<-rs.hold
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/tokenreviews":
		rs.tokenReviews.Add(1)
		var tr authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
		if u, ok := rs.users[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
		} else if strings.HasPrefix(tr.Spec.Token, "user-") {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true,
				User: authenticationv1.UserInfo{Username: tr.Spec.Token}}
		}
		tr.Spec.Token = ""
		_ = json.NewEncoder(w).Encode(&tr)
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		rs.accessReviews.Add(1)
		var sar authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&sar); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
		sar.Status.Allowed = sar.Spec.User == rs.allowed && sar.Spec.NonResourceAttributes != nil &&
			sar.Spec.NonResourceAttributes.Verb == "get"
		_ = json.NewEncoder(w).Encode(&sar)
	default:
		http.NotFound(w, r)
	}
}

// metricsHandler is what the metrics server serves behind the filter.
var metricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("flux_operator_api_server_connected 1\n"))
})

// newAuthFilter returns the filter metricsAuthFilter provides against cfg,
// which the metrics server puts around each of its handlers.
func newAuthFilter(t *testing.T, cfg *rest.Config) func(http.Handler) http.Handler {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := metricsAuthFilter(nil)(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return func(h http.Handler) http.Handler {
		wrapped, err := filter(logr.Discard(), h)
		if err != nil {
			t.Fatal(err)
		}
		return wrapped
	}
}

func get(h http.Handler, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1:8080"+path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestMetricsAuthAnswersByTokenAndRBAC(t *testing.T) {
	_, cfg := newReviewServer(t)
	h := newAuthFilter(t, cfg)(metricsHandler)
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a token the API server does not know", "forged", http.StatusUnauthorized},
		{"a user without RBAC on /metrics", "nobody", http.StatusForbidden},
		{"a user allowed to get /metrics", "valid", http.StatusOK},
	} {
		if got := get(h, "/metrics", c.token); got.Code != c.want {
			t.Errorf("%s: %d %q, want %d", c.name, got.Code, got.Body.String(), c.want)
		}
	}
	// HEAD is reviewed as get, as the API server does; other methods are not
	// reviewed.
	for method, want := range map[string]int{http.MethodHead: http.StatusOK, http.MethodPost: http.StatusMethodNotAllowed} {
		r := httptest.NewRequest(method, "https://127.0.0.1:8080/metrics", nil)
		r.Header.Set("Authorization", "Bearer valid")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s with a valid token: %d %q, want %d", method, w.Code, w.Body.String(), want)
		}
	}
}

// TestMetricsAuthReviewsAValidTokenOnce: many concurrent scrapes with the same
// token, on two paths the metrics server serves, cost one TokenReview and one
// SubjectAccessReview per path; many with the same bad token cost one
// TokenReview.
func TestMetricsAuthReviewsAValidTokenOnce(t *testing.T) {
	rs, cfg := newReviewServer(t)
	const requests, workers = 4000, 64
	// Every review is held until all the workers have a request in the
	// filter: they all wait on the first reviews, which must be shared.
	allWaiting := make(chan struct{})
	rs.hold = allWaiting
	var inFlight atomic.Int32
	// The metrics server's mux, with an extra handler, each behind the filter.
	filter := newAuthFilter(t, cfg)
	mux := http.NewServeMux()
	mux.Handle("/metrics", filter(metricsHandler))
	mux.Handle("/extra", filter(metricsHandler))
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight.Add(1) == workers {
			close(allWaiting)
		}
		mux.ServeHTTP(w, r)
	})

	var next atomic.Int32
	var wrong sync.Map
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= requests; i = int(next.Add(1)) {
				path, token, want := "/metrics", "valid", http.StatusOK
				if i%2 == 0 {
					path = "/extra"
				}
				if i%4 == 1 {
					token, want = "forged", http.StatusUnauthorized
				}
				if got := get(counted, path, token); got.Code != want {
					wrong.Store(path+" "+token+" "+strconv.Itoa(got.Code), got.Body.String())
				}
			}
		})
	}
	wg.Wait()
	wrong.Range(func(k, v any) bool { t.Errorf("%s: %s", k, v); return true })
	if got := rs.tokenReviews.Load(); got != 2 {
		t.Errorf("%d TokenReviews for %d requests with 2 tokens, want 2", got, requests)
	}
	if got := rs.accessReviews.Load(); got != 2 {
		t.Errorf("%d SubjectAccessReviews for %d requests of one user on 2 paths, want 2", got, requests)
	}
}

// TestMetricsAuthReviewsNoRandomPath: a path the metrics server does not
// serve is not found, whatever the token, without asking the API server.
func TestMetricsAuthReviewsNoRandomPath(t *testing.T) {
	rs, cfg := newReviewServer(t)
	h := newAuthFilter(t, cfg)(metricsHandler)
	const requests = 4000
	codes := map[int]int{}
	for range requests {
		codes[get(h, "/"+randomString(t), "valid").Code]++
	}
	if codes[http.StatusNotFound] != requests {
		t.Errorf("answers to %d random paths: %v, want all %d", requests, codes, http.StatusNotFound)
	}
	if got := rs.accessReviews.Load(); got != 0 {
		t.Errorf("%d SubjectAccessReviews for %d random paths, want 0", got, requests)
	}
	if got := rs.tokenReviews.Load(); got != 0 {
		t.Errorf("%d TokenReviews for %d random paths, want 0", got, requests)
	}
}

// TestMetricsAuthRateLimitsRandomTokens: random tokens cost at most the rate
// limit's TokenReviews; the rest are told to retry later, and a scraper whose
// answer is cached is still served.
func TestMetricsAuthRateLimitsRandomTokens(t *testing.T) {
	rs, cfg := newReviewServer(t)
	h := newAuthFilter(t, cfg)(metricsHandler)
	if got := get(h, "/metrics", "valid"); got.Code != http.StatusOK {
		t.Fatalf("the valid token: %d %q", got.Code, got.Body.String())
	}
	rs.tokenReviews.Store(0)

	const requests = 4000
	codes := map[int]int{}
	start := time.Now()
	for i := range requests {
		w := get(h, "/metrics", randomString(t))
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Fatal("a 429 without Retry-After")
		}
		if i%100 == 0 {
			if got := get(h, "/metrics", "valid"); got.Code != http.StatusOK {
				t.Fatalf("the valid token during the flood: %d %q", got.Code, got.Body.String())
			}
		}
	}
	elapsed := time.Since(start)
	limit := int32(metricsAuthBurst + int(metricsAuthQPS*elapsed.Seconds()) + 1)
	if got := rs.tokenReviews.Load(); got > limit {
		t.Errorf("%d TokenReviews for %d random tokens in %v, want at most %d (burst %d, %v/s)",
			got, requests, elapsed.Round(time.Millisecond), limit, metricsAuthBurst, metricsAuthQPS)
	}
	if codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != requests {
		t.Errorf("answers to %d random tokens: %v, want only %d and %d", requests, codes,
			http.StatusUnauthorized, http.StatusTooManyRequests)
	}
}

// newTestMetricsAuth is a metricsAuth against rs whose time only moves when
// the test steps it, so that the rate limit never refills by itself.
func newTestMetricsAuth(t *testing.T, cfg *rest.Config, maxEntries, burst int) (*metricsAuth, *testingclock.FakePassiveClock) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := testingclock.NewFakePassiveClock(time.Now())
	return newMetricsAuth(cs, clk, maxEntries, metricsAuthQPS, burst), clk
}

// TestMetricsAuthCachesStayBounded: as many users as the rate limit lets
// through fill each cache up to its bound, no further.
func TestMetricsAuthCachesStayBounded(t *testing.T) {
	_, cfg := newReviewServer(t)
	const requests, maxEntries = 4000, 100
	a, _ := newTestMetricsAuth(t, cfg, maxEntries, 2*requests)
	h := a.wrap(logr.Discard(), metricsHandler)
	codes := map[int]int{}
	for range requests {
		codes[get(h, "/metrics", "user-"+randomString(t)).Code]++
	}
	if codes[http.StatusForbidden] != requests {
		t.Errorf("answers to %d users without RBAC: %v, want all %d", requests, codes, http.StatusForbidden)
	}
	if got := a.authn.lru.Len(); got != maxEntries {
		t.Errorf("%d tokens cached after %d, want %d", got, requests, maxEntries)
	}
	if got := a.authz.lru.Len(); got != maxEntries {
		t.Errorf("%d users' rights cached after %d, want %d", got, requests, maxEntries)
	}
}

// TestMetricsAuthRateLimitHoldsExactly: with no time passing, the burst is
// all the reviews there are; then the cached answers are still served and
// the rest are told to retry in a second.
func TestMetricsAuthRateLimitHoldsExactly(t *testing.T) {
	rs, cfg := newReviewServer(t)
	a, clk := newTestMetricsAuth(t, cfg, metricsAuthMaxEntries, metricsAuthBurst)
	h := a.wrap(logr.Discard(), metricsHandler)
	if got := get(h, "/metrics", "valid"); got.Code != http.StatusOK {
		t.Fatalf("the valid token: %d %q", got.Code, got.Body.String())
	}
	for range 4000 {
		_ = get(h, "/metrics", randomString(t))
	}
	if got, want := rs.tokenReviews.Load()+rs.accessReviews.Load(), int32(metricsAuthBurst); got != want {
		t.Errorf("%d reviews for 4000 random tokens, want the burst, %d", got, want)
	}
	if got := a.authn.lru.Len(); got != metricsAuthBurst-1 {
		t.Errorf("%d tokens cached, want %d", got, metricsAuthBurst-1)
	}
	if got := get(h, "/metrics", "valid"); got.Code != http.StatusOK {
		t.Errorf("the valid token after the flood: %d %q", got.Code, got.Body.String())
	}
	w := get(h, "/metrics", "nobody")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Errorf("a new token after the flood: %d, Retry-After %q, want 429 and 1", w.Code, w.Header().Get("Retry-After"))
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if got := get(h, "/metrics", "nobody"); got.Code != http.StatusForbidden {
		t.Errorf("a new token a second later: %d %q, want 403", got.Code, got.Body.String())
	}
}

// TestMetricsAuthForgetsAnswersAfterTheirTTL: an allowed token is reviewed
// again after a minute, a refused one after ten seconds.
func TestMetricsAuthForgetsAnswersAfterTheirTTL(t *testing.T) {
	rs, cfg := newReviewServer(t)
	a, clk := newTestMetricsAuth(t, cfg, metricsAuthMaxEntries, metricsAuthBurst)
	h := a.wrap(logr.Discard(), metricsHandler)
	step := func(d time.Duration) { clk.SetTime(clk.Now().Add(d)) }
	check := func(when, token string, code int, tokenReviews int32) {
		t.Helper()
		if got := get(h, "/metrics", token); got.Code != code {
			t.Errorf("%s, %s: %d %q, want %d", when, token, got.Code, got.Body.String(), code)
		}
		if got := rs.tokenReviews.Load(); got != tokenReviews {
			t.Errorf("%s, %s: %d TokenReviews in all, want %d", when, token, got, tokenReviews)
		}
	}
	check("first", "valid", http.StatusOK, 1)
	check("first", "forged", http.StatusUnauthorized, 2)
	step(authDeniedTTL - time.Second)
	check("9s later", "valid", http.StatusOK, 2)
	check("9s later", "forged", http.StatusUnauthorized, 2)
	step(2 * time.Second)
	check("11s later", "forged", http.StatusUnauthorized, 3)
	step(authAllowedTTL - 11*time.Second)
	check("a minute later", "valid", http.StatusOK, 4)
	if got := rs.accessReviews.Load(); got != 2 {
		t.Errorf("%d SubjectAccessReviews for one user in a minute and a second, want 2", got)
	}
}

// TestMetricsAuthDoesNotRememberTheAPIServersTrouble: a review that fails is
// asked again on the next request.
func TestMetricsAuthDoesNotRememberTheAPIServersTrouble(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		http.Error(w, "etcdserver: request timed out", http.StatusInternalServerError)
	}))
	defer srv.Close()
	a, _ := newTestMetricsAuth(t, &rest.Config{Host: srv.URL, QPS: -1}, metricsAuthMaxEntries, metricsAuthBurst)
	h := a.wrap(logr.Discard(), metricsHandler)
	for range 3 {
		if got := get(h, "/metrics", "valid"); got.Code != http.StatusInternalServerError {
			t.Errorf("an API server in trouble: %d %q, want 500", got.Code, got.Body.String())
		}
	}
	if got := asked.Load(); got != 3 {
		t.Errorf("%d TokenReviews for 3 requests while the API server fails, want 3", got)
	}
	if got := a.authn.lru.Len(); got != 0 {
		t.Errorf("%d answers cached from an API server in trouble, want 0", got)
	}
}
