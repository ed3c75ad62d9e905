#!/usr/bin/env bash
# Regenerates everything in a temporary copy of the working tree and fails
# when the result differs from the tree: generated code, CRDs, RBAC, the Helm
# chart's copies, Flux and Prometheus Operator CRDs and go.mod/go.sum of every
# module. Working in a copy keeps your uncommitted edits out of the
# comparison's way and never rewrites your files. Only the files of the copy
# (tracked and new, not ignored) are compared, so ignored files of your tree
# (binaries, caches) never count as stale.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
work="$tmp/tree"
mkdir -p "$work"

cd "$root"
# Tracked and new (not ignored) files, as they are now on disk.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done >"$tmp/before.lst"
tar --null -T "$tmp/before.lst" -cf - | tar -xf - -C "$work"

echo ">> regenerating in $work"
make -C "$work" --no-print-directory BIN="$root/bin" generate distribution flux-crds monitoring-crds tidy >"$tmp/verify.log" 2>&1 || {
  cat "$tmp/verify.log"; echo "ERROR: generation failed"; exit 1; }

# Files of the copy after generation; a generator that writes an ignored file
# (a built binary) is not a difference.
(cd "$work" && find . -type f ! -path './.git/*' -printf '%P\0') | sort -z >"$tmp/after.lst"
sort -z "$tmp/before.lst" >"$tmp/before.sorted"

stale=()
while IFS= read -r -d '' f; do stale+=("deleted by generation: $f"); done < <(comm -z -23 "$tmp/before.sorted" "$tmp/after.lst")
while IFS= read -r -d '' f; do
  if ! (cd "$root" && git check-ignore -q -- "$f"); then stale+=("new from generation: $f"); fi
done < <(comm -z -13 "$tmp/before.sorted" "$tmp/after.lst")
: >"$tmp/verify.diff"
while IFS= read -r -d '' f; do
  if ! cmp -s "$root/$f" "$work/$f"; then
    stale+=("changed by generation: $f")
    diff -u --label "a/$f" --label "b/$f" "$root/$f" "$work/$f" >>"$tmp/verify.diff" || true
  fi
done < <(comm -z -12 "$tmp/before.sorted" "$tmp/after.lst")

if [ ${#stale[@]} -gt 0 ]; then
  printf '%s\n' "${stale[@]}"
  head -n 200 "$tmp/verify.diff"
  echo
  echo "ERROR: generated files or go.mod/go.sum are stale."
  echo "Fix:   make generate distribution flux-crds monitoring-crds tidy   (then commit the result)"
  exit 1
fi
echo ">> generated files are up to date"
