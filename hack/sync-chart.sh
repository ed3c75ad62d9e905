#!/usr/bin/env bash
# Copies into the Helm chart what it shares with config/: the CRDs, the RBAC
# generated from the binaries' markers, the PrometheusRule and the Grafana
# dashboards. Part of `make generate`; `make verify` fails when a copy is stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/config/charts/flux-operator"

rm -rf "$chart/crds" "$chart/files"
mkdir -p "$chart/crds" "$chart/files/rbac" "$chart/files/dashboards"
cp "$root"/config/crd/bases/*.yaml "$chart/crds/"
for c in installer reporter exporter web; do
  cp "$root/config/rbac/$c/role.yaml" "$chart/files/rbac/$c.yaml"
done
cp "$root/config/monitoring/prometheusrule.yaml" "$chart/files/prometheusrule.yaml"
cp "$root"/config/monitoring/dashboards/*.json "$chart/files/dashboards/"
