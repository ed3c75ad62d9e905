#!/usr/bin/env bash
# Runs the operator's binaries (installer, reporter, exporter and the web UI)
# as local processes against a cluster:
# $KUBECONFIG when set, else the local kwok cluster (started when needed).
# Installs the CRDs and the runtime namespace, waits for every binary to be
# ready, shows the report and the web UI's address, and runs until
# interrupted (Ctrl-C stops them all gracefully).
#
# On the local cluster it also runs a real GitOps pipeline: it installs Flux
# from a FluxInstance that syncs the demo fleet (hack/run-fluxinstance-sync.yaml,
# or INSTANCE=file), starts the local Git server and the real
# source-controller and kustomize-controller beside the cluster
# (hack/flux-controllers.sh), waits until the instance, the GitRepository and
# both Kustomizations are Ready, and shows the instance, its events, the
# report and the metrics. On a cluster given with KUBECONFIG it installs
# nothing unless INSTALL_FLUX=true (then hack/run-fluxinstance.yaml, no
# sync), so it never changes a user's cluster by surprise.
#
# Env: KUBECONFIG, RUNTIME_NAMESPACE (flux-system), RUN_DIR (.cache/run),
#      INSTALL_FLUX (true on the local cluster, else false), INSTANCE,
#      REAL_FLUX (true on the local cluster, else false: run the local Git
#      server and the real controllers, and sync the demo fleet; the cluster
#      must run no pods of its own for those two, as kwok's do not),
#      GIT_SERVER_ADDR (127.0.0.1:9300) and the other addresses of
#      hack/flux-controllers.sh,
#      FLUX_OBJECTS (a file of Flux objects applied after the install with
#      INSTALL_FLUX, e.g. hack/run-flux-objects.yaml; none by default),
#      NOTIFICATION_CONTROLLER_ADDRESS (events are not forwarded when unset:
#      local processes cannot reach an in-cluster notification-controller),
#      EXPORTER_METRICS_ADDR (:8080), INSTALLER_METRICS_ADDR (:9080),
#      REPORTER_METRICS_ADDR (:9180), WEB_ADDR (127.0.0.1:9280: the web UI),
#      WEB_METRICS_ADDR (:9290), WEB_AUTH (false), LOG_LEVEL (info).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
ns=${RUNTIME_NAMESPACE:-flux-system}
run_dir=${RUN_DIR:-$root/.cache/run}
export PATH="$bin:$PATH"

install_flux=${INSTALL_FLUX:-false}
real_flux=${REAL_FLUX:-false}
flux_objects=${FLUX_OBJECTS-}
if [ -z "${KUBECONFIG:-}" ]; then
  "$root/hack/cluster.sh" up
  KUBECONFIG=$("$root/hack/cluster.sh" kubeconfig)
  echo ">> no KUBECONFIG given: using the local kwok cluster"
  install_flux=${INSTALL_FLUX:-true}
  real_flux=${REAL_FLUX:-true}
fi
# The binaries run outside the cluster: they cannot reach the in-cluster
# notification-controller, so events are forwarded only when asked.
if [ -z "${NOTIFICATION_CONTROLLER_ADDRESS:-}" ]; then
  export NOTIFICATIONS_DISABLED=${NOTIFICATIONS_DISABLED:-true}
fi
if [ "$real_flux" = true ]; then
  instance=${INSTANCE:-$root/hack/run-fluxinstance-sync.yaml}
else
  instance=${INSTANCE:-$root/hack/run-fluxinstance.yaml}
fi
export KUBECONFIG RUN_DIR=$run_dir
kubectl() { "$bin/kubectl" "$@"; }

echo ">> cluster: $(kubectl version -o json | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | tail -1) at $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
echo ">> installing CRDs and namespace $ns"
kubectl apply --server-side --force-conflicts --field-manager flux-operator-run -f "$root/config/crd/bases" >/dev/null
kubectl wait --for condition=Established --timeout 60s crd/fluxinstances.fluxcd.controlplane.io crd/fluxreports.fluxcd.controlplane.io >/dev/null
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply --server-side --field-manager flux-operator-run -f - >/dev/null

