#!/usr/bin/env bash
# Checks that the handout's documents quote only what the handout holds.
#   tools/check-handout-docs.sh TREE       (TREE: an unpacked or staged handout)
# make handout runs it on the staged tree. Each problem is one line on stderr,
# DOCUMENT:LINE: WHAT; the status is 1 if there is any.
#
# What is checked, in every .md file of TREE:
#   - paths: every word that starts with one of the kit's top directories
#     (labs/ docs/ tools/ checker/ build/ solutions/ tests/ slides/ .github/
#     .devcontainer/), in prose or code, and every relative link target (from the
#     document's own directory). A file or directory of TREE is fine. A component
#     in capitals (labs/MODEL/README.md, checker/rubrics/LAB.cpp) or with * or $
#     is a placeholder: some file must match it.
#     {a,b} stands for both a and b.
#   - build/ paths are outputs, not files of TREE: fine if the handout's
#     Makefile can make them (make -n PATH succeeds in TREE; build/X/... with
#     BUILD=build/X, as in make BUILD=build/tsan SANITIZE=thread build/tsan/checker),
#     or if they are a directory that holds one (build/labs/ holds
#     build/labs/blocking, build/tsan holds build/tsan/checker). A placeholder in
#     one stands for every lab: it is checked with each lab of TREE's labs/.
#   - commands, in code (`...` spans and code blocks), where make is the
#     command (first, or after ; & | ( or a "$ " prompt): every `make ARGS` must
#     be one the handout's Makefile accepts (make -n ARGS succeeds in TREE:
#     targets that need the kit's solutions/ stop with an error there), and every
#     tools/ script its recipe runs must be in TREE; every `checker SUB` (with or
#     without build/) must name a subcommand that checker/*.cpp declares.
# Passages between <!-- BEGIN KIT ONLY --> and <!-- END KIT ONLY --> are for
# the kit's own copy: make handout strips them before this check runs.
set -euo pipefail

tree=${1:?usage: tools/check-handout-docs.sh TREE}
cd "$tree"
# A make run from make handout passes its flags and variables (BUILD=...) down: not to these.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
export BUILD=build

