# Sourced by hack/cluster.sh, hack/run.sh and hack/flux-controllers.sh: sets root (the repository),
# the versions of hack/versions.env, and bin, the directory of the Kubernetes
# binaries `make testenv` builds (the Makefile exports it as
# FLUX_OPERATOR_KUBE_BIN; the same layout as tests/testenv.KubeBinDir).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/hack/versions.env"
bin="${FLUX_OPERATOR_KUBE_BIN:-$root/bin/k8s/${KUBE_VERSION}-kwok-${KWOK_VERSION}}"

# poll tries check [args...]: runs check every half second until it
# succeeds (0), gives up (2 or more) or has run tries times (1).
poll() {
  local tries=$1 rc=1
  shift
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0 || rc=$?
    if [ "$rc" -ge 2 ]; then return "$rc"; fi
    sleep 0.5
  done
  return 1
}
