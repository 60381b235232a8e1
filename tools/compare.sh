#!/usr/bin/env bash
# make compare: benchmarks every server of SRC side by side with `checker bench`,
# plus the epoll baseline, over one matrix of scenarios, and writes to
# $BUILD/compare/: report.md (tables, who won, the baseline ratio), results.csv,
# and the plots (SVG and PNG). docs/compare.md explains it all.
#   tools/compare.sh [solutions|labs]
#   environment: BUILD=build  DURATION=1 (seconds measured per cell)  WARMUP=0.25
#                MODELS="poll epoll" (default: every model found, and epoll-baseline)
#                PAIRS=5 (runs of epoll and the baseline in turn, for the bar, and of uring and
#                the baseline at 100 and 1,000 connections, for the CPU goal, and of each pool
#                and its per-client sibling (prefork and fork, prethread and threads), churn; 0: none)
set -uo pipefail

src=${1:-solutions}
build=${BUILD:-build}
duration=${DURATION:-1}
warmup=${WARMUP:-0.25}
only=${MODELS:-}
pairs=${PAIRS:-5}
out=$build/compare
baseline=epoll-baseline
case "$src" in labs|solutions) ;; *) echo "compare: SRC must be labs or solutions, not '$src'" >&2; exit 2;; esac

# The matrix: scenario | connections | checker bench options. Every model runs
# every cell; a model that cannot hold the connections is shown as such.
matrix=(
    "echo 64 B|1 10 100 1000 10000|--size 64"
    "echo 4 KiB|1 100 1000|--size 4096"
    "idle crowd, 10 active|10 1010 10010|--size 64 --active 10"
    "delay 1 ms|100|--size 64 --delay-us 1000"
    "open loop 10,000/s|100|--size 64 --rate 10000"
    "churn|10|--size 64 --churn"
)

# ---- the models: each of labs/models.txt that $src/ holds, in the order of the course, then the baseline
found=()
for model in $("$(dirname "$0")/models.sh" names); do
    [ -f "$src/$model/server.cpp" ] && found+=("$model")
done
found+=("$baseline")
models=()
if [ -n "$only" ]; then
    for wanted in $only; do
        if printf '%s\n' "${found[@]}" | grep -qx -- "$wanted"; then models+=("$wanted")
        else echo "compare: no model '$wanted' in $src/ (models: ${found[*]})" >&2; exit 2; fi
    done
else
    models=("${found[@]}")
fi

server_of() {   # model -> its binary
    if [ "$1" = "$baseline" ]; then echo "$build/bench/epoll_baseline"; else echo "$build/$src/$1"; fi
}

# Builds each model; one that does not compile is still listed (it "did not start").
for model in "${models[@]}"; do
    [ "$model" = "$baseline" ] && continue
    if ! log=$(make -s --no-print-directory BUILD="$build" "$build/$src/$model" 2>&1); then
        echo "compare: $src/$model does not compile; the compiler's first error:"
        echo "  $(grep -m1 -E "error" <<<"$log" || tail -n1 <<<"$log")"
        rm -f "$build/$src/$model"     # no stale binary gets measured
    fi
done

cells=0
for line in "${matrix[@]}"; do
    IFS='|' read -r _ counts _ <<<"$line"
    cells=$((cells + $(wc -w <<<"$counts")))
