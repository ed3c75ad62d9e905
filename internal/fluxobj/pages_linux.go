//go:build linux

package fluxobj

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages asks the kernel to reclaim the pages of the
// process's own executable that are mapped now (MADV_PAGEOUT). Most of a
// binary's code and read-only data is touched once, while packages
// initialise and the first lists are decoded, and the kernel maps whole
// 64 KiB blocks around each page touched (fault-around): after the start,
// some 27 MB of the file stay resident in each process although little of
// it runs again. The pages are clean copies of the file: what runs again
// is mapped again on its next use, from the page cache or the disk. A
// kernel without MADV_PAGEOUT (before 5.4) leaves them, as before. It
// returns the bytes of the mappings it advised, and the first error.
func releaseStartupPages() (advised uint64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-0143e000 r-xp 00000000 fd:01 1234 /path/to/binary
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); errno != 0 {
			return advised, errno
		}
		advised += end - start
	}
	return advised, sc.Err()
}
