#!/usr/bin/env bash
# The tree's one style (.clang-format, 100 columns), checked file by file.
#   tools/check-format.sh          report every C and C++ file that drifts, fail if any does
#   tools/check-format.sh --fix    reformat them in place
# The lab stubs (labs/*/server.cpp) are left out: make stubs generates them
# from the solutions, which are checked.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh clang-format || exit 2

mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.hpp' ':!:labs/*/server.cpp' ':!:slides/**')
if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
passed=0 failed=0
for file in "${files[@]}"; do
    if clang-format --dry-run --Werror "$file" 2>/dev/null; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "$file: not in the tree's style (tools/check-format.sh --fix reformats it)"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
