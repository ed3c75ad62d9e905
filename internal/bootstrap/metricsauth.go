package bootstrap

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long the API server's answer about a token is reused: a scrape every
// 15s costs one TokenReview and one SubjectAccessReview a minute, and a
// revoked token or binding stops working within a minute.
const (
	authAllowedTTL = time.Minute
	authDeniedTTL  = 10 * time.Second
	authTimeout    = 10 * time.Second
)

// metricsAuth lets a request through when the API server authenticates its
// bearer token (a TokenReview) and authorizes the user to get the request's
// path as a non-resource URL (a SubjectAccessReview), as kube-controller-
// manager's metrics endpoint does: 401 without a valid token, 403 without
// the right. It uses client-go alone, not k8s.io/apiserver, which would add
// some 20 MB to every binary for two API calls.
type metricsAuth struct {
	client kubernetes.Interface
	log    logr.Logger

	mu    sync.Mutex
	cache map[[32]byte]authResult
}

type authResult struct {
	code    int // http.StatusOK, StatusUnauthorized or StatusForbidden
	reason  string
	expires time.Time
}

// metricsAuthFilter is a metrics server FilterProvider that wraps the
// handler with metricsAuth, after own, the binary's filter, when there is one.
func metricsAuthFilter(own func(*rest.Config, *http.Client) (metricsserver.Filter, error)) func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
	return func(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
		cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
		if err != nil {
			return nil, err
		}
		var inner metricsserver.Filter
		if own != nil {
			if inner, err = own(cfg, hc); err != nil {
				return nil, err
			}
		}
		return func(log logr.Logger, h http.Handler) (http.Handler, error) {
			if inner != nil {
				if h, err = inner(log, h); err != nil {
					return nil, err
				}
			}
			a := &metricsAuth{client: cs, log: log.WithName("metrics-auth"), cache: map[[32]byte]authResult{}}
			return a.wrap(h), nil
		}, nil
	}
}

func (a *metricsAuth) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			http.Error(w, "Unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		res := a.check(r.Context(), token, r.URL.Path, strings.ToLower(r.Method))
		if res.code != http.StatusOK {
			http.Error(w, http.StatusText(res.code)+": "+res.reason, res.code)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *metricsAuth) check(ctx context.Context, token, path, verb string) authResult {
	key := sha256.Sum256([]byte(verb + " " + path + " " + token))
	now := time.Now()
	a.mu.Lock()
	if res, ok := a.cache[key]; ok && now.Before(res.expires) {
		a.mu.Unlock()
		return res
	}
	a.mu.Unlock()

	res := a.review(ctx, token, path, verb)
	if res.code == http.StatusInternalServerError {
		return res // the API server's trouble: not remembered
	}
	ttl := authDeniedTTL
	if res.code == http.StatusOK {
		ttl = authAllowedTTL
	}
	res.expires = now.Add(ttl)
	a.mu.Lock()
	for k, r := range a.cache { // few scrapers: sweeping on write keeps it small
		if now.After(r.expires) {
			delete(a.cache, k)
		}
	}
	a.cache[key] = res
	a.mu.Unlock()
	return res
}

func (a *metricsAuth) review(ctx context.Context, token, path, verb string) authResult {
	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	tr, err := a.client.AuthenticationV1().TokenReviews().Create(ctx,
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		a.log.Error(err, "failed to review a scraper's token")
		return authResult{code: http.StatusInternalServerError, reason: "the token could not be reviewed"}
	}
	if !tr.Status.Authenticated {
		return authResult{code: http.StatusUnauthorized, reason: "the token is not valid"}
	}
	u := tr.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		a.log.Error(err, "failed to review a scraper's access", "user", u.Username)
		return authResult{code: http.StatusInternalServerError, reason: "the access could not be reviewed"}
	}
	if !sar.Status.Allowed {
		return authResult{code: http.StatusForbidden,
			reason: "user " + u.Username + " may not " + verb + " " + path + " (RBAC: nonResourceURLs " + path + ")"}
	}
	return authResult{code: http.StatusOK}
}
