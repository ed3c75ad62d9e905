package controller

import (
	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	fluxv1ac "github.com/fluxops/flux-operator/generated/applyconfiguration/fluxcd/v1"
)

// specApplyConfiguration turns a computed spec into the apply-configuration
// the reporter owns: every spec field, so fields that disappear from the
// report (a sync Kustomization deleted) disappear from the object too.
func specApplyConfiguration(s *apiv1.FluxReportSpec) *fluxv1ac.FluxReportSpecApplyConfiguration {
	ac := fluxv1ac.FluxReportSpec().WithDistribution(fluxv1ac.FluxDistributionStatus().
		WithEntitlement(s.Distribution.Entitlement).
		WithStatus(s.Distribution.Status))
	if s.Distribution.Version != "" {
		ac.Distribution.WithVersion(s.Distribution.Version)
	}
	if s.Distribution.ManagedBy != "" {
		ac.Distribution.WithManagedBy(s.Distribution.ManagedBy)
	}
	if c := s.Cluster; c != nil {
		ac.WithCluster(fluxv1ac.ClusterInfo().WithServerVersion(c.ServerVersion).WithPlatform(c.Platform).WithNodes(c.Nodes))
	}
	if o := s.Operator; o != nil {
		ac.WithOperator(fluxv1ac.OperatorInfo().WithAPIVersion(o.APIVersion).WithVersion(o.Version).WithPlatform(o.Platform))
	}
	for _, c := range s.ComponentsStatus {
		ac.WithComponentsStatus(fluxv1ac.FluxComponentStatus().
			WithName(c.Name).WithImage(c.Image).WithReady(c.Ready).WithStatus(c.Status))
	}
	for _, r := range s.ReconcilersStatus {
		stats := fluxv1ac.FluxReconcilerStats().
			WithRunning(r.Stats.Running).WithFailing(r.Stats.Failing).WithSuspended(r.Stats.Suspended)
		if r.Stats.TotalSize != "" {
			stats.WithTotalSize(r.Stats.TotalSize)
		}
		ac.WithReconcilersStatus(fluxv1ac.FluxReconcilerStatus().
			WithAPIVersion(r.APIVersion).WithKind(r.Kind).WithStats(stats))
	}
	if y := s.SyncStatus; y != nil {
		sync := fluxv1ac.FluxSyncStatus().WithID(y.ID).WithReady(y.Ready).WithStatus(y.Status)
		if y.Path != "" {
			sync.WithPath(y.Path)
		}
		if y.Source != "" {
			sync.WithSource(y.Source)
		}
		ac.WithSyncStatus(sync)
	}
	return ac
}
