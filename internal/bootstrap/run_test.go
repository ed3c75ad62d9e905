package bootstrap

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// testBinary has one flag of its own, with an environment default, and
// records which start-up steps ran.
type testBinary struct {
	Binary
	interval   time.Duration
	configured bool
	setUp      bool
}

func newTestBinary() *testBinary {
	b := &testBinary{}
	b.Binary = Binary{
		Name: "flux-operator-test",
		Flags: func(fs *flag.FlagSet, env *Env) {
			fs.DurationVar(&b.interval, "interval", env.Duration("INTERVAL", time.Minute), "test interval")
		},
		Validate: func() error {
			if b.interval <= 0 {
				return errors.New("--interval must be positive")
			}
			return nil
		},
		ConfigureManager: func(*Options, *ctrl.Options) error { b.configured = true; return nil },
		Setup:            func(manager.Manager, *Options) error { b.setUp = true; return nil },
	}
	return b
}

func (b *testBinary) run(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	fs := flag.NewFlagSet(b.Name, flag.ContinueOnError)
	fs.SetOutput(&errOut)
	code = b.Run(fs, envOf(env), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInvalidEnvironmentValuesStopTheBinary(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"a boolean that is not true or false", map[string]string{EnvLeaderElect: "no"},
			[]string{`LEADER_ELECT="no" is not a boolean: use true or false`}},
		{"a duration without a unit", map[string]string{"INTERVAL": "5"},
			[]string{`INTERVAL="5" is not a duration such as 30s or 5m`}},
		{"every bad variable and option at once", map[string]string{EnvLeaderElect: "yes please", "INTERVAL": "soon", EnvLogLevel: "loud"},
			[]string{"LEADER_ELECT=", "INTERVAL=", `--log-level "loud"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBinary()
			code, _, stderr := b.run(tc.env)
			if code != ExitInvalid {
				t.Errorf("exit code %d, want %d", code, ExitInvalid)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %q", stderr, w)
				}
			}
			if b.configured || b.setUp {
				t.Errorf("start-up went on after invalid options")
			}
		})
	}
}

func TestAFlagOverridesItsVariable(t *testing.T) {
	b := newTestBinary()
	o, err := b.Parse(flag.NewFlagSet("t", flag.ContinueOnError), envOf(map[string]string{"INTERVAL": "2m"}), []string{"--interval=3m"})
	if err != nil {
		t.Fatal(err)
	}
	if b.interval != 3*time.Minute || o.Component != "flux-operator-test" {
		t.Errorf("interval %s, want the flag's 3m", b.interval)
	}
	if _, err := b.Parse(flag.NewFlagSet("t", flag.ContinueOnError), envOf(map[string]string{"INTERVAL": "2m"}), nil); err != nil ||
		b.interval != 2*time.Minute {
		t.Errorf("interval %s (%v), want the variable's 2m", b.interval, err)
	}
}

func TestOptionErrorsComeBeforeTheKubeconfig(t *testing.T) {
	// A kubeconfig that cannot be loaded: had it been read first, the exit
	// code would be ExitFailed and the message about the cluster.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	b := newTestBinary()
	code, _, stderr := b.run(nil, "--interval=-1s")
	if code != ExitInvalid || !strings.Contains(stderr, "flux-operator-test: invalid options:\n--interval must be positive") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestAnUnreachableClusterIsAStartUpFailure(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	for _, k := range []string{"KUBERNETES_SERVICE_HOST", "HOME"} {
		t.Setenv(k, "") // restores the variable after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	b := newTestBinary()
	code, _, _ := b.run(map[string]string{EnvMetricsAddr: "0", EnvHealthAddr: "0"})
	if code != ExitFailed {
		t.Errorf("exit code %d, want %d", code, ExitFailed)
	}
	if b.configured || b.setUp {
		t.Errorf("the manager was configured without a cluster")
	}
}

func TestVersionAndHelp(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.9.9"
	code, stdout, _ := newTestBinary().run(nil, "--version")
	if code != ExitOK || !strings.HasPrefix(stdout, "flux-operator-test v9.9.9 (") {
		t.Errorf("--version: exit %d, stdout %q", code, stdout)
	}
	code, _, stderr := newTestBinary().run(nil, "-h")
	if code != ExitOK || !strings.Contains(stderr, "-interval") || !strings.Contains(stderr, "-leader-elect") {
		t.Errorf("-h: exit %d, usage %q", code, stderr)
	}
	code, _, stderr = newTestBinary().run(nil, "--no-such-flag")
	if code != ExitInvalid || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, stderr)
	}
}
