package distribution

import (
	"context"
	"time"
)

// DefaultPollInterval is how often the artifact is checked unless the
// FluxInstance's fluxcd.controlplane.io/reconcileArtifactEvery annotation
// says otherwise.
const DefaultPollInterval = 10 * time.Minute

// ArtifactPoller watches the digest an artifact URL resolves to, with one
// HEAD request per interval, and calls Moved when it differs from the last
// digest seen: a tag such as latest was pushed again, and the instance must
// be reconciled. Errors (registry unreachable) go to Failed and the poller
// keeps trying at the next tick.
type ArtifactPoller struct {
	URL      string
	Options  ArtifactOptions
	Interval time.Duration
	// Last is the digest the instance has applied
	// (status.lastArtifactRevision); "" when none.
	Last string
	// Moved receives each new digest.
	Moved func(digest string)
	// Failed receives each failed check; nil to ignore them.
	Failed func(err error)
}

// Run checks until ctx is done.
func (p *ArtifactPoller) Run(ctx context.Context) {
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		check, cancel := context.WithTimeout(ctx, min(interval, 30*time.Second))
		d, err := ArtifactDigest(check, p.URL, p.Options)
		cancel()
		switch {
		case err != nil:
			if p.Failed != nil {
				p.Failed(err)
			}
		case d != p.Last:
			p.Last = d
			p.Moved(d)
		}
	}
}
