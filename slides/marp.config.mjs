// Marp CLI's settings for the lecture (used by slides/tools/build.mjs).
export default {
    html: true,                 // the build wraps excerpts in <div>s; the deck uses a few for layout
    allowLocalFiles: true,      // images are local files, in the PDF too
    themeSet: ['./theme'],
    options: {
        // Source lines are wrapped for reading and diffs; a line break in a
        // paragraph is a space, as in plain Markdown.
        markdown: {breaks: false},
    },
};
