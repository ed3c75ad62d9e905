#!/usr/bin/env bash
# Regenerates everything in a temporary copy of the working tree and fails
# when the result differs from the tree: generated code, CRDs, RBAC, the Helm
# chart's copies, Flux and Prometheus Operator CRDs and go.mod/go.sum of every
# module. Working in a copy keeps your uncommitted
# edits out of the comparison's way and never rewrites your files.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$root"
# Tracked and new (not ignored) files, as they are now on disk.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$tmp"

echo ">> regenerating in $tmp"
make -C "$tmp" --no-print-directory BIN="$root/bin" generate flux-crds monitoring-crds tidy >"$tmp/.verify.log" 2>&1 || {
  cat "$tmp/.verify.log"; echo "ERROR: generation failed"; exit 1; }

if ! diff -ruN -x .verify.log -x bin -x .cache -x .git "$root" "$tmp" >"$tmp/.verify.diff" 2>/dev/null; then
  # diff also lists ignored files present only in $root; keep real differences.
  if grep -qE '^(\+\+\+|---) ' "$tmp/.verify.diff"; then
    head -n 200 "$tmp/.verify.diff"
    echo
    echo "ERROR: generated files or go.mod/go.sum are stale."
    echo "Fix:   make generate flux-crds monitoring-crds tidy   (then commit the result)"
    exit 1
  fi
fi
echo ">> generated files are up to date"
