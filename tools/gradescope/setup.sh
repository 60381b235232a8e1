#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (Ubuntu or Debian): installs the Debian packages the kit needs and builds
# the checker and the shared scaffolding, so that grading a submission only
# builds the student's labs. The autograder root is /autograder, or
# $AUTOGRADER_ROOT (to try it locally).
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
cd "$root/source"
tools/ensure-deps.sh
make -j"$(nproc)" build/checker build/libiolab.a
