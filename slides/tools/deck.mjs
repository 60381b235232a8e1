// The lecture deck's source conventions, shared by build.mjs, sync.mjs and
// check.mjs. The deck (slides/lecture.md) is plain Marp Markdown plus three
// kinds of marked block that the build fills in from the rest of the kit:
//
// Code excerpts, copied from the sources, never by hand:
//     <!-- excerpt solutions/blocking/server.cpp function:run -->
//     ```cpp ... ```                  (written by `make slides-sync`)
//     <!-- end excerpt -->
//   Selectors: `lab` (every BEGIN LAB ... END LAB region of the file),
//   `lab:N` (the Nth region), `function:NAME` (a function's definition),
//   `type:NAME` (a struct or class definition). LAB markers and their hints
//   are left out: the slide shows the solution's code.
//
// Checker tests, named in one place: the body says `[idle client][]`, and
// the reference definitions at the end of the deck say which test of which
// lab's rubric that is:
//     [idle client]: ../checker/rubrics/blocking.cpp "idle_client"
//
// The measured comparison, from `make compare`:
//     <!-- begin compare results --> ... <!-- end compare results -->
//   filled at build time from build/compare/ when it exists, else from the
//   copies committed under slides/plots/, else a slide that says how to
//   produce them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {timelineToSvg} from './timeline.mjs';

export const TOOLS = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_ROOT = path.resolve(TOOLS, '../..');
export const DECK = 'slides/lecture.md';
export const SLIDES = 'slides';

// ---------------------------------------------------------------- text helpers

