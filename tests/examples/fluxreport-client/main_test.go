package main_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env) error { env = e; return nil })
}

// The example is built and run as its own program, as another project would
// run code that imports the generated packages.
func TestExampleProgramUsesGeneratedClients(t *testing.T) {
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "fluxreport-client")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	ns := env.NewNamespace(t, "example")

	run := exec.Command(bin, "-kubeconfig", env.Kubeconfig, "-namespace", ns)
	out, err = run.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, []string{
		fmt.Sprintf("applied %s/flux distribution=v2.9.5", ns),
		"watched Ready=True: Reporting finished in 1ms",
		fmt.Sprintf("lister: %s/flux version=v2.9.5 ready=True", ns),
	}, strings.Split(strings.TrimSpace(string(out)), "\n"))

	// The server holds what the program applied, owned by its field manager
	// both on the main resource and on the status subresource.
	var report apiv1.FluxReport
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flux"}, &report))
	assert.Equal(t, "v2.9.5", report.Spec.Distribution.Version)
	require.NotNil(t, report.GetReadyCondition())
	assert.Equal(t, "Reporting finished in 1ms", report.GetReadyCondition().Message)
	var subresources []string
	for _, mf := range report.ManagedFields {
		if mf.Manager == "fluxreport-client-example" && mf.Operation == metav1.ManagedFieldsOperationApply {
			subresources = append(subresources, mf.Subresource)
		}
	}
	assert.ElementsMatch(t, []string{"", "status"}, subresources)
}
