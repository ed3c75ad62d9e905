// Command gitserver serves the bare Git repositories of a directory over
// smart HTTP, fetch and push, for the local Flux pipeline
// (hack/flux-controllers.sh): source-controller clones from it and a
// developer pushes commits to it. It runs the machine's `git http-backend`
// as a CGI program, so the protocol is Git's own. It has no authentication
// and listens on loopback by default: it is a development server.
//
// Usage: gitserver -root DIR [-listen 127.0.0.1:9300]
// A repository DIR/NAME.git is at http://ADDR/NAME.git.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	root := flag.String("root", "", "the directory of the bare repositories (NAME.git) to serve")
	listen := flag.String("listen", envOr("GIT_SERVER_ADDR", "127.0.0.1:9300"),
		"the address to listen on (env GIT_SERVER_ADDR)")
	flag.Parse()
	if err := run(*root, *listen); err != nil {
		log.Printf("gitserver: %v", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(root, listen string) error {
	if root == "" {
		return errors.New("-root is required: the directory of the bare repositories to serve")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("-root %s is not a directory", root)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("git is not installed: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(git, root), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("serving the repositories of %s at http://%s/", root, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler runs git http-backend for every request, serving every repository
// under root (GIT_HTTP_EXPORT_ALL) and accepting pushes without a user
// (http.receivepack), and logs each request with its status.
func handler(git, root string) http.Handler {
	backend := &cgi.Handler{
		Path: git,
		Args: []string{"-c", "http.receivepack=true", "http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
		// Git finds its own programs (git-upload-pack, ...) on PATH.
		InheritEnv: []string{"PATH", "HOME"},
		Stderr:     os.Stderr,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &status{ResponseWriter: w, code: http.StatusOK}
		backend.ServeHTTP(rec, r)
		log.Printf("%s %s %d", r.Method, r.URL.RequestURI(), rec.code)
	})
}

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets git's streamed responses through.
func (s *status) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
