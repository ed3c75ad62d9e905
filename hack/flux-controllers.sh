#!/usr/bin/env bash
# Starts or stops the real Flux pipeline beside a cluster whose pods do not
# run (the local kwok cluster): a local Git server holding the demo fleet
# (hack/fleet, pushed as fleet.git at the first start), and the real
# source-controller and kustomize-controller of the embedded Flux release,
# built from their Go modules by `make flux-controllers`, as local processes
# with the cluster's kubeconfig. They take the place of the pods of those two
# Deployments, which the local cluster only simulates; helm-controller,
# notification-controller and the image controllers stay simulated (their Go
# modules are not served).
#
# The controllers run with leader election off, source-controller's artifact
# storage on disk under RUN_DIR and its artifact server on loopback (which
# kustomize-controller fetches from), metrics and health on loopback ports,
# and kustomize-controller rechecks a dependency every 5s instead of 30s, so a
# pushed commit reaches a dependent Kustomization within seconds.
# Each process is detached, with its log and pid file in RUN_DIR; `stop`
# stops them with SIGTERM. Each controller stops when its Deployment is
# deleted (an uninstall, or the component removed from the instance), as its
# pod would. `start` waits until the Flux CRDs are installed
# (the controllers exit at start-up without them), so run it after applying
# a FluxInstance, and until every process is ready.
#
# Usage: hack/flux-controllers.sh start|stop|git-url
# Env:   KUBECONFIG (required for start), RUNTIME_NAMESPACE (flux-system),
#        RUN_DIR (.cache/run), FLUX_BIN (bin/flux/v2.9.5), FLEET_DIR (hack/fleet),
#        GIT_SERVER_ADDR (127.0.0.1:9300),
#        SOURCE_CONTROLLER_STORAGE_ADDR (127.0.0.1:9390),
#        SOURCE_CONTROLLER_METRICS_ADDR (127.0.0.1:9391),
#        SOURCE_CONTROLLER_HEALTH_ADDR (127.0.0.1:9392),
#        KUSTOMIZE_CONTROLLER_METRICS_ADDR (127.0.0.1:9393),
#        KUSTOMIZE_CONTROLLER_HEALTH_ADDR (127.0.0.1:9394),
#        CRD_TIMEOUT (300, seconds to wait for the Flux CRDs), LOG_LEVEL (info).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
ns=${RUNTIME_NAMESPACE:-flux-system}
run_dir=${RUN_DIR:-$root/.cache/run}
flux_bin=${FLUX_BIN:-$root/bin/flux/${FLUX_VERSION}}
fleet_dir=${FLEET_DIR:-$root/hack/fleet}
git_addr=${GIT_SERVER_ADDR:-127.0.0.1:9300}
storage_addr=${SOURCE_CONTROLLER_STORAGE_ADDR:-127.0.0.1:9390}
sc_metrics=${SOURCE_CONTROLLER_METRICS_ADDR:-127.0.0.1:9391}
sc_health=${SOURCE_CONTROLLER_HEALTH_ADDR:-127.0.0.1:9392}
kc_metrics=${KUSTOMIZE_CONTROLLER_METRICS_ADDR:-127.0.0.1:9393}
kc_health=${KUSTOMIZE_CONTROLLER_HEALTH_ADDR:-127.0.0.1:9394}
processes=(gitserver source-controller kustomize-controller watch-source-controller watch-kustomize-controller)

# The CRDs each controller watches: it exits at start-up when one is missing.
crds=(gitrepositories buckets helmrepositories helmcharts ocirepositories externalartifacts)
crds=("${crds[@]/%/.source.toolkit.fluxcd.io}" kustomizations.kustomize.toolkit.fluxcd.io)

pidfile() { echo "$run_dir/$1.pid"; }

running() { # name: 0 when its process is alive
  local f
  f=$(pidfile "$1")
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

launch() { # name command...: detached, logging to RUN_DIR/name.log
  local name=$1
  shift
  if running "$name"; then
    echo ">> $name is already running (pid $(cat "$(pidfile "$name")"))"
    return 0
  fi
  setsid "$@" >"$run_dir/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
  echo ">> started $name (pid $!, log $run_dir/$name.log)"
}

# answers name check...: 0 when check succeeds, 2 when name has exited, 1
# when not yet.
answers() {
  local name=$1
  shift
  "$@" >/dev/null 2>&1 && return 0
  running "$name" || return 2
  return 1
}

# wait_for tries what name check...: polls check (lib.sh) for tries half
# seconds, failing with the end of name's log when check never succeeds or
# name exits.
wait_for() {
  local tries=$1 what=$2 name=$3 rc=0
  shift 3
  poll "$tries" answers "$name" "$@" || rc=$?
  case $rc in
    0) return 0 ;;
    2) echo "$name exited before $what; the end of its log follows:" >&2 ;;
    *) echo "$name: no $what after $((tries / 2))s; the end of its log follows:" >&2 ;;
  esac
  tail -n 20 "$run_dir/$name.log" >&2
  return 1
}

