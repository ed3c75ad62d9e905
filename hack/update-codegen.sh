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
rm -rf "$out/clientset" "$out/listers" "$out/informers" "$out/applyconfiguration"

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