mkdir -p "$run_dir"
pids=()
stop() {
  trap - INT TERM EXIT
  if [ "$real_flux" = true ]; then
    "$root/hack/flux-controllers.sh" stop || true
  fi
  if [ ${#pids[@]} -gt 0 ]; then
    echo ">> stopping (SIGTERM)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

start() { # name metrics-addr health-addr [flags...]
  local name=$1 metrics=$2 health=$3
  shift 3
  RUNTIME_NAMESPACE=$ns "$root/bin/flux-operator-$name" \
    --metrics-addr "$metrics" --health-addr "$health" "$@" \
    --log-level "${LOG_LEVEL:-info}" --log-encoding json \
    >"$run_dir/$name.log" 2>&1 </dev/null &
  pids+=($!)
  echo ">> started flux-operator-$name (pid $!, metrics $metrics, health $health, log $run_dir/$name.log)"
}

binary_ready() { # port: 0 ready, 1 not yet, 2 a binary exited
  curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
  kill -0 "${pids[@]}" 2>/dev/null || return 2
  return 1
}

report_installed() {
  [ "$(kubectl -n "$ns" get fluxreport/flux -o jsonpath='{.spec.distribution.status}' 2>/dev/null)" = Installed ]
}

report_has_ready() {
  [ -n "$(kubectl -n "$ns" get fluxreport/flux -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" ]
}

scrape() { # sets metrics to the exporter's /metrics
  metrics=$(curl -fsS "http://127.0.0.1:${exporter_metrics##*:}/metrics" 2>/dev/null || true)
}

metrics_have_report() {
  scrape
  grep -q '^flux_report_timestamp_seconds [1-9]' <<<"$metrics"
}

metrics_show_install() {
  scrape
  grep -q '^flux_instance_info{.*ready="True"' <<<"$metrics" && grep -q 'status="Installed"' <<<"$metrics" &&
    { [ -z "$flux_objects" ] || grep -q '^flux_resource_info{' <<<"$metrics"; } &&
    { [ "$real_flux" != true ] || grep -q '^flux_resource_info{.*kind="Kustomization".*name="demo-app".*ready="True"' <<<"$metrics"; }
}

report_sync_ready() {
  [ "$(kubectl -n "$ns" get fluxreport/flux -o jsonpath='{.spec.sync.ready}' 2>/dev/null)" = true ]
}

refresh_report() {
  kubectl -n "$ns" annotate --overwrite fluxreport/flux reconcile.fluxcd.io/requestedAt="$(date +%s%N)" >/dev/null 2>&1 || true
}

wait_ready() { # name health-addr
  local name=$1 port=${2##*:}
  if poll 120 binary_ready "$port"; then return 0; fi
  echo "flux-operator-$name did not become ready; last log lines:" >&2
  tail -n 20 "$run_dir/$name.log" >&2
  exit 1
}

exporter_metrics=${EXPORTER_METRICS_ADDR:-:8080}
start installer "${INSTALLER_METRICS_ADDR:-:9080}" "${INSTALLER_HEALTH_ADDR:-:9081}"
start reporter "${REPORTER_METRICS_ADDR:-:9180}" "${REPORTER_HEALTH_ADDR:-:9181}"
start exporter "$exporter_metrics" "${EXPORTER_HEALTH_ADDR:-:8081}"
web_addr=${WEB_ADDR:-127.0.0.1:9280}
start web "${WEB_METRICS_ADDR:-:9290}" "${WEB_HEALTH_ADDR:-:9291}" --web-addr "$web_addr" --web-auth="${WEB_AUTH:-false}"
wait_ready installer "${INSTALLER_HEALTH_ADDR:-:9081}"
wait_ready reporter "${REPORTER_HEALTH_ADDR:-:9181}"
wait_ready exporter "${EXPORTER_HEALTH_ADDR:-:8081}"
wait_ready web "${WEB_HEALTH_ADDR:-:9291}"
web_host=${web_addr%:*}
web_url="http://${web_host:-127.0.0.1}:${web_addr##*:}/"

echo ">> all four binaries are ready; the web UI is at $web_url"
if [ "$install_flux" = true ]; then
  echo ">> installing Flux: kubectl apply --server-side -f ${instance#$root/}"
  manifest=$instance
  if [ "$real_flux" = true ] && [ -n "${GIT_SERVER_ADDR:-}" ]; then
    manifest=$run_dir/fluxinstance.yaml
    sed "s|http://127.0.0.1:9300/|http://$GIT_SERVER_ADDR/|" "$instance" >"$manifest"
  fi
  kubectl apply --server-side --field-manager flux-operator-run -f "$manifest" >/dev/null
  start_install=$(date +%s)
  if [ "$real_flux" = true ]; then
    echo ">> starting the local Flux pipeline: hack/flux-controllers.sh start"
    if ! "$root/hack/flux-controllers.sh" start; then
      echo "the local Flux pipeline did not start; see $run_dir/{gitserver,source-controller,kustomize-controller}.log" >&2
      exit 1
    fi
  fi
  if ! kubectl -n "$ns" wait --for=condition=Ready --timeout=5m fluxinstance/flux >/dev/null; then
    echo "the FluxInstance did not become Ready; its status and the installer's log follow:" >&2
    kubectl -n "$ns" get fluxinstance/flux -o yaml >&2 || true
    tail -n 20 "$run_dir/installer.log" >&2
    exit 1
  fi
  echo ">> Flux is installed ($(( $(date +%s) - start_install ))s after the apply)"
  if [ "$real_flux" = true ]; then
    # The instance's health check waited for the sync; the app's
    # Kustomization depends on it and comes after.
    if ! kubectl -n "$ns" wait --for=condition=Ready --timeout=3m gitrepository/flux-system \
      kustomization/flux-system kustomization/demo-app >/dev/null; then
      echo "the demo fleet was not synced; the Flux objects and the controllers' logs follow:" >&2
      kubectl get gitrepositories,kustomizations -A >&2 || true
      tail -n 10 "$run_dir/source-controller.log" "$run_dir/kustomize-controller.log" >&2
      exit 1
    fi
    echo ">> the demo fleet is synced ($(( $(date +%s) - start_install ))s after the apply)"
    refresh_report
  fi
  echo
  kubectl -n "$ns" get fluxinstance -o wide
  echo
  kubectl -n "$ns" events --for fluxinstance/flux
  echo
  kubectl -n "$ns" get deployments -l app.kubernetes.io/part-of=flux
  if [ "$real_flux" = true ]; then
    echo
    kubectl get gitrepositories,kustomizations -A
    echo
    kubectl -n demo get deployments,configmaps
  fi
  if [ -n "$flux_objects" ]; then
    echo
    echo ">> adding Flux objects: kubectl apply --server-side -f ${flux_objects#$root/}"
    kubectl apply --server-side --field-manager flux-operator-run -f "$flux_objects"
    # A fresh report, so that it counts them now rather than at the next interval.
    refresh_report
  fi
  # The installer asked for a fresh report; wait until it shows the install.
  poll 60 report_installed || true
  if [ "$real_flux" = true ] && ! poll 20 report_sync_ready; then
    refresh_report
    poll 20 report_sync_ready || true
  fi
fi
poll 60 report_has_ready || true
echo
kubectl -n "$ns" get fluxreports 2>&1 | sed 's/^No resources found.*/(no FluxReport yet: see the reporter log)/'
echo
kubectl -n "$ns" get fluxreport/flux -o yaml 2>/dev/null | sed -n '/^spec:/,$p' || true
echo ">> metrics of flux-operator-exporter (flux_* series):"
metrics=""
poll 20 metrics_have_report || true
if [ "$install_flux" = true ]; then
  poll 20 metrics_show_install || true
  grep -E '^flux_(instance_info|resource_info|report_distribution_info|report_component_ready|operator_info|report_ready)' <<<"$metrics" || true
else
  grep -E '^flux_' <<<"$metrics" | head -n 20 || true
fi
cat <<EOT

Look at the report:   KUBECONFIG=$KUBECONFIG kubectl -n $ns get fluxreport/flux -o yaml
Refresh it now:       KUBECONFIG=$KUBECONFIG kubectl -n $ns annotate --overwrite fluxreport/flux reconcile.fluxcd.io/requestedAt="\$(date +%s)"
Instance events:      KUBECONFIG=$KUBECONFIG kubectl -n $ns events --for fluxinstance/flux
Metrics:              curl -s http://127.0.0.1:${exporter_metrics##*:}/metrics
Web UI:               $web_url
EOT
if [ "$real_flux" = true ]; then
  cat <<EOT
Push a commit:        git clone $("$root/hack/flux-controllers.sh" git-url) /tmp/fleet && cd /tmp/fleet
                      (edit, e.g. replicas in apps/demo/deployment.yaml) && git commit -am "Scale podinfo" && git push
Watch it arrive:      KUBECONFIG=$KUBECONFIG kubectl get gitrepositories,kustomizations -A -w
                      (within the 1m sync interval, or now: KUBECONFIG=$KUBECONFIG kubectl -n $ns annotate --overwrite gitrepository/flux-system reconcile.fluxcd.io/requestedAt="\$(date +%s)")
Controller logs:      $run_dir/{gitserver,source-controller,kustomize-controller}.log
EOT
fi
cat <<EOT
(kubectl here is $bin/kubectl, matching the server version.)
Press Ctrl-C to stop; 'make cluster-down' deletes the local cluster.
EOT
echo ">> running"
wait -n "${pids[@]}" || true
echo "a binary exited; see $run_dir/*.log" >&2
exit 1