subcommands=" $(cat checker/*.cpp | tr '\n' ' ' | grep -o 'add_subcommand( *"[a-z-]*"' | sed 's/.*"\(.*\)"/\1/' | tr '\n' ' ') "
labs=$(ls -d labs/*/ 2>/dev/null | sed 's|labs/||; s|/$||' | grep -vx common || true)

# One record per quoted thing: DOCUMENT<TAB>LINE<TAB>KIND<TAB>TEXT, KIND one of
# path, link, make, checker.
extract() {
    awk -v OFS='\t' '
    function emit(kind, text) { print FILENAME, FNR, kind, text }
    function paths(s,   rest, before, token) {
        rest = s
        while (match(rest, /(labs|docs|tools|checker|build|solutions|tests|slides|\.github|\.devcontainer)\/([A-Za-z0-9_.*$\/-]|\{[^}]*\})*/)) {
            before = RSTART > 1 ? substr(rest, RSTART - 1, 1) : ""
            token = substr(rest, RSTART, RLENGTH)
            if (before !~ /[A-Za-z0-9_.\/~$-]/) emit("path", token)
            rest = substr(rest, RSTART + RLENGTH)
        }
    }
    function links(s,   rest, target) {
        rest = s
        while (match(rest, /\]\([^) ]+\)/)) {
            target = substr(rest, RSTART + 2, RLENGTH - 3)
            rest = substr(rest, RSTART + RLENGTH)
            if (target !~ /^(https?:|mailto:|#)/) emit("link", target)
        }
        rest = s
        while (match(rest, /src="[^"]+"/)) {
            target = substr(rest, RSTART + 5, RLENGTH - 6)
            rest = substr(rest, RSTART + RLENGTH)
            if (target !~ /^https?:/) emit("link", target)
        }
    }
    function commands(code,   rest, args) {
        rest = code
        # make as a command: first in the code, or after ; & | ( or a $ prompt
        while (match(rest, /(^|[;&|(]|^\$) *make( [^;|&#)`]*)?($|[;|&#)`])/)) {
            args = substr(rest, RSTART, RLENGTH)
            rest = substr(rest, RSTART + RLENGTH)
            sub(/^[^m]*make/, "", args); sub(/[;|&#)`]$/, "", args)
            gsub(/^ +| +$/, "", args)
            emit("make", args)
        }
        rest = code
        while (match(rest, /(^|[^A-Za-z0-9_.\/-])(build\/)?checker [a-z][a-z-]*/)) {
            args = substr(rest, RSTART, RLENGTH)
            rest = substr(rest, RSTART + RLENGTH)
            sub(/^.*checker /, "", args)
            if (substr(rest, 1, 1) != "/") emit("checker", args)  # not a path: build/checker build/...
        }
    }
    FNR == 1 { fenced = 0; previous = "blank" }
    /^[ \t]*(```|~~~)/ { fenced = !fenced; previous = "code"; next }
    {
        paths($0); links($0)
        if (fenced || (/^(    |\t)/ && previous != "text")) {
            commands($0); previous = "code"; next
        }
        previous = /^[ \t]*$/ ? "blank" : "text"
        rest = $0
        while (match(rest, /`[^`]+`/)) {
            span = substr(rest, RSTART + 1, RLENGTH - 2)
            rest = substr(rest, RSTART + RLENGTH)
            commands(span)
        }
    }' "$@"
}

# A path of TREE, or a glob of one with its placeholders as *; {a,b} is each of a and b.
exists() {
    local path=$1 alternative
    if [[ $path =~ ^([^{]*)\{([^}]*)\}(.*)$ ]]; then
        local before=${BASH_REMATCH[1]} after=${BASH_REMATCH[3]}
        for alternative in ${BASH_REMATCH[2]//,/ }; do
            exists "$before$alternative$after" || return 1
        done
        return 0
    fi
    [ -e "$path" ] && return 0
    local glob
    glob=$(echo "$path" | sed -E 's#(^|/)[A-Z][A-Z0-9_]*(\.[a-z]+)?(/|$)#\1*\2\3#g; s#\$[A-Za-z_{}]+#*#g')
    [ "$glob" != "$path" ] || return 1
    compgen -G "$glob" >/dev/null
}

# A build/ output the handout's Makefile can make, or a directory that holds one.
makeable() {
    local path=${1%/}
    [ "$path" = build ] && return 0
    if [[ $path =~ (^|/)([A-Z][A-Z0-9_]*|\$[A-Za-z_{}]+)(/|$) ]]; then
        local lab
        for lab in $labs; do
            makeable "$(echo "$path" | sed -E "s#(^|/)([A-Z][A-Z0-9_]*|\\\$[A-Za-z_{}]+)(/|\$)#\\1$lab\\3#g")" || return 1
        done
        return 0
    fi
    local inside
    for inside in "" /checker $(printf '/labs/%s ' $labs); do
        make_rule "$path$inside" && return 0
    done
    return 1
}

# The kit builds into any BUILD (make BUILD=build/tsan SANITIZE=thread build/tsan/checker).
make_rule() {
    local build=build
    [[ $1 =~ ^build/([^/]+)/. ]] && [ "${BASH_REMATCH[1]}" != labs ] && build=build/${BASH_REMATCH[1]}
    make -n --no-print-directory BUILD="$build" "$1" >/dev/null 2>&1
}

# make ARGS: accepted by the handout's Makefile, and every tools/ script it runs is there.
make_ok() {
    local output script
    # shellcheck disable=SC2086 # the quoted command's own words
    local words=()
    mapfile -d '' words < <(printf '%s\n' "$1" | xargs -r printf '%s\0')
    output=$(make -n --no-print-directory "${words[@]}" 2>&1) || { echo "${output##*$'\n'}"; return 1; }
    for script in $(echo "$output" | grep -oE '(^|[^A-Za-z0-9_./-])tools/[A-Za-z0-9_.-]+' | grep -oE 'tools/.*' | sort -u); do
        [ -e "$script" ] || { echo "it runs $script, which is not in the handout"; return 1; }
    done
}

problems=0
problem() {
    echo "$1:$2: $3" >&2
    problems=$((problems + 1))
}

declare -A verdicts=()
mapfile -t documents < <(find . -name '*.md' -not -path './build/*' | sed 's|^\./||' | sort)
[ ${#documents[@]} -gt 0 ] || { echo "check-handout-docs: no .md file in $tree" >&2; exit 1; }
while IFS=$'\t' read -r document line kind text; do
    case $kind in
    path)
        text=${text%%#*}
        while [[ $text =~ [.,:\;]$ ]]; do text=${text%?}; done
        [ -n "$text" ] || continue
        if [[ $text == build/* ]]; then
            key="build $text"
            [ -n "${verdicts[$key]+x}" ] || { makeable "$text" && verdicts[$key]=ok || verdicts[$key]=bad; }
            [ "${verdicts[$key]}" = ok ] ||
                problem "$document" "$line" "$text: the handout's Makefile cannot make it"
        else
            exists "$text" || problem "$document" "$line" "$text: not in the handout"
        fi
        ;;
    link)
        target=${text%%#*}
        [ -n "$target" ] || continue
        resolved=$(dirname "$document")/$target
        [ -e "$resolved" ] || problem "$document" "$line" "link to $target: not in the handout"
        ;;
    make)
        key="make $text"
        if [ -z "${verdicts[$key]+x}" ]; then
            if why=$(make_ok "$text"); then verdicts[$key]=ok; else verdicts[$key]=$why; fi
        fi
        [ "${verdicts[$key]}" = ok ] ||
            problem "$document" "$line" "\`make${text:+ $text}\`: the handout cannot run it (${verdicts[$key]})"
        ;;
    checker)
        [[ $subcommands == *" $text "* ]] ||
            problem "$document" "$line" "\`checker $text\`: the checker has no subcommand $text"
        ;;
    esac
done < <(extract "${documents[@]}")

[ "$problems" -eq 0 ]
