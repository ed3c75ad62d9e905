package reporter_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/fixtures"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// generatedRoles reads config/rbac/reporter/role.yaml: the ClusterRole and
// the Role generated from the reporter's RBAC markers.
func generatedRoles(t *testing.T) (*rbacv1.ClusterRole, *rbacv1.Role) {
	cr, role, err := testenv.GeneratedRBAC("reporter")
	require.NoError(t, err)
	return cr, role
}

// bindReporter grants user the generated RBAC, the Role in namespace ns,
// with the ClusterRole's rules passed through edit.
func bindReporter(t *testing.T, user, ns string, edit func([]rbacv1.PolicyRule) []rbacv1.PolicyRule) *rbacv1.ClusterRole {
	cr, role := generatedRoles(t)
	cr.Name = "reporter-" + ns
	cr.Rules = edit(cr.Rules)
	require.NoError(t, testenv.Bind(context.Background(), env.Client, user, ns, cr, role))
	return cr
}

func withoutGroup(group string) func([]rbacv1.PolicyRule) []rbacv1.PolicyRule {
	return func(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
		for i := range rules {
			rules[i].APIGroups = slices.DeleteFunc(rules[i].APIGroups, func(g string) bool { return g == group })
		}
		return rules
	}
}

// reportEvents returns the Kubernetes events of the FluxReport in ns with
// reason.
func reportEvents(t *testing.T, ns, reason string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	require.NoError(t, env.Client.List(context.Background(), &list, client.InNamespace(ns)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == apiv1.FluxReportKind && e.Regarding.Name == apiv1.DefaultName && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// waitOneEvent waits until the FluxReport in ns has exactly one Kubernetes
// event with reason, and returns it.
func waitOneEvent(t *testing.T, ns, reason string) eventsv1.Event {
	t.Helper()
	require.NoError(t, testenv.Eventually(context.Background(), 10*time.Second, func(context.Context) error {
		if n := len(reportEvents(t, ns, reason)); n != 1 {
			return fmt.Errorf("%d %s events, want 1", n, reason)
		}
		return nil
	}))
	return reportEvents(t, ns, reason)[0]
}

func TestGeneratedRBACIsEnoughAndAMissingPermissionIsReported(t *testing.T) {
	ctx := context.Background()
	ns := env.NewNamespace(t, "flux-rbac")
	createFlux(t, fixtures.HelmRelease, ns, "podinfo", fixtures.Ready(ready, "InstallSucceeded", "ok"))
	createFlux(t, fixtures.Kustomization, ns, "apps", fixtures.Ready(notReady, "BuildFailed", "bad"))

	user := "system:serviceaccount:" + ns + ":flux-operator-reporter"
	cr := bindReporter(t, user, ns, withoutGroup("helm.toolkit.fluxcd.io"))
	cfg, err := env.UserConfig(user)
	require.NoError(t, err)
	startReporter(t, cfg, ns, time.Hour)

	// Everything but HelmRelease is reported; Ready says what failed.
	r := waitReport(t, ns, 30*time.Second, readyWith(metav1.ConditionFalse))
	c := r.GetReadyCondition()
	assert.Equal(t, apiv1.ReportPartialReason, c.Reason)
	assert.Contains(t, c.Message, "failed to list HelmRelease (helm.toolkit.fluxcd.io/v2): forbidden")
	kinds := map[string]apiv1.FluxReconcilerStats{}
	for _, rec := range r.Spec.ReconcilersStatus {
		kinds[rec.Kind] = rec.Stats
	}
	assert.NotContains(t, kinds, "HelmRelease")
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1, Failing: 1}, kinds["Kustomization"])
	assert.Equal(t, apiv1.DistributionInstalled, r.Spec.Distribution.Status)

	// The same failure again: no second Warning.
	_, err = testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		"reconcile.fluxcd.io/requestedAt=again")
	require.NoError(t, err)
	waitReport(t, ns, 10*time.Second, func(r *apiv1.FluxReport) error {
		if r.Status.LastHandledReconcileAt != "again" {
			return fmt.Errorf("not handled yet")
		}
		return nil
	})
	warning := waitOneEvent(t, ns, apiv1.ReportPartialReason)
	assert.Equal(t, "Warning", warning.Type)
	assert.True(t, strings.HasPrefix(warning.Note, "Report is incomplete: failed to list HelmRelease"), warning.Note)

	// Granting the permission heals the report and says so once.
	full, _ := generatedRoles(t)
	cr.Rules = full.Rules
	require.NoError(t, env.Client.Update(ctx, cr))
	_, err = testenv.Kubectl(ctx, env.Kubeconfig, "-n", ns, "annotate", "--overwrite", "fluxreport/flux",
		"reconcile.fluxcd.io/requestedAt=granted")
	require.NoError(t, err)
	r = waitReport(t, ns, 20*time.Second, func(r *apiv1.FluxReport) error {
		if r.Status.LastHandledReconcileAt != "granted" {
			return fmt.Errorf("not handled yet")
		}
		return readyWith(metav1.ConditionTrue)(r)
	})
	kinds = map[string]apiv1.FluxReconcilerStats{}
	for _, rec := range r.Spec.ReconcilersStatus {
		kinds[rec.Kind] = rec.Stats
	}
	assert.Equal(t, apiv1.FluxReconcilerStats{Running: 1}, kinds["HelmRelease"])
	waitOneEvent(t, ns, apiv1.ReconciliationSucceededReason)
}
