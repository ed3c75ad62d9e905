// Package installer_test checks what flux-operator-installer builds against
// a real kube-apiserver and a real OCI registry: the built manifests are
// accepted by the API server, the seed's Alert is valid once they are
// applied, and distribution artifacts are pulled from Debian's
// docker-registry server with credentials from a Kubernetes Secret.
package installer_test

import (
	"testing"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	// The Flux CRDs are the ones the build makes, not the test fixtures.
	testenv.Main(m, func(e *testenv.Env) error {
		env = e
		return apiextensionsv1.AddToScheme(e.Scheme)
	}, testenv.WithoutFluxCRDs())
}
