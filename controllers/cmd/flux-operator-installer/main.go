// Command flux-operator-installer reconciles the FluxInstance named flux in
// its namespace: it installs, upgrades, repairs and removes Flux. `build -f
// FILE` prints what an instance would apply, without a cluster.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/controllers/distribution"
	"github.com/fluxops/flux-operator/internal/bootstrap"
)

// Leader election and events, in the runtime namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=flux-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=flux-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch,namespace=flux-system

func main() {
	if len(os.Args) > 1 && os.Args[1] == "build" {
		os.Exit(runBuild(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	var (
		manifestsPath, caFile, plainHTTP string
		dist                             fs.FS
		ao                               distribution.ArtifactOptions
		notifications                    controller.NotificationOptions
	)
	bootstrap.Main(bootstrap.Binary{
		Name: "flux-operator-installer",
		Flags: func(fs *flag.FlagSet, env *bootstrap.Env) {
			fs.StringVar(&manifestsPath, "manifests-path", env.String("MANIFESTS_PATH", ""),
				"A distribution tree to install from instead of the embedded one. Env: MANIFESTS_PATH.")
			fs.StringVar(&caFile, "artifact-ca-file", env.String("ARTIFACT_CA_FILE", ""),
				"A PEM bundle of the certificate authorities of private registries of distribution artifacts, trusted besides the system's. Env: ARTIFACT_CA_FILE.")
			fs.StringVar(&plainHTTP, "artifact-plain-http", env.String("ARTIFACT_PLAIN_HTTP", ""),
				"Comma-separated registries (host[:port]) of distribution artifacts spoken to over plain HTTP. Env: ARTIFACT_PLAIN_HTTP.")
			fs.StringVar(&notifications.Address, "notification-controller-address", env.String("NOTIFICATION_CONTROLLER_ADDRESS", ""),
				"The event receiver the installer's events are forwarded to; when empty, the notification-controller of the instance, if it installs one. Env: NOTIFICATION_CONTROLLER_ADDRESS.")
			fs.BoolVar(&notifications.Disabled, "notifications-disabled", env.Bool("NOTIFICATIONS_DISABLED", false),
				"Do not forward events to notification-controller. Env: NOTIFICATIONS_DISABLED.")
		},
		Validate: func() error {
			var err error
			dist = distribution.Embedded()
			if manifestsPath != "" {
				if dist, err = distribution.FromDir(manifestsPath); err != nil {
					return err
				}
			}
			if err := validateAddress(notifications.Address); err != nil {
				return err
			}
			ao.PlainHTTP = distribution.SplitHosts(plainHTTP)
			if caFile != "" {
				if ao.RootCAs, err = distribution.LoadCAFile(caFile); err != nil {
					return err
				}
			}
			return nil
		},
		ConfigureManager: func(o *bootstrap.Options, mo *ctrl.Options) error {
			controller.ConfigureCache(o.RuntimeNamespace, mo)
			return nil
		},
		Setup: func(mgr manager.Manager, o *bootstrap.Options) error {
			_, err := controller.Setup(mgr, controller.Config{Namespace: o.RuntimeNamespace, Distribution: dist, ArtifactOptions: ao,
				Notifications: notifications})
			return err
		},
	})
}

// validateAddress accepts an empty address or an http(s) URL with a host.
func validateAddress(addr string) error {
	if addr == "" {
		return nil
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--notification-controller-address %q must be an http:// or https:// URL, "+
			"such as http://notification-controller.flux-system.svc.cluster.local./", addr)
	}
	return nil
}
