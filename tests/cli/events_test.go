package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEventsShowFluxAndTheOperatorOnly(t *testing.T) {
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for i, e := range []struct{ ns, kind, name, typ, reason, msg string }{
		{runtimeNS, "FluxInstance", "flux", corev1.EventTypeNormal, "ReconciliationSucceeded", "Flux v2.9.5 installed"},
		{appsNS, "Kustomization", "app-frontend", corev1.EventTypeWarning, "BuildFailed", "kustomize build failed: missing.yaml\nmore"},
		{infraNS, "GitRepository", "fleet", corev1.EventTypeNormal, "NewArtifact", "stored artifact for commit 'Add apps'"},
		{appsNS, "Pod", "web-0", corev1.EventTypeWarning, "BackOff", "not a Flux event"},
	} {
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "ev-", Namespace: e.ns},
			InvolvedObject: corev1.ObjectReference{Kind: e.kind, Name: e.name, Namespace: e.ns},
			Type:           e.typ, Reason: e.reason, Message: e.msg, Count: int32(i + 1),
			LastTimestamp: metav1.NewTime(base.Add(time.Duration(i) * time.Minute))}
		require.NoError(t, env.Client.Create(ctx, ev))
	}
	out, errOut, code := cli(t, "", "events", "-A")
	require.Equal(t, 0, code, errOut)
	golden(t, "events-all", out)
	assert.NotContains(t, out, "not a Flux event")

	out, _, code = cli(t, "", "events", "--for", "instance")
	require.Equal(t, 0, code)
	assert.Equal(t, 2, strings.Count(out, "\n"), out)
	assert.Contains(t, out, "ReconciliationSucceeded   FluxInstance/flux   Flux v2.9.5 installed")

	out, _, code = cli(t, "", "events", "-A", "--type", "Warning")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "BuildFailed")
	assert.NotContains(t, out, "NewArtifact")

	out, _, code = cli(t, "", "events", "--for", "gitrepository/fleet", "-n", infraNS)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "GitRepository/fleet   stored artifact for commit 'Add apps' (x3)")

	_, errOut, code = cli(t, "", "events", "--type", "Error")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--type "Error": use Normal or Warning`)
}
