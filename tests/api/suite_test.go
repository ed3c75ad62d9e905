package api_test

import (
	"testing"

	"github.com/fluxops/flux-operator/tests/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env) error { env = e; return nil })
}
