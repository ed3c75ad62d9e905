package bootstrap

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with
// -ldflags "-X github.com/fluxops/flux-operator/internal/bootstrap.version=v1.2.3".
var version = ""

// Version returns the operator version: the build-time value, else the main
// module version recorded by the Go toolchain, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Platform returns the os/arch the binary was built for, e.g. linux/amd64.
func Platform() string {
	return runtime.GOOS + "/" + runtime.GOARCH
}

// VersionString is what --version prints.
func VersionString(component string) string {
	return fmt.Sprintf("%s %s (%s, %s)", component, Version(), runtime.Version(), Platform())
}
