#!/usr/bin/env bash
# make grade: builds and grades every lab of SRC (labs or solutions), or one,
# and prints one table. A lab that does not compile scores 0 and shows the
# compiler's first error; the other labs are still graded.
#   tools/grade.sh SRC [LAB]        (BUILD=build by default)
set -uo pipefail

src=${1:-labs}
only=${2:-}
build=${BUILD:-build}
case "$src" in labs|solutions) ;; *) echo "grade: SRC must be labs or solutions, not '$src'" >&2; exit 2;; esac
[ -d "$src" ] || { echo "grade: there is no $src/ here (the handout has only labs/)" >&2; exit 2; }

labs=()   # in the order of the course (labs/models.txt)
for lab in $("$(dirname "$0")/models.sh" names); do
    [ -f "$src/$lab/server.cpp" ] || continue
    [ -z "$only" ] || [ "$lab" = "$only" ] || continue
    labs+=("$lab")
done
if [ ${#labs[@]} -eq 0 ]; then
    echo "grade: no lab '${only}' in $src/ (labs: $(cd "$src" && ls -d */ 2>/dev/null | tr -d / | grep -v common | tr '\n' ' '))" >&2
    exit 2
fi

results=$build/grade/$src
mkdir -p "$results"
summary=()
total=0 total_max=0 failed=0
for lab in "${labs[@]}"; do
    echo "==================== $src/$lab"
    json=$results/$lab.json
    if ! log=$(make -s --no-print-directory BUILD="$build" "$build/$src/$lab" 2>&1); then
        first_error=$(grep -m1 -E "error" <<<"$log" || tail -n1 <<<"$log")
        echo "$src/$lab does not compile; it scores 0. The compiler's first error:"
        echo "  $first_error"
        rm -f "$build/$src/$lab"    # no stale binary from an earlier build gets graded
        "$build/checker" grade --lab "$lab" --json "$json" -- "$build/$src/$lab" >/dev/null 2>&1
        max=$(sed -n 's/^  "max_score": \([0-9]*\),/\1/p' "$json")
        total_max=$((total_max + ${max:-0}))
        summary+=("$(printf '%-12s %7s   %s' "$lab" "0/${max:-?}" "does not compile")")
        failed=1
        continue
    fi
    "$build/checker" grade --lab "$lab" --json "$json" -- "$build/$src/$lab"
    status=$?
    if [ $status -eq 2 ]; then
        summary+=("$(printf '%-12s %7s   %s' "$lab" "0/?" "the checker could not grade it (see above)")")
        failed=1
        continue
    fi
    score=$(sed -n 's/^  "score": \([0-9]*\),/\1/p' "$json")
    max=$(sed -n 's/^  "max_score": \([0-9]*\),/\1/p' "$json")
    total=$((total + score)); total_max=$((total_max + max))
    # A lab this machine cannot run (io_uring switched off, say) is skipped, with the reason.
    skipped=$(grep -o "Lab $lab skipped: [^\"]*" "$json" | sed "s/^Lab $lab skipped: //; s/\\n.*//")
    if [ -n "$skipped" ]; then
        summary+=("$(printf '%-12s %7s   %s' "$lab" "skipped" "$skipped")")
        continue
    fi
    summary+=("$(printf '%-12s %7s' "$lab" "$score/$max")")
done

echo
echo "==================== summary ($src)"
printf '%-12s %7s\n' "lab" "score"
printf '%s\n' "${summary[@]}"
printf '%-12s %7s\n' "total" "$total/$total_max"
[ "$failed" -eq 0 ] && [ "$total" -eq "$total_max" ]
