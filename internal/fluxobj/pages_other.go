//go:build !linux

package fluxobj

// releaseStartupPages does nothing outside Linux.
func releaseStartupPages() (uint64, error) { return 0, nil }
