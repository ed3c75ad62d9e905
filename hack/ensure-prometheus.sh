#!/usr/bin/env bash
# Makes sure promtool and the Prometheus server are on PATH: the exporter's
# tests lint its output with `promtool check metrics` and have a real
# Prometheus scrape it. Installs Debian's prometheus package when they are
# missing (as root, or through sudo).
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool and prometheus are needed by the tests: install Prometheus (Debian package 'prometheus')" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "promtool and prometheus are needed by the tests: run 'apt-get install prometheus' as root" >&2
    exit 1
  fi
  sudo=sudo
fi
echo ">> installing Debian's prometheus package (promtool and the server, for the exporter's tests)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version | head -n 1
