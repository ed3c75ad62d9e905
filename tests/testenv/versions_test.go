package testenv

import (
	"regexp"
	"testing"
)

func TestVersionsComeFromTheEnvironmentElseHackVersionsEnv(t *testing.T) {
	for _, name := range []string{"KUBE_VERSION", "KWOK_VERSION"} {
		t.Setenv(name, "")
		if v := Version(name); !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(v) {
			t.Errorf("%s from hack/versions.env = %q, want vX.Y.Z", name, v)
		}
		t.Setenv(name, "v9.9.9")
		if v := Version(name); v != "v9.9.9" {
			t.Errorf("%s = %q, want the environment's v9.9.9", name, v)
		}
	}
}
