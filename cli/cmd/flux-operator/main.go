// Command flux-operator shows the Flux Operator's report, the FluxInstance
// and every Flux object from the terminal. It is also a kubectl plugin:
// installed on the PATH as kubectl-flux_operator, it runs as
// `kubectl flux-operator`.
package main

import (
	"os"

	"github.com/fluxops/flux-operator/cli/command"
)

func main() {
	os.Exit(command.Execute(os.Args[1:], command.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
