#!/usr/bin/env bash
# Usage: ensure-package.sh PACKAGE COMMAND [COMMAND...]
# Makes sure each COMMAND is on PATH, installing the Debian PACKAGE that
# ships them when one is missing (as root, or through sudo). The tests use
# real components: Prometheus (promtool and the server) for the exporter,
# the CNCF Distribution registry (docker-registry) for the installer's
# artifacts.
set -euo pipefail

pkg=$1
shift
missing=0
for cmd in "$@"; do
  command -v "$cmd" >/dev/null 2>&1 || missing=1
done
[ "$missing" = 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "$* needed by the tests: install the Debian package '$pkg' or its equivalent" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "$* needed by the tests: run 'apt-get install $pkg' as root" >&2
    exit 1
  fi
  sudo=sudo
fi
echo ">> installing Debian's $pkg package (for: $*)"
$sudo apt-get update -qq
# The package may try to start a system service; none is needed, and where
# there is no init system that start fails harmlessly.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
for cmd in "$@"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "$pkg is installed but $cmd is not on PATH" >&2; exit 1; }
done
