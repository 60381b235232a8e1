#!/usr/bin/env bash
# make gradescope: Gradescope's autograder, OUT/iolab-autograder.zip: the
# handout tree (no solutions) with setup.sh and run_autograder at its root.
#   tools/make-gradescope.sh OUT
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/gradescope}
tools/ensure-deps.sh zip

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tools/make-handout.sh "$stage" >/dev/null
tar -C "$stage" -xzf "$stage/iolab-handout.tar.gz"
tree=$stage/iolab-handout
rm -rf "$tree/.github"
cp tools/gradescope/setup.sh tools/gradescope/run_autograder "$tree/"

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/iolab-autograder.zip"
(cd "$tree" && zip -qr "$out/iolab-autograder.zip" .)
echo "$out/iolab-autograder.zip: upload it as the autograder of a Gradescope programming assignment"
