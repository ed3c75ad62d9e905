package ui

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/internal/fluxobj"
)

// TokenCookie holds the bearer token a user signed in with.
const TokenCookie = "flux-operator-web-token"

// Auth is the UI's access control with --web-auth: a user signs in with a
// Kubernetes bearer token (or sends it in an Authorization header), which the
// API server authenticates (TokenReview); the user sees only the objects of
// the kinds and namespaces they may list (SubjectAccessReview), and acts with
// their own token, so the API server's RBAC decides every action.
type Auth struct {
	// Reviewer asks the API server about tokens and rights.
	Reviewer *bootstrap.Reviewer
	// Config is the UI's own client configuration; a user's client keeps
	// only its server address and CA.
	Config *rest.Config
	// Secret keys the form tokens that tie each action to the user's session.
	Secret []byte
}

// User is a signed-in user.
type User struct {
	Info  *authenticationv1.UserInfo
	token string
}

// Name is the user's name.
func (u *User) Name() string { return u.Info.Username }

// tokenOf returns the bearer token of a request: its Authorization header,
// else its cookie.
func tokenOf(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	return ""
}

// Authenticate returns the user of a request, or an error: a
// *bootstrap.ReviewError with code 401 when there is no valid token.
func (a *Auth) Authenticate(r *http.Request) (*User, error) {
	t := tokenOf(r)
	if t == "" {
		return nil, &bootstrap.ReviewError{Code: http.StatusUnauthorized, Reason: "sign in with a Kubernetes bearer token"}
	}
	info, err := a.Reviewer.Authenticate(r.Context(), t)
	if err != nil {
		return nil, err
	}
	return &User{Info: info, token: t}, nil
}

// Can returns nil when u may do x, else why not.
func (a *Auth) Can(ctx context.Context, u *User, x bootstrap.Access) error {
	return a.Reviewer.Authorize(ctx, u.Info, x)
}

// FormToken is the value an action form carries for u: it proves the form
// was served to the holder of the token, which a page of another site
// cannot know.
func (a *Auth) FormToken(u *User) string {
	m := hmac.New(sha256.New, a.Secret)
	m.Write([]byte(u.token))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckFormToken tells whether r carries u's form token.
func (a *Auth) CheckFormToken(r *http.Request, u *User) bool {
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(a.FormToken(u)))
}

// ClientFor returns a client that acts as u: the UI's server address and
// CA, with the user's token and nothing of the UI's own credentials.
func (a *Auth) ClientFor(u *User) (dynamic.Interface, error) {
	cfg := rest.AnonymousClientConfig(a.Config)
	cfg.BearerToken = u.token
	cfg.UserAgent = "flux-operator-web/" + bootstrap.Version() + " (as " + u.Name() + ")"
	return dynamic.NewForConfig(cfg)
}

// visibility returns whether u may see an object: whether it may list its
// kind in every namespace or in the object's own. Each answer is asked once
// per call (and cached by the Reviewer for a minute).
func (a *Auth) visibility(ctx context.Context, u *User, kinds []Kind) func(o *fluxobj.Object) bool {
	res := map[string]Kind{}
	for _, k := range kinds {
		res[k.GVK.Kind] = k
	}
	type key struct{ kind, ns string }
	var mu sync.Mutex
	memo := map[key]bool{}
	can := func(kind, ns string) bool {
		mu.Lock()
		v, ok := memo[key{kind, ns}]
		mu.Unlock()
		if ok {
			return v
		}
		k, known := res[kind]
		v = known && a.Can(ctx, u, bootstrap.Access{Verb: "list", Group: k.GVK.Group, Resource: k.Resource, Namespace: ns}) == nil
		mu.Lock()
		memo[key{kind, ns}] = v
		mu.Unlock()
		return v
	}
	return func(o *fluxobj.Object) bool {
		return can(o.Kind, "") || can(o.Kind, o.Namespace)
	}
}

// reviewCode is the HTTP status of a review error.
func reviewCode(err error) int {
	var re *bootstrap.ReviewError
	if errors.As(err, &re) {
		return re.Code
	}
	return http.StatusInternalServerError
}
