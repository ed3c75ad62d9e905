// Package packaging_test renders every kustomize overlay in config/ and the
// Helm chart, and checks the result against the real API server (with the
// Prometheus Operator CRDs installed): every object passes a server-side
// dry-run apply, pods pass the restricted Pod Security admission, the RBAC
// grants what each binary needs and no more, and the alerts fire in a real
// Prometheus rule engine.
package packaging_test

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fluxops/flux-operator/tests/testenv"
)

const namespace = "flux-system"

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, func(e *testenv.Env) error {
		env = e
		// The namespace of the default overlay, for real: its restricted
		// Pod Security label is then enforced on the dry-run pods.
		objs, err := renderKustomize("default")
		if err != nil {
			return err
		}
		ns := find(objs, "Namespace", namespace)
		return env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(ns), client.FieldOwner("packaging-test"))
	}, testenv.WithMonitoringCRDs())
}