done
runs=$((cells * ${#models[@]}))
mkdir -p "$out"
rm -f "$out"/results.csv "$out"/pairs.csv "$out"/cpu-pairs.csv "$out"/churn-pairs.csv "$out"/syscalls.csv "$out"/workers.csv "$out"/bench.log "$out"/throughput*.md "$out"/*.svg "$out"/*.png "$out"/plot-data/*.dat
echo "compare: ${#models[@]} servers (${models[*]}) x $cells cells = $runs runs of ${duration} s + ${warmup} s warm-up,"
echo "         then $pairs pairs of epoll and $baseline in turn for the bar, and 2 x $pairs of uring and $baseline for the CPU goal;"
echo "         about $(awk -v r="$((runs + 6 * pairs))" -v d="$duration" -v w="$warmup" 'BEGIN { printf "%.0f", r * (d + w + 1.2) / 60 + 0.5 }') min. Details: $out/bench.log"

# ---- the runs: cell by cell, every model in turn, so that a machine that gets
# busier or quieter meanwhile weighs on all the models of a cell alike ----------
declare -A dead=()    # models that did not start: not tried again
run=0
for line in "${matrix[@]}"; do
    IFS='|' read -r scenario counts options <<<"$line"
    for connections in $counts; do
        for model in "${models[@]}"; do
            run=$((run + 1))
            label=$(printf '[%3d/%d] %-18s %6s conn.  %-15s' "$run" "$runs" "$scenario" "$connections" "$model")
            if [ -n "${dead[$model]:-}" ]; then echo "$label skipped: it did not start"; continue; fi
            # shellcheck disable=SC2086  # $options holds several words on purpose
            summary=$(timeout -k 5 $((90 + ${duration%.*} * 3)) "$build/checker" bench --brief \
                --model "$model" --scenario "$scenario" --connections "$connections" $options \
                --duration "$duration" --warmup "$warmup" --csv "$out/results.csv" -- "$(server_of "$model")" 2>&1)
            status=$?
            printf '%s\n%s\n' "== $scenario, $connections connections, $model (exit $status)" "$summary" >>"$out/bench.log"
            echo "$label ${summary#"$model": }"
            [ $status -eq 2 ] && grep -q "did not start" <<<"$summary" && dead[$model]=1
            [ $status -ge 124 ] && echo "$label the run was stopped after its time limit"
        done
    done
done

# ---- the bar: the reference epoll server and the baseline, run in turn --------------
# One run per cell is noisy; the ratio the bar is about (plain echo, 100
# connections) is measured again in pairs, the order alternating, so that a
# machine getting busier or quieter weighs on both alike.
bar_cell="--size 64 --connections 100"
if [ "$pairs" -gt 0 ] && printf '%s\n' "${models[@]}" | grep -qx epoll && printf '%s\n' "${models[@]}" | grep -qx "$baseline" \
   && [ -z "${dead[epoll]:-}" ] && [ -z "${dead[$baseline]:-}" ]; then
    for pair in $(seq 1 "$pairs"); do
        order=(epoll "$baseline"); [ $((pair % 2)) -eq 1 ] && order=("$baseline" epoll)
        for model in "${order[@]}"; do
            # shellcheck disable=SC2086
            summary=$(timeout -k 5 $((90 + ${duration%.*} * 3)) "$build/checker" bench --brief --model "$model" \
                --scenario "echo 64 B" $bar_cell --duration "$duration" --warmup "$warmup" --csv "$out/pairs.csv" \
                -- "$(server_of "$model")" 2>&1)
            printf '%s\n%s\n' "== bar pair $pair, $model (exit $?)" "$summary" >>"$out/bench.log"
            printf '[bar %d/%d] echo 64 B, 100 conn.  %-15s %s\n' "$pair" "$pairs" "$model" "${summary#"$model": }"
        done
    done
fi

# ---- the CPU goal: uring and the baseline, run in turn, at 100 and 1,000 connections ------
# Judged on the server's CPU per request, not on throughput: on 2 CPUs the load
# generator limits every fast server. Same pairs, same alternating order.
if [ "$pairs" -gt 0 ] && printf '%s\n' "${models[@]}" | grep -qx uring && printf '%s\n' "${models[@]}" | grep -qx "$baseline" \
   && [ -z "${dead[uring]:-}" ] && [ -z "${dead[$baseline]:-}" ]; then
    for connections in 100 1000; do
        for pair in $(seq 1 "$pairs"); do
            order=(uring "$baseline"); [ $((pair % 2)) -eq 1 ] && order=("$baseline" uring)
            for model in "${order[@]}"; do
                summary=$(timeout -k 5 $((90 + ${duration%.*} * 3)) "$build/checker" bench --brief --model "$model" \
                    --scenario "echo 64 B" --size 64 --connections "$connections" --duration "$duration" \
                    --warmup "$warmup" --csv "$out/cpu-pairs.csv" -- "$(server_of "$model")" 2>&1)
                printf '%s\n%s\n' "== cpu pair $pair, $connections connections, $model (exit $?)" "$summary" >>"$out/bench.log"
                printf '[cpu %d/%d] echo 64 B, %5s conn.  %-15s %s\n' "$pair" "$pairs" "$connections" "$model" "${summary#"$model": }"
            done
        done
    done
fi

# ---- connection churn: each pool made in advance and its per-client sibling, in turn -----
# What a pool is for: the cost of a process or thread per client, taken out.
# Each scenario names the pool first ("churn: prefork vs fork"); same pairs,
# same alternating order as above.
for duo in "prefork fork" "prethread threads"; do
    read -r pool other <<<"$duo"
    [ "$pairs" -gt 0 ] || break
    printf '%s\n' "${models[@]}" | grep -qx "$pool" && printf '%s\n' "${models[@]}" | grep -qx "$other" \
        && [ -z "${dead[$pool]:-}" ] && [ -z "${dead[$other]:-}" ] || continue
    for pair in $(seq 1 "$pairs"); do
        order=("$pool" "$other"); [ $((pair % 2)) -eq 1 ] && order=("$other" "$pool")
        for model in "${order[@]}"; do
            summary=$(timeout -k 5 $((90 + ${duration%.*} * 3)) "$build/checker" bench --brief --model "$model" \
                --scenario "churn: $pool vs $other" --size 64 --churn --connections 10 --duration "$duration" \
                --warmup "$warmup" --csv "$out/churn-pairs.csv" -- "$(server_of "$model")" 2>&1)
            printf '%s\n%s\n' "== churn pair $pair, $model (exit $?)" "$summary" >>"$out/bench.log"
            printf '[churn %d/%d] %-18s %-15s %s\n' "$pair" "$pairs" "$pool vs $other" "$model" "${summary#"$model": }"
        done
    done
done

# ---- throughput against --workers: the models whose workers share out the work ---------
# epoll's pool, the coroutines' offload pool, a loop per core; with CPU work
# per request (--compute-us 100), so that more workers have something to
# share. (prefork and prethread serve --workers clients at a time: 100
# connections are not all served, and churn pairs show what they are for.)
# Here the server has one CPU: the report says what it would take to see them scale.
for model in epoll coro reactors; do
    printf '%s\n' "${models[@]}" | grep -qx "$model" && [ -z "${dead[$model]:-}" ] || continue
    for workers in 1 2 4; do
        summary=$(timeout -k 5 $((90 + ${duration%.*} * 3)) "$build/checker" bench --brief --model "$model" \
            --scenario "compute 100 µs" --size 64 --connections 100 --compute-us 100 --workers "$workers" \
            --duration "$duration" --warmup "$warmup" --csv "$out/workers.csv" -- "$(server_of "$model")" 2>&1)
        printf '%s\n%s\n' "== workers $workers, $model (exit $?)" "$summary" >>"$out/bench.log"
        printf '[workers %d] compute 100 µs, 100 conn.  %-15s %s\n' "$workers" "$model" "${summary#"$model": }"
    done
done

# ---- system calls per request: a separate, short counting run per model ----------------
# strace slows the server down several times: nothing else is taken from these runs.
if command -v strace >/dev/null; then
    for model in "${models[@]}"; do
        [ -n "${dead[$model]:-}" ] && continue
        summary=$(timeout -k 5 60 "$build/checker" bench --brief --syscalls --model "$model" \
            --scenario "echo 64 B" --size 64 --connections 100 --duration 0.5 --warmup "$warmup" \
            --csv "$out/syscalls.csv" -- "$(server_of "$model")" 2>&1)
        printf '%s\n%s\n' "== system calls, $model (exit $?)" "$summary" >>"$out/bench.log"
        printf '[syscalls] echo 64 B, 100 conn.  %-15s counted\n' "$model"
    done
else
    echo "compare: strace is not installed (apt-get install strace): no system calls counted"
fi

# ---- the report ---------------------------------------------------------------------
[ -s "$out/results.csv" ] || { echo "compare: no run produced a result" >&2; exit 1; }
title="The I/O models compared ($src/)"
pairs_option=(); [ -s "$out/pairs.csv" ] && pairs_option=(--pairs "$out/pairs.csv")
[ -s "$out/cpu-pairs.csv" ] && pairs_option+=(--cpu-pairs "$out/cpu-pairs.csv")
[ -s "$out/churn-pairs.csv" ] && pairs_option+=(--churn-pairs "$out/churn-pairs.csv")
[ -s "$out/syscalls.csv" ] && pairs_option+=(--syscalls "$out/syscalls.csv")
[ -s "$out/workers.csv" ] && pairs_option+=(--workers "$out/workers.csv")
"$build/checker" bench-report --csv "$out/results.csv" --out "$out" --title "$title" "${pairs_option[@]}" || exit 1
if command -v gnuplot >/dev/null; then
    (cd "$out" && gnuplot plots.gp) || echo "compare: gnuplot failed on $out/plots.gp (see above)"
else
    echo "compare: gnuplot is not installed (sudo apt-get install gnuplot-nox): no plots drawn"
fi

echo
sed -n '/^## Throughput/,/^## Plots/p' "$out/report.md" | sed '$d'
echo "Full report: $out/report.md    data: $out/results.csv    plots: $out/{throughput,p99,memory}-*.svg (and .png)"
