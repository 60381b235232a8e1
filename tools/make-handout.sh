#!/usr/bin/env bash
# make handout: the students' copy of the kit, OUT/iolab-handout.tar.gz.
#   tools/make-handout.sh OUT [LEVEL]
# LEVEL (1, 2 or 3; default 1) is how much of each model the students write
# (docs/instructors.md, "Levels"): tools/make-level.sh makes the labs.
# It holds the lab stubs and their scaffolding (labs/), the checker, the tools
# make uses, the docs, the Makefile, the README and the GitHub Classroom
# workflow; never solutions/ nor any line from inside a solution's LAB
# regions. The lecture (slides/) shows the solutions' code, so it stays out:
# hand out the rendered deck once the labs are due; so does docs/compare.md,
# whose make compare runs the solutions. The documents lose their KIT ONLY
# passages, and must then quote only what the handout holds
# (tools/check-handout-docs.sh). It refuses to build from stale stubs (run make stubs).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/handout}
level=${2:-1}
name=iolab-handout
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tree=$stage/$name

# 1. The committed stubs must be what the solutions generate now.
for solution in solutions/*/server.cpp; do
    model=$(basename "$(dirname "$solution")")
    stub=labs/$model/server.cpp
    if ! awk -v STUB_PATH="$stub" -f tools/make-stub.awk "$solution" | cmp -s - "$stub"; then
        echo "make handout: $stub is not what $solution generates: run make stubs, review, commit" >&2
        exit 1
    fi
done

# 2. What students get.
mkdir -p "$tree/tools" "$tree/.github/workflows"
cp Makefile .gitignore "$tree/"
for extra in README.md LICENSE LICENSE.md COPYING; do [ ! -f "$extra" ] || cp "$extra" "$tree/"; done
tools/make-level.sh "$level" "$tree"
cp -r checker .devcontainer "$tree/"
cp tools/grade.sh tools/models.sh tools/ensure-deps.sh tools/classroom-grade.sh "$tree/tools/"
cp tools/classroom/classroom.yml "$tree/.github/workflows/classroom.yml"
if [ -d docs ]; then
    cp -r docs "$tree/"
    rm -f "$tree/docs/instructors.md" "$tree/docs/compare.md"
fi
find "$tree" \( -name '*.o' -o -name '*.d' -o -name '*.orig' -o -name '*~' \) -delete
# The documents without the kit's own passages (<!-- BEGIN KIT ONLY -->).
find "$tree" -name '*.md' | while read -r doc; do
    awk -f tools/strip-kit-only.awk "$doc" >"$doc.new" || exit 1
    mv "$doc.new" "$doc"
done

# 3. No solution code: no marker, and no line from inside a LAB region (other
# than lines the kit ships anyway, like a closing brace or scaffolding code).
if grep -rlE --include='*.cpp' --include='*.hpp' '^[[:space:]]*// (BEGIN|END) LAB' "$tree" >"$stage/markers"; then
    echo "make handout: LAB markers left in: $(tr '\n' ' ' <"$stage/markers")" >&2
    exit 1
fi
# Lines inside the regions the students write at this level (solutions and
# labs/common), and lines outside them.
regions() {
    awk -v LEVEL="$level" -v WANT="$1" '
        /^[ \t]*\/\/ BEGIN LAB( [0-9])?:/ {
            depth++
            mine = match($0, /LAB [0-9]:/) ? substr($0, RSTART + 4, 1) + 0 : 1
            if (!open && mine <= LEVEL) open = depth
            next
        }
        /^[ \t]*\/\/ END LAB/ { if (open == depth) open = 0; depth--; next }
        # what a STUB line writes is given code (an empty run(), say)
        /^[ \t]*\/\/ STUB:/ {
            if (WANT == "outside") { line = $0; sub(/^[ \t]*\/\/ STUB:[ \t]*/, "", line); print line }
            next
        }
        { line = $0; gsub(/^[ \t]+|[ \t]+$/, "", line) }
        WANT == "inside" && open && length(line) >= 12 && line !~ /^\/\// { print line }
        WANT == "outside" && !open {
            print line
            # the same code without its trailing comment is given code too
            sub(/[ \t]*\/\/.*$/, "", line); print line
        }' solutions/*/server.cpp labs/common/*.cpp labs/common/*.hpp
}
regions inside | sort -u >"$stage/inside"
regions outside >"$stage/outside"
{ cat "$tree"/labs/common/*; find checker -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.c' \) -exec cat {} +; } | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' >>"$stage/outside"
sort -u "$stage/outside" -o "$stage/outside"
comm -23 "$stage/inside" "$stage/outside" >"$stage/secret"
# A handed-out line that is itself given code is no leak, even when it contains
# a secret line ("std::size_t requests = 0;" holds "std::size_t requests =").
given_lines_out() {
    awk 'NR == FNR { given[$0]; next }
         { line = $0; sub(/^[^:]*:[0-9]+:/, "", line); gsub(/^[ \t]+|[ \t]+$/, "", line)
           if (!(line in given)) print }' "$stage/outside" -
}
if [ -s "$stage/secret" ] && grep -rnFf "$stage/secret" "$tree" | given_lines_out >"$stage/leaks" &&
    [ -s "$stage/leaks" ]; then
    echo "make handout: solution code would be handed out:" >&2
    head -n 5 "$stage/leaks" >&2
    exit 1
fi

tools/check-handout-docs.sh "$tree"
mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz (level $level): $(find "$tree" -type f | wc -l) files, labs: $(cd "$tree/labs" && ls -d */ | tr -d / | grep -vx common | tr '\n' ' ')"
