package installer_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/controllers/controller"
	"github.com/fluxops/flux-operator/controllers/distribution"
	"github.com/fluxops/flux-operator/tests/testenv"
)

// An instance installs from an OCI artifact and records its digest; when
// the tag is pushed again the installer sees it within the
// reconcileArtifactEvery interval and installs the new content.
func TestAMovedArtifactTagIsInstalled(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	first := pushArtifactAnonymous(t, host+"/manifests:latest", distributionLayer(t, nil))

	startInstallerWith(t, controller.Config{Namespace: ns, ArtifactTick: 200 * time.Millisecond,
		ArtifactOptions: distribution.ArtifactOptions{PlainHTTP: []string{host}}})
	fi := &apiv1.FluxInstance{ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: ns,
		Annotations: map[string]string{controller.ReconcileArtifactEveryAnnotation: "1s"}},
		Spec: apiv1.FluxInstanceSpec{Wait: ptrTo(false), Distribution: apiv1.Distribution{Version: "2.x", Registry: "ghcr.io/fluxcd",
			Artifact: "oci://" + host + "/manifests"}}}
	createInstance(t, fi)
	var got *apiv1.FluxInstance
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(context.Context) error {
		got = getInstance(t)
		if st, reason, msg := ready(got); st != metav1.ConditionTrue || got.Status.LastArtifactRevision != first {
			return fmt.Errorf("Ready %s %s %s, artifact %q", st, reason, msg, got.Status.LastArtifactRevision)
		}
		return nil
	}))
	applied := got.Status.LastAppliedRevision

	// A new build of the manifests under the same tag: a changed Deployment.
	moved := pushArtifactAnonymous(t, host+"/manifests:latest", distributionLayer(t, map[string]string{
		"flux/v2.9.5/source-controller.yaml": strings.Replace(mustReadEmbedded(t, "flux/v2.9.5/source-controller.yaml"),
			"terminationGracePeriodSeconds: 10", "terminationGracePeriodSeconds: 30", 1),
	}))
	require.NotEqual(t, first, moved)
	require.NoError(t, testenv.Eventually(ctx, time.Minute, func(context.Context) error {
		got = getInstance(t)
		if got.Status.LastArtifactRevision != moved || got.Status.LastAppliedRevision == applied {
			return fmt.Errorf("artifact %q, applied %q", got.Status.LastArtifactRevision, got.Status.LastAppliedRevision)
		}
		return nil
	}))
	sc, err := deployment(t, "source-controller")
	require.NoError(t, err)
	assert.Equal(t, int64(30), *sc.Spec.Template.Spec.TerminationGracePeriodSeconds, "the new content was applied")
	assert.NotEmpty(t, got.Status.LastHandledReconcileAt, "the watcher asked for the reconciliation")
}
