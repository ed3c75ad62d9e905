package distribution

import "time"

// DefaultPollInterval is how often the installer checks the digest the
// artifact URL of an instance resolves to (ArtifactDigest) unless the
// FluxInstance's fluxcd.controlplane.io/reconcileArtifactEvery annotation
// says otherwise.
const DefaultPollInterval = 10 * time.Minute
