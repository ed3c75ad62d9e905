package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxops/flux-operator/tests/testenv"
)

// cliPlatforms are the platforms of the CLI's release archives (the
// Makefile's CLI_PLATFORMS).
var cliPlatforms = []struct{ os, arch string }{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

// cliArchiveFiles are the files of each CLI archive, in order: the binary,
// then what the repository has of LICENSE and README.md.
func cliArchiveFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"flux-operator"}
	for _, f := range []string{"LICENSE", "README.md"} {
		if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), f)); err == nil {
			files = append(files, f)
		}
	}
	return files
}

// archiveEntry is a file of a tar.gz, with its header.
type archiveEntry struct {
	header *tar.Header
	data   []byte
}

// readArchive reads a tar.gz: its gzip header and its files in order.
func readArchive(t *testing.T, data []byte) (gzip.Header, []archiveEntry) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var entries []archiveEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		entries = append(entries, archiveEntry{h, b})
	}
	return zr.Header, entries
}

// checksums are the sums of dist/checksums.txt, by path relative to dist/.
func checksums(t *testing.T, dist string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	require.NoError(t, err, "run `make release` (make test does)")
	sums := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		sum, file, ok := strings.Cut(l, "  ")
		require.True(t, ok, "checksums.txt line %q is not `sha256sum` output", l)
		sums[file] = sum
	}
	return sums
}

// `make release` writes the CLI for linux and darwin on amd64 and arm64 as
// dist/flux-operator_<version>_<os>_<arch>.tar.gz: each holds the static
// binary of its platform (CGO_ENABLED=0, -trimpath, the release version in
// -ldflags) with fixed owners and times, and checksums.txt has its sum; the
// one for this machine prints the release's version.
func TestTheCLIArchivesHoldTheBinaryOfTheirPlatform(t *testing.T) {
	chartFile, version, _ := releaseChart(t)
	dist := filepath.Dir(imagesDir(t))
	chartData, err := os.ReadFile(chartFile)
	require.NoError(t, err)
	created := chartTime(t, chartData)
	sums := checksums(t, dist)

	all, err := filepath.Glob(filepath.Join(dist, "flux-operator_*.tar.gz"))
	require.NoError(t, err)
	require.Len(t, all, len(cliPlatforms), "one archive per platform, of this release only (run `make release`; make test does): %v", all)
	for _, p := range cliPlatforms {
		name := fmt.Sprintf("flux-operator_%s_%s_%s.tar.gz", version, p.os, p.arch)
		t.Run(p.os+"/"+p.arch, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dist, name))
			require.NoError(t, err, "run `make release` (make test does)")
			sum := sha256.Sum256(data)
			assert.Equal(t, hex.EncodeToString(sum[:]), sums[name], "checksums.txt has the sum of %s", name)

			gz, entries := readArchive(t, data)
			assert.True(t, gz.ModTime.IsZero(), "no time in the gzip header: %s", gz.ModTime)
			assert.Empty(t, gz.Name, "no file name in the gzip header")
			var names []string
			for _, e := range entries {
				names = append(names, e.header.Name)
				assert.Equal(t, byte(tar.TypeReg), e.header.Typeflag, e.header.Name)
				assert.Equal(t, created, e.header.ModTime.UTC().Format(time.RFC3339), "%s has the commit's time", e.header.Name)
				assert.Equal(t, [4]any{0, 0, "root", "root"}, [4]any{e.header.Uid, e.header.Gid, e.header.Uname, e.header.Gname},
					"%s is root's", e.header.Name)
			}
			require.Equal(t, cliArchiveFiles(t), names)
			bin := entries[0]
			assert.Equal(t, int64(0o755), bin.header.Mode, "the binary is executable")
			readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
			require.NoError(t, err)
			assert.Equal(t, readme, entries[len(entries)-1].data, "README.md is the repository's")

			switch p.os {
			case "linux":
				f, err := elf.NewFile(bytes.NewReader(bin.data))
				require.NoError(t, err, "an ELF binary")
				assert.Equal(t, map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.arch], f.Machine)
				assert.Equal(t, elf.ET_EXEC, f.Type)
				for _, prog := range f.Progs {
					assert.NotEqual(t, elf.PT_INTERP, prog.Type, "a static binary has no interpreter (CGO_ENABLED=0)")
				}
			case "darwin":
				f, err := macho.NewFile(bytes.NewReader(bin.data))
				require.NoError(t, err, "a Mach-O binary")
				assert.Equal(t, map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.arch], f.Cpu)
				assert.Equal(t, macho.TypeExec, f.Type)
			}
			info, err := buildinfo.Read(bytes.NewReader(bin.data))
			require.NoError(t, err)
			assert.Equal(t, "github.com/fluxops/flux-operator/cli/cmd/flux-operator", info.Path)
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			assert.Equal(t, p.os, settings["GOOS"])
			assert.Equal(t, p.arch, settings["GOARCH"])
			assert.Equal(t, "0", settings["CGO_ENABLED"])
			assert.Equal(t, "true", settings["-trimpath"])
			// -trimpath leaves -ldflags out of the build info; the version it
			// set is in the binary's data.
			assert.True(t, bytes.Contains(bin.data, []byte(version)), "the binary holds the release version %s", version)

			if p.os == runtime.GOOS && p.arch == runtime.GOARCH {
				file := filepath.Join(t.TempDir(), "flux-operator")
				require.NoError(t, os.WriteFile(file, bin.data, 0o755))
				out, err := exec.Command(file, "version", "--client").CombinedOutput()
				require.NoError(t, err, string(out))
				assert.Equal(t, "client: "+version+" "+p.os+"/"+p.arch+"\n", string(out))
			}
		})
	}
}

// Archiving the same binaries again gives the same bytes.
func TestTheCLIArchivesAreReproducible(t *testing.T) {
	_, version, _ := releaseChart(t)
	dist := filepath.Dir(imagesDir(t))
	root := testenv.RepoRoot()
	first, err := os.ReadFile(filepath.Join(dist, "flux-operator_"+version+"_linux_amd64.tar.gz"))
	require.NoError(t, err, "run `make release` (make test does)")
	hdr, entries := readArchive(t, first)
	require.NotEmpty(t, entries)
	assert.True(t, hdr.ModTime.IsZero())
	binDir := os.Getenv("RELEASE_BIN")
	if binDir == "" {
		binDir = filepath.Join(root, "bin", "release")
	}
	var files []string
	for _, f := range cliArchiveFiles(t)[1:] {
		files = append(files, filepath.Join(root, f))
	}
	again := t.TempDir()
	out, err := exec.Command(filepath.Join(root, "bin", "build-images"), "archive", "-bin-dir", binDir, "-out", again,
		"-version", version, "-created", entries[0].header.ModTime.UTC().Format(time.RFC3339),
		"-files", strings.Join(files, ",")).CombinedOutput()
	require.NoError(t, err, string(out))
	for _, p := range cliPlatforms {
		name := fmt.Sprintf("flux-operator_%s_%s_%s.tar.gz", version, p.os, p.arch)
		a, err := os.ReadFile(filepath.Join(dist, name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(again, name))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(a, b), "%s archived twice differs", name)
	}
}
