package main

import (
	"os"
	"path"
	"strings"
	"testing"
)

// The default -names are the binaries of hack/binaries, which the Makefile
// passes, and each has the description its image's label carries.
func TestDefaultNamesAreTheBinariesAndEachHasADescription(t *testing.T) {
	data, err := os.ReadFile("../../hack/binaries")
	if err != nil {
		t.Fatal(err)
	}
	var binaries []string
	for _, line := range strings.Fields(string(data)) {
		binaries = append(binaries, strings.TrimPrefix(path.Base(line), "flux-operator-"))
	}
	if got, want := defaultNames, strings.Join(binaries, ","); got != want {
		t.Errorf("defaultNames = %q, hack/binaries gives %q", got, want)
	}
	for _, n := range binaries {
		if description[n] == "" {
			t.Errorf("no description for flux-operator-%s", n)
		}
	}
	if len(description) != len(binaries) {
		t.Errorf("descriptions of %d images for %d binaries: %v", len(description), len(binaries), description)
	}
}
