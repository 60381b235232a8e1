# Generates a lab stub from its reference solution.
#
#   awk -v STUB_PATH=labs/MODEL/server.cpp -f tools/make-stub.awk solutions/MODEL/server.cpp > labs/MODEL/server.cpp
#
# In a solution, a region between "// BEGIN LAB: hint..." and "// END LAB" is
# the student's work. The hint runs on over the comment lines that follow the
# BEGIN line. In the stub the region becomes the hint as a TODO comment and a
# statement that reports, at run time, which part is still missing:
#     throw NotImplemented("...");
# or, when the region holds a line "// STUB: code", that code instead.
BEGIN { in_lab = 0; n = 0; out = 0 }
function emit(line) { print line; out++ }
function flush_region(   i) {
    todo_line = out + 1
    for (i = 1; i <= n; i++) emit(indent (i == 1 ? "// TODO: " : "//       ") hint[i])
    if (stub != "") emit(indent stub)
    else emit(indent "throw NotImplemented(\"" STUB_PATH ":" todo_line ": see the TODO there\");")
}
/^[ \t]*\/\/ BEGIN LAB:/ {
    in_lab = 1; in_hint = 1; n = 0; stub = ""
    match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
    text = $0; sub(/^[ \t]*\/\/ BEGIN LAB:[ \t]*/, "", text); hint[++n] = text
    next
}
/^[ \t]*\/\/ END LAB/ { if (in_lab) { flush_region(); in_lab = 0; next } }
in_lab {
    if ($0 ~ /^[ \t]*\/\/ STUB:/) { s = $0; sub(/^[ \t]*\/\/ STUB:[ \t]*/, "", s); stub = s; in_hint = 0; next }
    if (in_hint && $0 ~ /^[ \t]*\/\/ /) { t = $0; sub(/^[ \t]*\/\/ /, "", t); hint[++n] = t; next }
    in_hint = 0
    next
}
{ emit($0) }
