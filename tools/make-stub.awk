# Generates a lab stub from its reference solution, at a level of difficulty.
#
#   awk -v STUB_PATH=labs/MODEL/server.cpp [-v LEVEL=1|2|3] -f tools/make-stub.awk \
#       solutions/MODEL/server.cpp > labs/MODEL/server.cpp
#
# A region between "// BEGIN LAB: hint..." and "// END LAB" is the student's
# work at every level. Regions marked with a level, "// BEGIN LAB 2: hint..."
# to "// END LAB 2" (and 3), are the student's work from that level on: they
# enclose the level-1 regions of the same code, so that a higher level leaves
# more of the model to the student. The hint runs on over the comment lines
# that follow the BEGIN line, and belongs to the marker: where a region only
# loses its markers, its hint goes too.
#
# At level L (default 1), the outermost region whose level is L or less becomes
# its hint as a TODO comment and a statement that reports, at run time, which
# part is still missing:
#     throw NotImplemented("...");
# or, when the region holds lines "// STUB: code", that code instead (one line
# each, in order, with "$THROW" standing for the throw above; an empty STUB
# line stands for nothing). Regions above level L vanish, markers and STUB
# lines only: their code stays.
#
# A file that holds a line "// OMIT FROM LEVEL N" is not given at level N and
# above (tools/make-level.sh leaves it out); the line itself is dropped.
BEGIN {
    if (LEVEL == "") LEVEL = 1
    depth = 0       # regions open
    stubbing = 0    # the depth of the region being replaced, 0 when none
    out = 0
}
function emit(line) { print line; out++ }
function region_level(line,   m) {
    if (match(line, /\/\/ (BEGIN|END) LAB [0-9]/)) return substr(line, RSTART + RLENGTH - 1, 1) + 0
    return 1
}
function flush_region(   i, todo_line, throw_text, s) {
    todo_line = out + 1
    for (i = 1; i <= n; i++) emit(indent (i == 1 ? "// TODO: " : "//       ") hint[i])
    throw_text = "throw NotImplemented(\"" STUB_PATH ":" todo_line ": see the TODO there\");"
    if (stubs == 0) { emit(indent throw_text); return }
    for (i = 1; i <= stubs; i++) {
        if (stub[i] == "") continue
        s = stub[i]
        gsub(/\$THROW/, throw_text, s)
        emit(indent s)
    }
}
/^[ \t]*\/\/ OMIT FROM LEVEL [0-9]/ { next }
/^[ \t]*\/\/ BEGIN LAB( [0-9])?:/ {
    depth++
    if (stubbing) { in_hint = 0; next }
    if (region_level($0) > LEVEL) { dropping_hint = 1; next }  # this level keeps the code
    stubbing = depth; in_hint = 1; n = 0; stubs = 0; dropping_hint = 0
    match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
    text = $0; sub(/^[ \t]*\/\/ BEGIN LAB( [0-9])?:[ \t]*/, "", text); hint[++n] = text
    next
}
/^[ \t]*\/\/ END LAB( [0-9])?[ \t]*$/ {
    dropping_hint = 0
    if (depth == 0) next
    if (stubbing == depth) { flush_region(); stubbing = 0 }
    depth--
    next
}
/^[ \t]*\/\/ STUB:/ {
    dropping_hint = 0
    # A STUB line belongs to the innermost region: only the one being replaced uses it.
    if (stubbing == depth && stubbing > 0) {
        s = $0; sub(/^[ \t]*\/\/ STUB:( |$)/, "", s); stub[++stubs] = s; in_hint = 0
    }
    next
}
dropping_hint {
    if ($0 ~ /^[ \t]*\/\/ /) next
    dropping_hint = 0
}
stubbing {
    if (stubbing == depth && in_hint && $0 ~ /^[ \t]*\/\/ /) {
        t = $0; sub(/^[ \t]*\/\/ /, "", t); hint[++n] = t; next
    }
    in_hint = 0
    next
}
{ emit($0) }