// Lines of `text` with, for each, whether it lies inside a fenced code block
// (fence lines included) and whether it is part of a multi-line HTML comment,
// so that markers and links inside code or comments are ignored.
export function linesWithFences(text) {
    const lines = text.split('\n');
    let fence = null, comment = false;
    return lines.map((line) => {
        const match = /^\s*(`{3,}|~{3,})/.exec(line);
        if (comment) {
            if (line.includes('-->')) comment = false;
            return {line, code: false, comment: true};
        }
        if (fence === null && match) { fence = match[1]; return {line, code: true}; }
        if (fence !== null) {
            if (match && match[1][0] === fence[0] && match[1].length >= fence.length && line.trim() === match[1]) fence = null;
            return {line, code: true};
        }
        if (/^\s*<!--/.test(line) && !line.includes('-->')) { comment = true; return {line, code: false, comment: true}; }
        return {line, code: false, comment: false};
    });
}

const dedent = (lines) => {
    const indents = lines.filter((l) => l.trim()).map((l) => /^[ \t]*/.exec(l)[0].length);
    const cut = indents.length ? Math.min(...indents) : 0;
    return lines.map((l) => l.slice(cut).trimEnd());
};

const trimBlankEdges = (lines) => {
    let start = 0, end = lines.length;
    while (start < end && !lines[start].trim()) start++;
    while (end > start && !lines[end - 1].trim()) end--;
    return lines.slice(start, end);
};

// ---------------------------------------------------------------- excerpts

const EXCERPT_OPEN = /^<!-- excerpt (\S+) (\S+) -->\s*$/;
const EXCERPT_CLOSE = /^<!-- end excerpt -->\s*$/;

export function findExcerpts(text) {
    const excerpts = [];
    let open = null;
    linesWithFences(text).forEach(({line, code}, index) => {
        if (code) return;
        const start = EXCERPT_OPEN.exec(line);
        if (start) {
            if (open) throw new Error(`${DECK}:${open.line + 1}: excerpt not closed before line ${index + 1}`);
            open = {file: start[1], selector: start[2], line: index};
        } else if (EXCERPT_CLOSE.test(line)) {
            if (!open) throw new Error(`${DECK}:${index + 1}: "end excerpt" without an excerpt`);
            excerpts.push({...open, endLine: index});
            open = null;
        }
    });
    if (open) throw new Error(`${DECK}:${open.line + 1}: excerpt not closed`);
    const lines = text.split('\n');
    for (const excerpt of excerpts) excerpt.body = lines.slice(excerpt.line + 1, excerpt.endLine).join('\n');
    return excerpts;
}

// "// BEGIN LAB:" opens a region of level 1; "// BEGIN LAB 2:" and "// BEGIN
// LAB 3:" (the harder levels, tools/make-stub.awk) enclose regions of level 1.
const BEGIN_LAB = /^\s*\/\/ BEGIN LAB( [0-9])?:/;
const END_LAB = /^\s*\/\/ END LAB/;
const STUB = /^\s*\/\/ STUB:/;
const HINT = /^\s*\/\/ /;

// The solution's lines with the lab markers, hints and STUB lines left out
// (at every level); each kept line knows which level-1 LAB region (1, 2, ...)
// it belongs to, 0 outside.
function withoutLabMarkers(lines) {
    const kept = [];
    const open = [];  // the regions open, innermost last: a level-1 region's number, or 0
    let count = 0, inHint = false;
    for (const line of lines) {
        const begin = BEGIN_LAB.exec(line);
        if (begin) { open.push(begin[1] ? 0 : ++count); inHint = true; continue; }
        if (open.length && END_LAB.test(line)) { open.pop(); inHint = false; continue; }
        if (open.length && STUB.test(line)) { inHint = false; continue; }
        if (open.length && inHint && HINT.test(line)) continue;
        inHint = false;
        kept.push({line, region: open.filter((region) => region > 0).at(-1) ?? 0});
    }
    return kept;
}

// Index just past the brace that closes the one at `open` (C++ source, with
// strings, character literals and comments skipped).
function matchBrace(source, open) {
    let depth = 0;
    for (let i = open; i < source.length; i++) {
        const c = source[i];
        if (c === '/' && source[i + 1] === '/') { i = source.indexOf('\n', i); if (i < 0) return -1; continue; }
        if (c === '/' && source[i + 1] === '*') { i = source.indexOf('*/', i + 2); if (i < 0) return -1; i++; continue; }
        if (c === '"' || c === '\'') {
            if (c === '\'' && /[0-9a-fA-F]/.test(source[i - 1] ?? '') && /[0-9a-fA-F]/.test(source[i + 1] ?? '')) continue;  // digit separator
            for (i++; i < source.length && source[i] !== c; i++) if (source[i] === '\\') i++;
            continue;
        }
        if (c === '{' || c === '(' || c === '[') depth++;
        if (c === '}' || c === ')' || c === ']') { depth--; if (depth === 0) return i + 1; }
    }
    return -1;
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// The lines of the definition of function or type `name` in `source`.
function findDefinition(source, kind, name) {
    const head = kind === 'function'
        ? new RegExp(`^[ \\t]*(?!return\\b)[^\\n;{}()=]*?(?:^|[\\s*&:])${escapeRegExp(name)}[ \\t]*\\(`, 'gm')
        : new RegExp(`^[ \\t]*(?:template[^\\n]*\\n[ \\t]*)?(?:struct|class)[ \\t]+${escapeRegExp(name)}\\b[^;\\n]*$`, 'gm');
    let match;
    while ((match = head.exec(source)) !== null) {
        let at = match.index + match[0].length;
        if (kind === 'function') {
            const close = matchBrace(source, at - 1);          // the parameter list
            if (close < 0) continue;
            const rest = /^[\s\w:&<>,*\->]*?(?=[{;=])/.exec(source.slice(close));
            if (!rest || source[close + rest[0].length] !== '{') continue;   // a declaration or a call
            at = close + rest[0].length;
        } else {
            at = source.indexOf('{', match.index);
            if (at < 0) continue;
        }
        const end = matchBrace(source, at);
        if (end < 0) continue;
        const last = source.indexOf('\n', end);
        return source.slice(match.index, last < 0 ? source.length : last).split('\n');
    }
    return null;
}

// The code an excerpt shows: {status: 'ok', code}, {status: 'absent'} when
// the file is not in this tree (a lab still to come), or {status: 'missing',
// reason} when the file is there but the selected part is not.
export function extractExcerpt(root, file, selector) {
    const full = path.join(root, file);
    if (!fs.existsSync(full)) return {status: 'absent'};
    const source = fs.readFileSync(full, 'utf8');
    const colon = selector.indexOf(':');
    const kind = colon < 0 ? selector : selector.slice(0, colon);
    const argument = colon < 0 ? undefined : selector.slice(colon + 1);
    let lines;
    if (kind === 'lab') {
        const kept = withoutLabMarkers(source.split('\n'));
        const regions = [...new Set(kept.filter((k) => k.region).map((k) => k.region))];
        if (regions.length === 0) return {status: 'missing', reason: `${file} has no "// BEGIN LAB" region`};
        const wanted = argument === undefined ? regions : [Number(argument)];
        if (!regions.includes(wanted[0])) return {status: 'missing', reason: `${file} has ${regions.length} LAB region(s), not ${argument}`};
        lines = [];
        for (const region of wanted) {
            if (lines.length) lines.push('', '// ...', '');
            lines.push(...trimBlankEdges(dedent(kept.filter((k) => k.region === region).map((k) => k.line))));
        }
    } else if (kind === 'function' || kind === 'type') {
        if (!argument) return {status: 'missing', reason: `selector "${selector}" needs a name`};
        const definition = findDefinition(source, kind, argument);
        if (!definition) return {status: 'missing', reason: `${file} has no definition of ${kind} ${argument}`};
        lines = trimBlankEdges(dedent(withoutLabMarkers(definition).map((k) => k.line)));
    } else {
        return {status: 'missing', reason: `unknown selector "${selector}" (lab, lab:N, function:NAME, type:NAME)`};
    }
    return {status: 'ok', code: lines.join('\n')};
}

export const fenced = (code) => '```cpp\n' + code + '\n```';

export const absentNote = (file) =>
    `*The code comes from \`${file}\`, which is not in this tree yet: \`make slides-sync\` copies it here once it is.*`;

// What the committed deck should hold between an excerpt's markers.
export function committedExcerptBody(root, excerpt) {
    const result = extractExcerpt(root, excerpt.file, excerpt.selector);
    if (result.status === 'ok') return fenced(result.code);
    if (result.status === 'absent') return absentNote(excerpt.file);
    return null;
}

// ---------------------------------------------------------------- checker tests

const DEFINITION = /^\[([^\]]+)\]:\s*(\S+)\s+"([^"]*)"\s*$/;
const RUBRIC_URL = /(?:^|\/)checker\/rubrics\/([\w-]+)\.cpp$/;
const REFERENCE = /\[([^\]\n]+)\]\[\]/g;

export function findTestDefinitions(text) {
    const definitions = new Map();
    linesWithFences(text).forEach(({line, code}, index) => {
        const match = !code && DEFINITION.exec(line);
        if (!match) return;
        const lab = RUBRIC_URL.exec(match[2]);
        if (!lab) return;
        definitions.set(match[1].toLowerCase(), {label: match[1], url: match[2], lab: lab[1], name: match[3], line: index + 1});
    });
    return definitions;
}

export function findTestReferences(text) {
    const references = [];
    linesWithFences(text).forEach(({line, code, comment}, index) => {
        if (code || comment) return;
        const outsideInlineCode = line.replace(/`[^`]*`/g, (m) => ' '.repeat(m.length));
        for (const match of outsideInlineCode.matchAll(REFERENCE)) references.push({label: match[1], line: index + 1});
    });
    return references;
}

// 'ok' when LAB's rubric has the test, 'planned' when the lab is not in this
// tree yet, 'unknown' when the rubric is there and lacks it.
export function testStatus(root, definition) {
    const rubric = path.join(root, 'checker/rubrics', `${definition.lab}.cpp`);
    if (!fs.existsSync(rubric)) return 'planned';
    const table = fs.readFileSync(rubric, 'utf8');
    return new RegExp(`\\{\\s*${escapeRegExp(definition.name)}\\s*,`).test(table) ? 'ok' : 'unknown';
}

function renderTestReferences(root, text, problems) {
    const definitions = findTestDefinitions(text);
    return linesWithFences(text).map(({line, code, comment}, index) => {
        if (code || comment) return line;
        return line.replace(/(`[^`]*`)|\[([^\]\n]+)\]\[\]/g, (whole, inline, label) => {
            if (inline) return inline;
            const definition = definitions.get(label.toLowerCase());
            if (!definition) {
                problems.push(`${DECK}:${index + 1}: [${label}][] names no checker test (add it to the test list at the end of the deck)`);
                return `**${label}**`;
            }
            switch (testStatus(root, definition)) {
            case 'ok':
                return definition.name.replace(/_/g, ' ') === label.toLowerCase()
                    ? `**\`${definition.name}\`**` : `**${label}** \`${definition.name}\``;
            case 'planned': return `**${label}**`;   // its lab is still to come: no name to show yet
            default:
                problems.push(`${DECK}:${definition.line}: test "${definition.name}" is not in checker/rubrics/${definition.lab}.cpp: fix its name in the deck's test list`);
                return `**${label}**`;
            }
        });
    }).join('\n');
}

