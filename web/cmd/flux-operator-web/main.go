// Command flux-operator-web serves the Flux status web UI on --web-addr
// (default :9080): the FluxReport and the FluxInstance at a glance, every
// Flux object with filters, a page per object with its conditions, events
// and inventory, and the Flux events, following changes live. It only reads,
// unless --web-auth is on: then users sign in with a Kubernetes token, see
// what they may list, and reconcile, suspend and resume as themselves.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/fluxops/flux-operator/internal/bootstrap"
	"github.com/fluxops/flux-operator/web/ui"
)

// gcPercent is the web UI's default garbage collection target (GOGC): the
// heap may grow 25% above what is live before a collection, not Go's 100%.
// Nearly all of the UI's memory is its cache of Flux objects, and a page
// render leaves garbage in proportion to it; with Go's default the process
// held about 1.65 KB of resident memory per cached object (make bench, 12,000
// to 50,000 objects), twice what the cache keeps live. Collections then run
// more often while pages are served, which costs little: a page is rendered
// in milliseconds. GOGC, when set, wins.
const gcPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	var cfg ui.Config
	bootstrap.Main(bootstrap.Binary{
		Name: ui.Component,
		// Every replica serves every page; there is nothing to elect.
		NoLeaderElection: true,
		Flags: func(fs *flag.FlagSet, env *bootstrap.Env) {
			fs.StringVar(&cfg.Addr, "web-addr", env.String("WEB_ADDR", ":9080"),
				"The address the web UI binds to. Env: WEB_ADDR.")
			fs.BoolVar(&cfg.Auth, "web-auth", env.Bool("WEB_AUTH", false),
				"Ask for a Kubernetes bearer token, show each user only what they may list, and offer reconcile, "+
					"suspend and resume, done with the user's own token. Without it the UI is read-only and shows "+
					"everything to whoever reaches it. Env: WEB_AUTH.")
			fs.IntVar(&cfg.PageSize, "web-page-size", ui.DefaultPageSize,
				"The number of objects on one page of the resources list.")
		},
		Validate: func() error {
			if cfg.PageSize < 1 || cfg.PageSize > 1000 {
				return fmt.Errorf("--web-page-size must be between 1 and 1000, got %d", cfg.PageSize)
			}
			if cfg.Addr == "" || cfg.Addr == "0" {
				return errors.New("--web-addr must be an address such as :9080")
			}
			return nil
		},
		ConfigureManager: func(o *bootstrap.Options, mo *ctrl.Options) error {
			ui.ConfigureManager(o.RuntimeNamespace, mo)
			return nil
		},
		Setup: func(mgr manager.Manager, o *bootstrap.Options) error {
			cfg.Namespace = o.RuntimeNamespace
			_, err := ui.Setup(mgr, cfg)
			return err
		},
	})
}
