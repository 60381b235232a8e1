#!/usr/bin/env bash
# Makes sure the Debian packages the kit builds with are installed.
#   tools/ensure-deps.sh [extra-package ...]
# As root it installs what is missing with apt-get; otherwise it prints the
# exact command to run and fails.
set -euo pipefail

packages=(g++ make pkg-config libgtest-dev libcli11-dev nlohmann-json3-dev liburing-dev strace "$@")

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if ! command -v dpkg-query >/dev/null; then
    # Not Debian: check what the build needs directly.
    [ -f /usr/include/CLI/CLI.hpp ] || { echo "missing CLI11 headers (CLI/CLI.hpp): install CLI11 with your package manager" >&2; exit 1; }
    pkg-config --exists gtest gtest_main || { echo "missing GoogleTest (pkg-config gtest): install it with your package manager" >&2; exit 1; }
    exit 0
fi

missing=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with:  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "installing missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2
