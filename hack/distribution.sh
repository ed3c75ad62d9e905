#!/usr/bin/env bash
# Writes the Flux distribution tree the installer embeds
# (controllers/distribution/manifests) for every release of
# hack/distribution/releases.yaml: CRDs generated with controller-gen from the
# release's API modules (tools/flux/<version>/go.mod), labelled per component,
# and this project's manifests of the controllers, policies and RBAC
# (hack/distribution/*.tmpl). Nothing is downloaded but Go modules.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for dir in "$root"/tools/flux/v*/; do
  version=$(basename "$dir")
  paths=()
  while read -r mod; do
    case "$mod" in
      github.com/fluxcd/*/api*) paths+=("paths=$mod/...") ;;
    esac
  done < <(cd "$dir" && GOWORK=off go list -m -f '{{if not .Main}}{{.Path}}{{end}}' all | grep -E '^github.com/fluxcd/[a-z-]+-(controller|watcher)/api(/v[0-9]+)?$')
  mkdir -p "$tmp/crds/$version"
  (cd "$dir" && GOWORK=off "$bin/controller-gen" crd "${paths[@]}" output:crd:artifacts:config="$tmp/crds/$version")
done

"$bin/gen-distribution" -releases "$root/hack/distribution/releases.yaml" -templates "$root/hack/distribution" \
  -crds "$tmp/crds" -out "$root/controllers/distribution/manifests"
echo ">> wrote controllers/distribution/manifests"
