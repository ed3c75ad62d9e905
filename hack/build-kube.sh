#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) from Go modules, plus kwok
# and kwokctl, into a cache directory keyed by version. Already-built binaries
# are kept, so a warm run only checks that the files exist.
#
# Usage: hack/build-kube.sh <output-dir>
set -euo pipefail

out=${1:?usage: build-kube.sh <output-dir>}
root=$(cd "$(dirname "$0")/.." && pwd)
: "${KUBE_VERSION:?KUBE_VERSION must be set (e.g. v1.37.2)}"
: "${KWOK_VERSION:?KWOK_VERSION must be set (e.g. v0.8.0)}"
mkdir -p "$out"
out=$(cd "$out" && pwd)

minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"

cd "$root/tools/kube"
export GOWORK=off
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  if [ -x "$out/$b" ]; then continue; fi
  echo ">> building $b ${KUBE_VERSION}"
  go build -trimpath -ldflags "$ldflags" -o "$out/$b.tmp" "./$b"
  mv "$out/$b.tmp" "$out/$b"
done

for b in kwok kwokctl; do
  if [ -x "$out/$b" ]; then continue; fi
  echo ">> building $b ${KWOK_VERSION}"
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/$b@${KWOK_VERSION}"
  mv "$tmp/$b" "$out/$b"
  rm -rf "$tmp"
done
