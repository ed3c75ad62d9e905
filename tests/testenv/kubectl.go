package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
)

// Kubectl runs the kubectl built by `make testenv` against kubeconfig and
// returns its standard output; a non-zero exit is an error carrying stderr.
func Kubectl(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	bin, err := Binary("kubectl")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %v: %w: %s", args, err, stderr.String())
	}
	return stdout.String(), nil
}
