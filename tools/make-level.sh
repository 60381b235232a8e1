#!/usr/bin/env bash
# The labs at a level of difficulty (docs/instructors.md, "Levels").
#   tools/make-level.sh LEVEL OUT      writes OUT/labs
# Each lab's server.cpp is generated from its solution by tools/make-stub.awk
# at LEVEL; labs/common goes through the same script, so that its own regions
# of that level become TODOs too, and a file marked "// OMIT FROM LEVEL N" is
# left out from level N on. In the READMEs, what holds only at some levels
# sits between "<!-- BEGIN LEVELS 1 2 -->" and "<!-- END LEVELS -->" (HTML
# comments: invisible where markdown is rendered), and is kept at those levels
# only. At level 1 the servers are the committed labs/.
set -euo pipefail
cd "$(dirname "$0")/.."

level=${1:-}
out=${2:-}
case $level in
    1 | 2 | 3) ;;
    *)
        echo "make-level.sh: LEVEL must be 1, 2 or 3, not '$level'" >&2
        exit 2
        ;;
esac
[ -n "$out" ] || { echo "usage: tools/make-level.sh LEVEL OUT" >&2; exit 2; }

# The level from which a file is not given, or nothing.
omitted_from() { sed -n 's|^[[:space:]]*// OMIT FROM LEVEL \([0-9]\).*|\1|p' "$1" | head -n 1; }

# A document's text for this level: the level blocks of other levels left out,
# as empty lines (their markers too), so that every other line keeps its
# number (tools/check-handout-docs.sh names lines of the kit's document).
only_at_level() {
    awk -v LEVEL="$level" '
        /^<!-- BEGIN LEVELS [0-9 ]+-->[ \t]*$/ {
            keep = 0
            for (i = 4; i < NF; i++) if ($i == LEVEL) keep = 1
            inside = 1
            print ""
            next
        }
        /^<!-- END LEVELS -->[ \t]*$/ { inside = 0; print ""; next }
        { print (!inside || keep) ? $0 : "" }'
}

rm -rf "$out/labs"
mkdir -p "$out/labs"
for dir in labs/*/; do
    dir=${dir%/}
    mkdir -p "$out/$dir"
    for file in "$dir"/*; do
        [ -f "$file" ] || continue
        case $file in *.o | *.d | *~ | *.orig) continue ;; esac
        case $file in
            *.md) only_at_level <"$file" >"$out/$file" ;;
            *) cp "$file" "$out/$file" ;;
        esac
    done
done
cp labs/models.txt "$out/labs/"
for solution in solutions/*/server.cpp; do
    model=$(basename "$(dirname "$solution")")
    [ -d "$out/labs/$model" ] || continue
    awk -v LEVEL="$level" -v STUB_PATH="labs/$model/server.cpp" -f tools/make-stub.awk \
        "$solution" >"$out/labs/$model/server.cpp"
done
for file in labs/common/*.cpp labs/common/*.hpp; do
    from=$(omitted_from "$file")
    if [ -n "$from" ] && [ "$level" -ge "$from" ]; then
        rm -f "$out/$file"
        continue
    fi
    awk -v LEVEL="$level" -v STUB_PATH="$file" -f tools/make-stub.awk "$file" >"$out/$file"
done
