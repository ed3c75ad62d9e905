//go:build linux

package fluxobj

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rssFileKB is the process's resident pages of files (its binary, mostly).
func rssFileKB(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssFile:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// The pages of the binary touched while starting are given back: the test
// binary's resident file pages drop to a fraction.
func TestReleaseStartupPagesGivesBackTheBinarysPages(t *testing.T) {
	before := rssFileKB(t)
	advised, err := releaseStartupPages()
	if errors.Is(err, unix.EINVAL) {
		t.Skip("this kernel has no MADV_PAGEOUT")
	}
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("RssFile %d kB → %d kB; %d MB of mappings advised", before, after, advised>>20)
	if advised == 0 {
		t.Fatal("no mapping of the executable was found in /proc/self/maps")
	}
	if after > before/2 {
		t.Errorf("RssFile %d kB after, %d kB before: the pages were not given back", after, before)
	}
}