// ---------------------------------------------------------------- images

const IMAGE = /!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
const HTML_IMAGE = /<img\b[^>]*\bsrc="([^"]+)"/g;

export function findImages(text) {
    const images = [];
    linesWithFences(text).forEach(({line, code}, index) => {
        if (code) return;
        for (const match of line.matchAll(IMAGE)) images.push({path: match[2], line: index + 1});
        for (const match of line.matchAll(HTML_IMAGE)) images.push({path: match[1], line: index + 1});
    });
    return images.filter((image) => !/^(?:[a-z]+:|#|\/\/)/i.test(image.path));
}

// ---------------------------------------------------------------- diagrams

export function diagramSources(root) {
    const dir = path.join(root, SLIDES, 'diagrams');
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir).filter((f) => f.endsWith('.tl')).sort().map((f) => {
        const name = f.slice(0, -3);
        return {name, source: path.join(dir, f), svg: path.join(dir, `${name}.svg`)};
    });
}

export const renderDiagram = (diagram) => timelineToSvg(fs.readFileSync(diagram.source, 'utf8'), `slides/diagrams/${diagram.name}.tl`);

// ---------------------------------------------------------------- measured comparison

export const COMPARE_OPEN = '<!-- begin compare results -->';
export const COMPARE_CLOSE = '<!-- end compare results -->';
export const PLOTS = 'slides/plots';
export const MEASURED = 'MEASURED.md';

export function describeMachine() {
    let cpu = os.cpus()[0]?.model?.replace(/\s+/g, ' ').trim() || os.arch();
    const cores = os.cpus().length;
    const memory = Math.round(os.totalmem() / 2 ** 30);
    return `${cpu}, ${cores} cores, ${memory} GiB, Linux ${os.release()}`;
}

// The plots and tables to show, and where they come from: the newest
// measurement in build/compare/, else the committed copies in slides/plots/.
export function compareResults(root, buildDir) {
    const candidates = [
        {kind: 'measured', dir: path.join(buildDir, 'compare')},
        {kind: 'committed', dir: path.join(root, PLOTS)},
    ];
    for (const candidate of candidates) {
        if (!fs.existsSync(candidate.dir)) continue;
        const files = fs.readdirSync(candidate.dir).sort();
        const stems = new Map();
        for (const f of files) {
            const match = /^(.*)\.(svg|png)$/.exec(f);
            if (match && (!stems.has(match[1]) || match[2] === 'svg')) stems.set(match[1], f);
        }
        // report.md is the whole report, to read; the slides show the tables
        // written for them (throughput.md).
        const notSlides = new Set([MEASURED, 'report.md']);
        const tables = files.filter((f) => f.endsWith('.md') && !notSlides.has(f) && f.toLowerCase() !== 'readme.md');
        if (stems.size === 0 && tables.length === 0) continue;
        let provenance;
        if (candidate.kind === 'measured') {
            const newest = Math.max(...files.map((f) => fs.statSync(path.join(candidate.dir, f)).mtimeMs));
            provenance = `Measured by \`make compare\` on ${describeMachine()}, ${new Date(newest).toISOString().slice(0, 10)}.`;
        } else {
            const measured = path.join(candidate.dir, MEASURED);
            provenance = fs.existsSync(measured)
                ? fs.readFileSync(measured, 'utf8').trim()
                : `Copied from \`make compare\` into ${PLOTS}/ (machine and date not recorded: ${PLOTS}/${MEASURED} is missing).`;
        }
        return {...candidate, images: [...stems.values()], tables, provenance};
    }
    return {kind: 'none', images: [], tables: []};
}

const humanize = (stem) => stem.replace(/[-_]+/g, ' ').replace(/^./, (c) => c.toUpperCase());

// Markdown slides for the results; images are referenced as `${prefix}/FILE`.
export function compareMarkdown(results, prefix) {
    if (results.kind === 'none') {
        return [
            '## Measured: not yet on this machine',
            '',
            'No measurements are in this build. `make compare` runs every model under the same loads',
            '(idle clients, many clients, `--delay-us` work) and writes plots and a table to `build/compare/`;',
            'run it, then `make slides`, and they appear here.',
            '',
            '*Until then: what do you expect each plot to show, from the timelines in this lecture?*',
        ].join('\n');
    }
    const slides = [];
    for (const table of results.tables) {
        const text = fs.readFileSync(path.join(results.dir, table), 'utf8').trim();
        const hasHeading = /^#{1,3} /m.test(text);
        slides.push(`<!-- _class: table -->\n\n${hasHeading ? '' : `## Measured: ${humanize(table.replace(/\.md$/, ''))}\n\n`}${text.replace(/^# /m, '## ')}\n\n<div class="provenance">\n\n${results.provenance}\n\n</div>`);
    }
    for (const image of results.images) {
        const stem = image.replace(/\.(svg|png)$/, '');
        slides.push(`<!-- _class: plot -->\n\n## Measured: ${humanize(stem)}\n\n![${humanize(stem)}](${prefix}/${image})\n\n<div class="provenance">\n\n${results.provenance}\n\n</div>`);
    }
    return slides.join('\n\n---\n\n');
}

export function findCompareBlock(text) {
    const lines = text.split('\n');
    const open = lines.findIndex((l) => l.trim() === COMPARE_OPEN);
    const close = lines.findIndex((l) => l.trim() === COMPARE_CLOSE);
    if (open < 0 && close < 0) return null;
    if (open < 0 || close < open) throw new Error(`${DECK}: "${COMPARE_OPEN}" and "${COMPARE_CLOSE}" must come in that order`);
    return {open, close};
}

export function replaceCompareBlock(text, body) {
    const block = findCompareBlock(text);
    if (!block) return text;
    const lines = text.split('\n');
    return [...lines.slice(0, block.open + 1), body, ...lines.slice(block.close)].join('\n');
}

// ---------------------------------------------------------------- the build's Markdown

// The deck as Marp renders it: excerpts fresh from the sources (wrapped so
// that the check can find them in the page), test names resolved, marker
// comments gone (Marp would show them as presenter notes), the comparison
// filled in. `problems` collects what the check must report.
export function renderMarkdown(root, buildDir, text, problems) {
    const excerpts = findExcerpts(text);
    const lines = text.split('\n');
    for (const excerpt of [...excerpts].reverse()) {
        const result = extractExcerpt(root, excerpt.file, excerpt.selector);
        let body;
        if (result.status === 'ok') {
            body = [`<div class="excerpt" data-excerpt="${excerpt.file} ${excerpt.selector}">`, '', fenced(result.code), '', '</div>'];
        } else if (result.status === 'absent') {
            body = [`<div class="excerpt-absent">`, '', absentNote(excerpt.file), '', '</div>'];
        } else {
            problems.push(`${DECK}:${excerpt.line + 1}: excerpt ${excerpt.file} ${excerpt.selector}: ${result.reason}`);
            body = [`<div class="excerpt-missing">`, '', `**Excerpt not found:** ${result.reason}.`, '', '</div>'];
        }
        lines.splice(excerpt.line, excerpt.endLine - excerpt.line + 1, ...body);
    }
    let markdown = renderTestReferences(root, lines.join('\n'), problems);
    const results = compareResults(root, buildDir);
    markdown = replaceCompareBlock(markdown, compareMarkdown(results, results.kind === 'measured' ? 'compare' : 'plots'));
    // Multi-line comments are notes for the deck's editors, not presenter notes.
    markdown = linesWithFences(markdown).filter(({line, comment}) => !comment && line.trim() !== COMPARE_OPEN && line.trim() !== COMPARE_CLOSE)
        .map(({line}) => line).join('\n');
    return {markdown, compare: results};
}
