#!/usr/bin/env bash
# Regenerates the clientset, listers, informers and apply-configurations of
# the fluxcd.controlplane.io API into the generated module, with the
# code-generator version pinned in tools/go.mod.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
codegen_pkg=$(cd "$root/tools" && GOWORK=off go list -m -f '{{.Dir}}' k8s.io/code-generator)
export GOBIN="${BIN:-$root/bin}"

# shellcheck source=/dev/null
source "${codegen_pkg}/kube_codegen.sh"

out="$root/generated"
# The module holds only generator output: everything but go.mod and go.sum is
# deleted first, so a type or package removed from the API leaves nothing behind.
find "$out" -mindepth 1 -maxdepth 1 ! -name go.mod ! -name go.sum -exec rm -rf {} +

# kube_codegen resolves Go packages through go.work, so the apis module is
# found without a GOPATH layout.
cd "$root"
kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --output-dir "$out" \
  --output-pkg github.com/fluxops/flux-operator/generated \
  --boilerplate "$root/hack/boilerplate.go.txt" \
  "$root/apis"
