#!/usr/bin/env bash
# Starts or stops the local cluster: kwokctl's binary runtime driving the
# etcd, kube-apiserver, kube-controller-manager and kube-scheduler built by
# `make testenv`, with fake kwok nodes. Nothing is downloaded and nothing is
# written outside the project's ignored .cache directory. The cluster is a
# disposable development cluster: etcd does not fsync and the components are
# not throttled, so that it takes the write rates of the fault suite's merge
# storm (docs/reliability.md) on a laptop.
#
# Usage: hack/cluster.sh up|down|kubeconfig
# Env:   CLUSTER_NAME (flux-operator), CLUSTER_KUBECONFIG (.cache/kubeconfig),
#        CLUSTER_NODES (2), KUBE_VERSION, KWOK_VERSION.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
name=${CLUSTER_NAME:-flux-operator}
kubeconfig=${CLUSTER_KUBECONFIG:-$root/.cache/kubeconfig}
nodes=${CLUSTER_NODES:-2}

export KWOK_WORKDIR=${KWOK_WORKDIR:-$root/.cache/kwok}
# The machine may carry an unrelated kubectl; ours matches the server.
export PATH="$bin:$PATH"

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwokctl kubectl; do
  if [ ! -x "$bin/$b" ]; then
    echo "missing $bin/$b: run 'make testenv' first" >&2
    exit 1
  fi
done

kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

exists() { "$bin/kwokctl" get clusters 2>/dev/null | grep -qx "$name"; }

up() {
  mkdir -p "$(dirname "$kubeconfig")" "$KWOK_WORKDIR"
  if exists; then
    echo ">> cluster $name exists; starting it if stopped"
    "$bin/kwokctl" start cluster --name "$name" >/dev/null 2>&1 || true
    "$bin/kwokctl" get kubeconfig --name "$name" >"$kubeconfig"
  else
    echo ">> creating cluster $name (kube ${KUBE_VERSION}, kwok ${KWOK_VERSION})"
    "$bin/kwokctl" create cluster \
      --name "$name" \
      --runtime binary \
      --etcd-binary "$bin/etcd" \
      --kube-apiserver-binary "$bin/kube-apiserver" \
      --kube-controller-manager-binary "$bin/kube-controller-manager" \
      --kube-scheduler-binary "$bin/kube-scheduler" \
      --kwok-controller-binary "$bin/kwok" \
      --kubeconfig "$kubeconfig" \
      --disable-qps-limits \
      --extra-args etcd=unsafe-no-fsync=true \
      --wait 2m
  fi
  "$bin/kwokctl" scale node --name "$name" --replicas "$nodes" >/dev/null
  # --wait returns before the default ServiceAccount exists; Pods need it.
  for _ in $(seq 1 120); do
    if kubectl -n default get serviceaccount default >/dev/null 2>&1 &&
      [ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" -ge "$nodes" ]; then
      echo ">> cluster $name ready: KUBECONFIG=$kubeconfig"
      return 0
    fi
    sleep 0.5
  done
  echo "cluster $name did not become ready in 60s; see 'kwokctl --name $name logs kube-apiserver'" >&2
  exit 1
}

down() {
  if exists; then
    "$bin/kwokctl" delete cluster --name "$name" --kubeconfig "$kubeconfig"
  else
    echo ">> cluster $name does not exist"
  fi
  rm -f "$kubeconfig"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kubeconfig) echo "$kubeconfig" ;;
  *) echo "usage: $0 up|down|kubeconfig" >&2; exit 2 ;;
esac
