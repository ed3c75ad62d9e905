package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Credentials of the registry StartRegistry runs.
const (
	RegistryUser     = "flux"
	RegistryPassword = "s3cret-for-tests"
)

// StartRegistry runs Debian's docker-registry (the CNCF Distribution
// registry) on a free loopback port over plain HTTP, with htpasswd
// authentication, and returns host:port.
func StartRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	require.NoError(t, err, "the registry tests need Debian's docker-registry package: run `make registry` (make test does)")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(RegistryPassword), bcrypt.DefaultCost)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(RegistryUser+":"+string(hash)+"\n"), 0o600))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
auth:
  htpasswd:
    realm: flux-operator-tests
    path: %s
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "htpasswd"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", filepath.Join(dir, "config.yml"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	require.NoError(t, Eventually(context.Background(), 20*time.Second, func(context.Context) error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return fmt.Errorf("%w: %s", err, logs.String())
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("/v2/ answered %d, want 401 (authentication on)", resp.StatusCode)
		}
		return nil
	}))
	return addr
}
