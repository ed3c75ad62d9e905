package main

import "testing"

func TestChartVersionIsTheSemVerOfTheReleaseOrADevVersion(t *testing.T) {
	for version, want := range map[string]string{
		"v1.2.3":           "1.2.3",
		"1.2.3-rc.1":       "1.2.3-rc.1",
		"v1.2.3-4-gabc123": "1.2.3-4-gabc123",
		"8d3bd92-dirty":    "0.0.0-dev.g8d3bd92-dirty",
		"v1.2":             "0.0.0-dev.gv1.2",
		"v01.2.3":          "0.0.0-dev.gv01.2.3",
		"v1.2.3+build.5":   "0.0.0-dev.gv1.2.3-build.5",
	} {
		if got := chartVersion(version); got != want {
			t.Errorf("chartVersion(%q) = %q, want %q", version, got, want)
		}
	}
}
