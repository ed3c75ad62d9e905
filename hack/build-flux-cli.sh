#!/usr/bin/env bash
# Builds the Flux CLI of FLUX_VERSION (github.com/fluxcd/flux2/v2) into
# FLUX_BIN/flux, for the tests that compare our report with `flux stats`.
# The CLI's main package embeds cmd/flux/manifests/*.yaml, which a release
# build generates and the module archive leaves out: the build runs in a copy
# of the module with one placeholder manifest there, so the commands that
# install Flux from the embedded manifests do not work in this build; the
# commands that read the cluster (stats, get, events, ...) do.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
flux_bin=${FLUX_BIN:-$root/bin/flux/${FLUX_VERSION}}
module=github.com/fluxcd/flux2/v2@${FLUX_VERSION}

dir=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "go mod download $module gave no module directory" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -R "$dir/." "$tmp"
chmod -R u+w "$tmp"
mkdir -p "$tmp/cmd/flux/manifests"
printf '# placeholder: the manifests of a release build are not in the module archive\n' >"$tmp/cmd/flux/manifests/placeholder.yaml"
mkdir -p "$flux_bin"
(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X main.VERSION=${FLUX_VERSION#v}" \
  -o "$flux_bin/flux" ./cmd/flux)
echo ">> built $flux_bin/flux ($("$flux_bin/flux" version --client 2>/dev/null | head -1))"
