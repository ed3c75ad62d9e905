# Sourced by hack/cluster.sh and hack/run.sh: sets root (the repository),
# the versions of hack/versions.env, and bin, the directory of the Kubernetes
# binaries `make testenv` builds (the Makefile exports it as
# FLUX_OPERATOR_KUBE_BIN; the same layout as tests/testenv.KubeBinDir).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/hack/versions.env"
bin="${FLUX_OPERATOR_KUBE_BIN:-$root/bin/k8s/${KUBE_VERSION}-kwok-${KWOK_VERSION}}"
