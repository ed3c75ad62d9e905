package controller

import (
	"testing"
	"time"
)

func TestNextReport(t *testing.T) {
	for _, tc := range []struct {
		name           string
		interval, took time.Duration
		want           time.Duration
	}{
		{"reports start one interval apart", 5 * time.Minute, 2 * time.Second, 5*time.Minute - 2*time.Second},
		{"an instant report waits the whole interval", 30 * time.Second, 0, 30 * time.Second},
		{"a report longer than half the interval is followed by half of it", 30 * time.Second, 20 * time.Second, 15 * time.Second},
		{"a report longer than the interval is followed by half of it", 30 * time.Second, 45 * time.Second, 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextReport(tc.interval, tc.took); got != tc.want {
				t.Errorf("nextReport(%s, %s) = %s, want %s", tc.interval, tc.took, got, tc.want)
			}
		})
	}
}
