# The handout's copy of a Markdown document: without the kit's own passages,
# those between <!-- BEGIN KIT ONLY --> and <!-- END KIT ONLY --> (whole lines
# when the markers stand on lines of their own, else the text between them).
# A line that held only such text stays, empty, so that every other line keeps
# its number (tools/check-handout-docs.sh names lines of the kit's document);
# empty lines at the end go.
#   awk -f tools/strip-kit-only.awk DOC.md > HANDOUT_DOC.md
BEGIN { open_ = "<!-- BEGIN KIT ONLY -->"; close_ = "<!-- END KIT ONLY -->" }
{
    line = $0; kept = ""; dropped = skipping
    while (line != "") {
        if (skipping) {
            at = index(line, close_)
            if (!at) break
            line = substr(line, at + length(close_)); skipping = 0; dropped = 1
        } else {
            at = index(line, open_)
            if (!at) { kept = kept line; break }
            kept = kept substr(line, 1, at - 1); line = substr(line, at + length(open_))
            skipping = 1; dropped = 1
        }
    }
    if (dropped && kept ~ /^[ \t]*$/) kept = ""
    if (kept == "") { empty++; next }
    for (; empty > 0; empty--) print ""
    print kept
}
END { if (skipping) { print FILENAME ": " open_ " without its " close_ > "/dev/stderr"; exit 1 } }