# seed pushes the demo fleet into RUN_DIR/git/fleet.git on first use; a
# repository that exists keeps its history (and the commits pushed to it).
seed() {
  local repo=$run_dir/git/fleet.git work
  if [ -d "$repo" ]; then
    echo ">> the fleet repository exists: $repo"
    return 0
  fi
  mkdir -p "$run_dir/git"
  git init -q --bare -b main "$repo"
  work=$(mktemp -d)
  cp -R "$fleet_dir/." "$work"
  git -C "$work" init -q -b main
  git -C "$work" add -A
  git -C "$work" -c user.name="flux-operator dev" -c user.email=dev@flux-operator.invalid \
    commit -q -m "The demo fleet (hack/fleet)"
  git -C "$work" push -q "$repo" main
  rm -rf "$work"
  echo ">> pushed the demo fleet (${fleet_dir#$root/}) into $repo"
}

# follow name: a watcher stops the process of name when the Deployment it
# stands in for is deleted, as the pod would stop (SIGKILL, so that it is
# gone before the local cluster's fake pod is: an uninstall strips the Flux
# finalizers once the pods are gone, and a controller still running would
# put them back and garbage-collect what Flux applied).
follow() {
  local name=$1 pid
  pid=$(cat "$(pidfile "$name")")
  # shellcheck disable=SC2016
  launch "watch-$name" bash -c '
    kubectl=$1 ns=$2 name=$3 pid=$4
    until "$kubectl" -n "$ns" get deployment "$name" >/dev/null 2>&1; do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 1
    done
    while kill -0 "$pid" 2>/dev/null; do
      if "$kubectl" -n "$ns" wait --for=delete "deployment/$name" --timeout=60s >/dev/null 2>&1; then
        echo "the Deployment $ns/$name was deleted: stopping $name (pid $pid) as its pod would stop"
        kill -KILL "$pid"
        exit 0
      fi
    done' _ "$bin/kubectl" "$ns" "$1" "$pid"
}

crds_established() {
  "$bin/kubectl" wait --for condition=Established --timeout 0s "${crds[@]/#/crd/}" >/dev/null 2>&1
}

none_alive() { # pid...: 0 when none of them runs
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 1; done
  return 0
}

start() {
  if [ -z "${KUBECONFIG:-}" ]; then
    echo "KUBECONFIG is not set: the controllers need the cluster's kubeconfig" >&2
    exit 1
  fi
  for b in source-controller kustomize-controller; do
    if [ ! -x "$flux_bin/$b" ]; then
      echo "missing $flux_bin/$b: run 'make flux-controllers' first" >&2
      exit 1
    fi
  done
  if [ ! -x "$root/bin/gitserver" ]; then
    echo "missing $root/bin/gitserver: run 'make flux-controllers' first" >&2
    exit 1
  fi
  mkdir -p "$run_dir/source-controller"

  seed
  launch gitserver "$root/bin/gitserver" -root "$run_dir/git" -listen "$git_addr"
  wait_for 20 "answer at http://$git_addr/fleet.git" gitserver \
    curl -fsS "http://$git_addr/fleet.git/info/refs?service=git-upload-pack"

  echo ">> waiting up to ${CRD_TIMEOUT:-300}s for the Flux CRDs (the installer applies them)"
  if ! poll $((${CRD_TIMEOUT:-300} * 2)) crds_established; then
    echo "the Flux CRDs are not installed: apply a FluxInstance with source-controller and kustomize-controller first" >&2
    exit 1
  fi

  local common=(--log-level "${LOG_LEVEL:-info}" --log-encoding json --enable-leader-election=false
    --watch-all-namespaces=true)
  RUNTIME_NAMESPACE=$ns launch source-controller "$flux_bin/source-controller" "${common[@]}" \
    --storage-path "$run_dir/source-controller" --storage-addr "$storage_addr" --storage-adv-addr "$storage_addr" \
    --metrics-addr "$sc_metrics" --health-addr "$sc_health"
  RUNTIME_NAMESPACE=$ns launch kustomize-controller "$flux_bin/kustomize-controller" "${common[@]}" \
    --no-remote-bases=true --requeue-dependency=5s --metrics-addr "$kc_metrics" --health-addr "$kc_health"
  follow source-controller
  follow kustomize-controller
  wait_for 120 "readiness on http://$sc_health/readyz" source-controller curl -fsS "http://$sc_health/readyz"
  wait_for 120 "readiness on http://$kc_health/readyz" kustomize-controller curl -fsS "http://$kc_health/readyz"
  echo ">> the Flux pipeline runs: git http://$git_addr/fleet.git, source-controller (artifacts http://$storage_addr," \
    "metrics http://$sc_metrics/metrics), kustomize-controller (metrics http://$kc_metrics/metrics)"
}

stop() {
  local pids=() name pid
  for name in "${processes[@]}"; do
    if running "$name"; then
      pid=$(cat "$(pidfile "$name")")
      # setsid made it the leader of its own process group: stop the group
      # (a watcher's kubectl with it).
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      echo ">> stopping $name (pid $pid)"
    fi
  done
  # They are not our children: wait for them by polling, 30s at most.
  poll 60 none_alive "${pids[@]}" || true
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for name in "${processes[@]}"; do rm -f "$(pidfile "$name")"; done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  git-url) echo "http://$git_addr/fleet.git" ;;
  *) echo "usage: $0 start|stop|git-url" >&2; exit 2 ;;
esac
