package distribution

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// FluxDir is the directory of the Flux manifests in a distribution tree;
// ImagesDir that of the image lists.
const (
	FluxDir   = "flux"
	ImagesDir = "flux-images"
)

// Versions returns the Flux releases of a distribution tree, newest first: the
// directories flux/vX.Y.Z. A tree without any is not a distribution.
func Versions(fsys fs.FS) ([]*semver.Version, error) {
	entries, err := fs.ReadDir(fsys, FluxDir)
	if err != nil {
		return nil, fmt.Errorf("not a Flux distribution: no %s/ directory: %w", FluxDir, err)
	}
	var out []*semver.Version
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "v") {
			continue
		}
		v, err := semver.StrictNewVersion(strings.TrimPrefix(e.Name(), "v"))
		if err != nil {
			continue
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("not a Flux distribution: %s/ holds no vX.Y.Z directory", FluxDir)
	}
	sort.Sort(sort.Reverse(semver.Collection(out)))
	return out, nil
}

// Resolution is the release a version constraint selects.
type Resolution struct {
	// Version is the newest release that satisfies the constraint.
	Version *semver.Version
	// Newest is the newest release available; Outdated is true when Version
	// is older.
	Newest   *semver.Version
	Outdated bool
}

// VersionString formats a release as Flux does, with a leading v.
func VersionString(v *semver.Version) string { return "v" + v.String() }

// Resolve selects the newest release of available (newest first, as Versions
// returns them) that satisfies constraint, a semver version or range such as
// 2.x, 2.9.x, >=2.6.0, v2.9.5 or 2.9.5. lastApplied is the version the
// instance runs now ("" when nothing was applied); a minor or major downgrade
// from it is refused, as Flux does not support going back a minor (its
// stored CRD versions may be gone). Errors name the field, the value and the
// releases to choose from.
func Resolve(constraint string, available []*semver.Version, lastApplied string) (*Resolution, error) {
	if len(available) == 0 {
		return nil, errors.New("no Flux release is available")
	}
	c, err := semver.NewConstraint(strings.TrimSpace(constraint))
	if err != nil {
		return nil, fmt.Errorf("spec.distribution.version %q is not a version or a range (for example 2.x, 2.9.x, >=2.6.0, v2.9.5): %w",
			constraint, err)
	}
	res := &Resolution{Newest: available[0]}
	for _, v := range available {
		if c.Check(v) {
			res.Version = v
			break
		}
	}
	if res.Version == nil {
		return nil, fmt.Errorf("spec.distribution.version %q matches none of the available Flux releases (%s): "+
			"set it to one of them or to a range such as %d.x", constraint, list(available), available[0].Major())
	}
	res.Outdated = res.Version.LessThan(res.Newest)
	if lastApplied != "" {
		last, err := semver.NewVersion(lastApplied)
		if err != nil {
			return nil, fmt.Errorf("the last applied version %q is not a version: %w", lastApplied, err)
		}
		if res.Version.Major() < last.Major() || res.Version.Major() == last.Major() && res.Version.Minor() < last.Minor() {
			return nil, fmt.Errorf("downgrading from %s to %s is not supported: set spec.distribution.version to %d.%d.x or later",
				VersionString(last), VersionString(res.Version), last.Major(), last.Minor())
		}
	}
	return res, nil
}

func list(vs []*semver.Version) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = VersionString(v)
	}
	return strings.Join(s, ", ")
}
