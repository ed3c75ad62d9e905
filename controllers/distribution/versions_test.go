package distribution

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/Masterminds/semver/v3"
)

func releases(t *testing.T, vs ...string) []*semver.Version {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, v := range vs {
		fsys[FluxDir+"/"+v+"/source-controller.yaml"] = &fstest.MapFile{}
	}
	fsys[FluxDir+"/not-a-version/x.yaml"] = &fstest.MapFile{}
	out, err := Versions(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVersionsAreNewestFirst(t *testing.T) {
	got := list(releases(t, "v2.6.4", "v2.9.5", "v2.7.0"))
	if got != "v2.9.5, v2.7.0, v2.6.4" {
		t.Errorf("Versions() = %s", got)
	}
	if _, err := Versions(fstest.MapFS{"README": &fstest.MapFile{}}); err == nil || !strings.Contains(err.Error(), "not a Flux distribution") {
		t.Errorf("a tree without flux/: %v", err)
	}
}

func TestResolve(t *testing.T) {
	available := releases(t, "v2.6.4", "v2.9.5", "v2.9.3")
	cases := []struct {
		name, constraint, last string
		want                   string
		outdated               bool
		err                    string
	}{
		{name: "a major range takes the newest release", constraint: "2.x", want: "v2.9.5"},
		{name: "a minor range takes the newest patch of that minor", constraint: "2.9.x", want: "v2.9.5"},
		{name: "an older minor is outdated", constraint: "2.6.x", want: "v2.6.4", outdated: true},
		{name: "an exact version with a v", constraint: "v2.9.3", want: "v2.9.3", outdated: true},
		{name: "an exact version without a v", constraint: "2.6.4", want: "v2.6.4", outdated: true},
		{name: "a lower bound", constraint: ">=2.6.0", want: "v2.9.5"},
		{name: "a patch upgrade within the applied minor", constraint: "2.9.x", last: "v2.9.3", want: "v2.9.5"},
		{name: "a patch downgrade within the applied minor is allowed", constraint: "v2.9.3", last: "v2.9.5", want: "v2.9.3", outdated: true},
		{name: "a range with no match names the releases", constraint: "3.x",
			err: `spec.distribution.version "3.x" matches none of the available Flux releases (v2.9.5, v2.9.3, v2.6.4): set it to one of them or to a range such as 2.x`},
		{name: "a value that is not a range", constraint: "latest",
			err: `spec.distribution.version "latest" is not a version or a range (for example 2.x, 2.9.x, >=2.6.0, v2.9.5)`},
		{name: "a minor downgrade is refused", constraint: "2.6.x", last: "v2.9.5",
			err: "downgrading from v2.9.5 to v2.6.4 is not supported: set spec.distribution.version to 2.9.x or later"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Resolve(tc.constraint, available, tc.last)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := VersionString(res.Version); got != tc.want || res.Outdated != tc.outdated {
				t.Errorf("Resolve() = %s (outdated %v), want %s (outdated %v)", got, res.Outdated, tc.want, tc.outdated)
			}
		})
	}
}

func TestTheEmbeddedTreeHasTheSupportedReleases(t *testing.T) {
	vs, err := Versions(Embedded())
	if err != nil {
		t.Fatal(err)
	}
	if got := list(vs); got != "v2.9.5, v2.8.1, v2.7.5, v2.6.4" {
		t.Errorf("embedded releases = %s", got)
	}
	if _, err := FromDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--manifests-path") {
		t.Errorf("an empty --manifests-path: %v", err)
	}
}
