#!/usr/bin/env bash
# make handout: the students' copy of the kit, OUT/iolab-handout.tar.gz.
#   tools/make-handout.sh OUT
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
cp -r labs checker .devcontainer "$tree/"
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
awk '/^[ \t]*\/\/ BEGIN LAB:/ { inside = 1; next } /^[ \t]*\/\/ END LAB/ { inside = 0; next }
     { line = $0; gsub(/^[ \t]+|[ \t]+$/, "", line) }
     inside && length(line) >= 12 && line !~ /^\/\// { print line }' solutions/*/server.cpp | sort -u >"$stage/inside"
awk '/^[ \t]*\/\/ BEGIN LAB:/ { inside = 1; next } /^[ \t]*\/\/ END LAB/ { inside = 0; next }
     !inside { line = $0; gsub(/^[ \t]+|[ \t]+$/, "", line); print line
               # the same code without its trailing comment is given code too
               sub(/[ \t]*\/\/.*$/, "", line); print line }' solutions/*/server.cpp >"$stage/outside"
cat labs/common/* checker/*.cpp checker/*.hpp | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' >>"$stage/outside"
sort -u "$stage/outside" -o "$stage/outside"
comm -23 "$stage/inside" "$stage/outside" >"$stage/secret"
if [ -s "$stage/secret" ] && grep -rnFf "$stage/secret" "$tree" >"$stage/leaks"; then
    echo "make handout: solution code would be handed out:" >&2
    head -n 5 "$stage/leaks" >&2
    exit 1
fi

tools/check-handout-docs.sh "$tree"
mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz: $(find "$tree" -type f | wc -l) files, labs: $(cd "$tree/labs" && ls -d */ | tr -d / | grep -vx common | tr '\n' ' ')"
