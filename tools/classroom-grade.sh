#!/usr/bin/env bash
# GitHub Classroom's grading step (.github/workflows/classroom.yml of the
# handout): runs make grade, shows its table, and hands the points to
# Classroom's reporter as the step output "result" (base64 of the checker's
# combined results in Classroom's format). Outside GitHub it prints them.
#   tools/classroom-grade.sh            (BUILD=build by default)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}

make --no-print-directory grade BUILD="$build"   # fails unless full marks: the score is reported either way
shopt -s nullglob
results=("$build"/grade/labs/*.json)
if [ ${#results[@]} -eq 0 ]; then
    echo "classroom-grade: make grade wrote no results in $build/grade/labs: see its output above" >&2
    exit 1
fi
combined=$("$build/checker" combine --format classroom "${results[@]}") || exit 1
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "result=$(base64 -w0 <<<"$combined")" >>"$GITHUB_OUTPUT"
else
    echo "$combined"
fi
