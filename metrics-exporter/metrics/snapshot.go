package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is a prometheus.Collector that serves a set of series built off to
// the side. Swap replaces the whole set at once: a scrape sees either the old
// set or the new one, never a half-built mix, and a series left out of the
// new set disappears.
//
// It describes nothing, so the registry treats it as unchecked; this is what
// lets flux_resource_info carry a different label set per Flux kind.
type Snapshot struct {
	set atomic.Pointer[[]prometheus.Metric]
}

// Swap makes metrics the served set.
func (s *Snapshot) Swap(metrics []prometheus.Metric) {
	s.set.Store(&metrics)
}

// Len returns the number of series served.
func (s *Snapshot) Len() int {
	if p := s.set.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// Describe implements prometheus.Collector; see the type comment.
func (s *Snapshot) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (s *Snapshot) Collect(ch chan<- prometheus.Metric) {
	p := s.set.Load()
	if p == nil {
		return
	}
	for _, m := range *p {
		ch <- m
	}
}
