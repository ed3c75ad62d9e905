package distribution

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzExtractTarGz checks that extractTarGz, whatever the bytes, does not
// panic and returns either a short error or a tree whose every path is clean
// and inside it, whose content is within the limit, having allocated a
// bounded amount of memory.
func FuzzExtractTarGz(f *testing.F) {
	valid := tarGz(f, tree...)
	multi := append(append([]byte{}, valid...), tarGz(f, entry{name: "flux/v2.9.5/rbac.yaml", body: "x"})...)
	var plain bytes.Buffer
	gz := gzip.NewWriter(&plain)
	_, _ = gz.Write([]byte("not a tar archive"))
	_ = gz.Close()
	for _, seed := range [][]byte{
		valid,
		tarGz(f, append(tree,
			entry{name: "flux/v2.9.5/alias.yaml", link: "source-controller.yaml", symlink: true},
			entry{name: "flux/v2.9.5/hard.yaml", link: "flux/v2.9.5/source-controller.yaml"},
			entry{name: "flux/v2.9.5/chain.yaml", link: "alias.yaml", symlink: true})...),
		tarGz(f, entry{name: "a", link: "b", symlink: true}, entry{name: "b", link: "a", symlink: true}),
		tarGz(f, append(tree, entry{name: "../../etc/passwd", body: "root"})...),
		tarGz(f, append(tree, entry{name: "/etc/passwd", body: "root"})...),
		tarGz(f, append(tree, entry{name: `flux\..\..\x`, body: "root"})...),
		tarGz(f, append(tree, entry{name: "flux/v2.9.5/x.yaml", link: "../../../etc/shadow", symlink: true})...),
		tarGz(f, append(tree, entry{name: "flux/v2.9.5/x.yaml", link: "/etc/shadow", symlink: true})...),
		tarGz(f, entry{name: "flux/./v2.9.5//a/../b.yaml", body: "x"}, entry{name: ".", body: "x"}),
		tarGz(f, entry{name: "flux/big.yaml", body: strings.Repeat("x", 2<<20)}),
		paxBomb(f, 40, 64<<10),
		valid[:len(valid)/2],
		multi,
		plain.Bytes(),
		[]byte("not gzip"),
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 20
		var (
			fsys fs.FS
			err  error
		)
		if alloc := allocated(func() { fsys, err = extractTarGz(bytes.NewReader(data), limit) }); alloc > 16*limit {
			t.Errorf("extracting %d bytes under a %d-byte limit allocated %d MiB", len(data), limit, alloc>>20)
		}
		if err != nil {
			if fsys != nil {
				t.Errorf("an error (%v) and a tree", err)
			}
			if msg := err.Error(); msg == "" || len(msg) > 1024 {
				t.Errorf("an error of %d bytes: %.1024q", len(msg), msg)
			}
			return
		}
		m, ok := fsys.(fstest.MapFS)
		if !ok {
			t.Fatalf("the tree is a %T", fsys)
		}
		var total int64
		for p, f := range m {
			if !fs.ValidPath(p) || p == "." || path.Clean(p) != p || strings.Contains(p, `\`) {
				t.Errorf("the path %q is not clean or leaves the tree", p)
			}
			if f == nil {
				t.Fatalf("the path %q has no file", p)
			}
			total += int64(len(f.Data))
		}
		if total > limit {
			t.Errorf("the tree holds %d bytes, more than the limit %d", total, limit)
		}
		if len(m) > maxArchiveEntries {
			t.Errorf("the tree holds %d paths, more than %d", len(m), maxArchiveEntries)
		}
		if err := fs.WalkDir(fsys, ".", func(p string, _ fs.DirEntry, err error) error {
			if err == nil && !fs.ValidPath(p) {
				t.Errorf("walking the tree gives %q", p)
			}
			return err
		}); err != nil {
			t.Errorf("walking the tree: %v", err)
		}
	})
}
