package ui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/fluxops/flux-operator/internal/bootstrap"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultPageSize is the number of rows a resources page shows.
const DefaultPageSize = 100

// Server serves the UI's pages.
type Server struct {
	Catalog *Catalog
	// Live reads what the caches do not hold (a whole object, events).
	Live *LiveReader
	// Auth is the access control; nil serves every page to anyone who can
	// reach the UI, read-only.
	Auth *Auth
	// PageSize is the number of rows of a resources page.
	PageSize int
	// LiveInterval is how often an open page's stream looks for changes.
	LiveInterval time.Duration
	Log          logr.Logger

	pages      map[string]*template.Template
	staticHash string
}

// Handler returns the UI's routes.
func (s *Server) Handler() (http.Handler, error) {
	if s.PageSize <= 0 {
		s.PageSize = DefaultPageSize
	}
	if s.LiveInterval <= 0 {
		s.LiveInterval = 300 * time.Millisecond
	}
	if err := s.parse(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	assets, err := loadAssets(static)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/{file}", assets)
	mux.HandleFunc("GET /{$}", s.page("overview", s.overview))
	mux.HandleFunc("GET /resources", s.page("resources", s.resources))
	mux.HandleFunc("GET /resource/{kind}/{namespace}/{name}", s.page("resource", s.resource))
	mux.HandleFunc("GET /events", s.page("events", s.events))
	mux.HandleFunc("GET /live", s.live)
	if s.Auth != nil {
		mux.HandleFunc("GET /login", s.loginForm)
		mux.HandleFunc("POST /login", s.login)
		mux.HandleFunc("POST /logout", s.logout)
		mux.HandleFunc("POST /resource/{kind}/{namespace}/{name}/{action}", s.act)
	}
	return securityHeaders(mux), nil
}

// securityHeaders keeps the pages from being framed, sniffed or made to
// load anything from elsewhere.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// view is what every page template gets.
type view struct {
	Title, Nav string
	User       *User
	CSRF       string
	Auth       bool
	// Notice is a message shown above the page (an action's outcome).
	Notice, NoticeClass string
	Now                 time.Time
	Static              string
	Data                any
	// started is when the request came in, for the Server-Timing header.
	started time.Time
}

// handlerFunc computes a page's data; an error with a status is shown as
// the page.
type handlerFunc func(r *http.Request, v *view) error

// httpError is an error shown with its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) page(name string, f handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &view{Nav: name, Now: time.Now(), Static: s.staticHash, Auth: s.Auth != nil, started: time.Now()}
		if s.Auth != nil {
			u, err := s.Auth.Authenticate(r)
			if err != nil {
				if code := reviewCode(err); code == http.StatusUnauthorized {
					http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				s.render(w, r, http.StatusServiceUnavailable, "error", &view{Title: "Sign-in unavailable", Static: s.staticHash,
					Auth: true, Data: "The API server could not check your token: " + err.Error()})
				return
			}
			v.User, v.CSRF = u, s.Auth.FormToken(u)
		}
		v.Notice, v.NoticeClass = r.URL.Query().Get("notice"), r.URL.Query().Get("noticeClass")
		if err := f(r, v); err != nil {
			code := http.StatusInternalServerError
			if he, ok := err.(*httpError); ok {
				code = he.code
			}
			v.Title, v.Data = http.StatusText(code), err.Error()
			s.render(w, r, code, "error", v)
			return
		}
		s.render(w, r, http.StatusOK, name, v)
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, v *view) {
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		s.Log.Error(err, "failed to render a page", "page", name)
		http.Error(w, "failed to render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if !v.started.IsZero() {
		// What the page cost the server, as browsers' developer tools and
		// the benchmark read it.
		h.Set("Server-Timing", fmt.Sprintf("page;dur=%.2f", float64(time.Since(v.started).Microseconds())/1000))
	}
	writeCompressed(w, r, code, b.Bytes())
}

func (s *Server) parse() error {
	s.staticHash = staticHash()
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"overview", "resources", "resource", "events", "error", "login"} {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// live streams a "change" event to an open page every time what the pages
// show may have changed, at most once per LiveInterval; the page then
// fetches itself again. It is a server-sent event stream, which browsers
// reconnect by themselves.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	if s.Auth != nil {
		if _, err := s.Auth.Authenticate(r); err != nil {
			http.Error(w, err.Error(), reviewCode(err))
			return
		}
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, "retry: 2000\n\n")
	fl.Flush()
	last := s.Catalog.Version()
	tick := time.NewTicker(s.LiveInterval)
	defer tick.Stop()
	idle := 0
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		v := s.Catalog.Version()
		switch {
		case v != last:
			last, idle = v, 0
			_, _ = fmt.Fprintf(w, "event: change\ndata: %d\n\n", v)
		case idle*int(s.LiveInterval) >= int(15*time.Second):
			// A comment keeps proxies from closing an idle stream.
			idle = 0
			_, _ = fmt.Fprintf(w, ": idle\n\n")
		default:
			idle++
			continue
		}
		fl.Flush()
	}
}

// loginForm asks for a token.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", &view{Title: "Sign in", Nav: "login", Auth: true, Static: s.staticHash,
		Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

type loginData struct{ Next, Error string }

// login checks the token with a TokenReview and keeps it in a cookie only
// this site's pages send, and no script can read.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	fail := func(code int, msg string) {
		s.render(w, r, code, "login", &view{Title: "Sign in", Nav: "login", Auth: true, Static: s.staticHash,
			Data: loginData{Next: next, Error: msg}})
	}
	if token == "" {
		fail(http.StatusBadRequest, "Paste a Kubernetes bearer token, e.g. the output of: kubectl create token <service-account> -n <namespace>")
		return
	}
	u, err := s.Auth.Reviewer.Authenticate(r.Context(), token)
	if err != nil {
		code := reviewCode(err)
		if code == http.StatusUnauthorized {
			fail(code, "The API server does not accept this token: it is expired, revoked or not a Kubernetes token.")
			return
		}
		fail(code, "The token could not be checked: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"})
	s.Log.Info("signed in", "user", u.Username)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect target on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// visible returns the filter of what the request's user may see, or nil
// (everything) without authentication.
func (s *Server) visible(ctx context.Context, v *view, kinds []Kind) func(o fluxObject) bool {
	if s.Auth == nil || v.User == nil {
		return nil
	}
	return s.Auth.visibility(ctx, v.User, kinds)
}

// can tells whether the request's user may do x; always true without
// authentication.
func (s *Server) can(ctx context.Context, v *view, x bootstrap.Access) bool {
	if s.Auth == nil {
		return true
	}
	return v.User != nil && s.Auth.Can(ctx, v.User, x) == nil
}

// kindNames are the names of kinds, sorted, for the filters.
func kindNames(kinds []Kind) []string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k.GVK.Kind)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
