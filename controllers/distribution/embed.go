package distribution

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
)

// manifests is the distribution tree written by `make distribution`
// (hack/distribution.sh); never edit it by hand.
//
//go:embed all:manifests
var manifests embed.FS

// Embedded returns the distribution tree built into the binary.
func Embedded() fs.FS {
	sub, err := fs.Sub(manifests, "manifests")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// FromDir returns the distribution tree in dir (--manifests-path), checked
// to have the layout of a distribution.
func FromDir(dir string) (fs.FS, error) {
	fsys := os.DirFS(dir)
	if _, err := Versions(fsys); err != nil {
		return nil, fmt.Errorf("--manifests-path %s is %w", dir, err)
	}
	return fsys, nil
}

// Offline returns the distribution tree an offline build uses: dir when
// given (--manifests-path), else the artifact the instance names (pulled
// with o), else the embedded one.
func Offline(ctx context.Context, dir, artifact string, o ArtifactOptions) (fs.FS, error) {
	switch {
	case dir != "":
		return FromDir(dir)
	case artifact != "":
		a, err := PullArtifact(ctx, artifact, o)
		if err != nil {
			return nil, err
		}
		return a.FS, nil
	}
	return Embedded(), nil
}
