package cli_test

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var escapes = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestColourOnlyOnATerminalOrWhenAsked(t *testing.T) {
	// The tests read the CLI's stdout through a pipe: no colour, as in the
	// golden files.
	for _, args := range [][]string{{"get", "resources", "-A"}, {"get", "report"}, {"get", "instance"}, {"stats"},
		{"events", "-A"}, {"tree", "instance"}} {
		out, errOut, code := cli(t, "", args...)
		require.Equal(t, 0, code, errOut)
		assert.NotContains(t, out, "\x1b", args)
	}

	// --color always colours, and adds nothing but the escapes: once they
	// are stripped, the columns are where they were (stats and get report
	// print no age that could change between the two runs).
	for _, args := range [][]string{{"stats"}, {"get", "report"}} {
		plain, _, code := cli(t, "", args...)
		require.Equal(t, 0, code)
		coloured, errOut, code := cli(t, "", append(args, "--color", "always")...)
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, coloured, "\x1b[31m", "the failing Kustomization")
		assert.Equal(t, plain, escapes.ReplaceAllString(coloured, ""))
	}
	out, _, _ := cli(t, "", "get", "resources", "-A", "--color", "always")
	assert.Contains(t, out, "\x1b[31mFailing\x1b[0m")
	assert.Contains(t, out, "\x1b[36mSuspended\x1b[0m")

	out, _, _ = runCLI(t, cliCommand(t, "", []string{"FLUX_OPERATOR_COLOR=always", "NO_COLOR=1"}, "stats"))
	assert.Contains(t, out, "\x1b[", "FLUX_OPERATOR_COLOR=always overrides NO_COLOR")
	out, _, _ = cli(t, "", "get", "resources", "-A", "-o", "json", "--color", "always")
	assert.NotContains(t, out, "\x1b", "JSON is never coloured")
	_, errOut, code := runCLI(t, cliCommand(t, "", []string{"FLUX_OPERATOR_COLOR=yes"}, "stats"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `FLUX_OPERATOR_COLOR="yes": use auto, always or never`)
}

func TestAutoColoursATerminal(t *testing.T) {
	for _, c := range []struct {
		env    []string
		colour bool
	}{
		{[]string{"TERM=xterm-256color"}, true},
		{[]string{"TERM=xterm-256color", "NO_COLOR=1"}, false},
		{[]string{"TERM=dumb"}, false},
	} {
		out := onTerminal(t, c.env, "stats")
		assert.Equal(t, c.colour, strings.Contains(out, "\x1b["), "%v:\n%q", c.env, out)
		assert.Contains(t, escapes.ReplaceAllString(out, ""), "Kustomization    3         1         0")
	}
}

// onTerminal runs the CLI with its stdout on a pseudo-terminal and returns
// what it printed there.
func onTerminal(t *testing.T, env []string, args ...string) string {
	t.Helper()
	master, tty := openPTY(t)
	cmd := cliCommand(t, "", env, args...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = tty, &stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, tty.Close())
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once the CLI has exited
		read <- string(b)
	}()
	require.NoError(t, cmd.Wait(), stderr.String())
	return strings.ReplaceAll(<-read, "\r\n", "\n")
}

// openPTY opens a pseudo-terminal pair (Linux), closed at the end of the
// test, or skips the test.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { _ = master.Close() })
	var unlock int32
	var n uint32
	for _, req := range []struct {
		op  uintptr
		arg unsafe.Pointer
	}{{syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)}, {syscall.TIOCGPTN, unsafe.Pointer(&n)}} {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), req.op, uintptr(req.arg)); errno != 0 {
			t.Skipf("no pseudo-terminal: %v", errno)
		}
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { _ = tty.Close() }) // closed already when the CLI ran
	return master, tty
}
