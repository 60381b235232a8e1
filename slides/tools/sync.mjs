// make slides-sync: brings the committed deck up to date with the kit, so
// that it reads right as plain Markdown too (the build always uses fresh
// copies; `make slides-check` fails while the committed ones are stale).
//   - each code excerpt in slides/lecture.md, from its source file;
//   - each slides/diagrams/NAME.svg, from NAME.tl.
//
// make slides-plots (--plots DIR): copies the plots and tables that
// `make compare` wrote to DIR (build/compare) into slides/plots/, records
// the machine and the date in slides/plots/MEASURED.md, and points the
// deck's comparison slides at those copies.
//
//   node slides/tools/sync.mjs [--root DIR] [--plots DIR]
import fs from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

import {
    DECK, DEFAULT_ROOT, MEASURED, PLOTS, committedExcerptBody, compareMarkdown, compareResults, describeMachine,
    diagramSources, findExcerpts, renderDiagram, replaceCompareBlock,
} from './deck.mjs';

export function syncExcerpts(root) {
    const deckPath = path.join(root, DECK);
    const text = fs.readFileSync(deckPath, 'utf8');
    const lines = text.split('\n');
    const changed = [], problems = [];
    for (const excerpt of findExcerpts(text).reverse()) {
        const body = committedExcerptBody(root, excerpt);
        if (body === null) { problems.push(`${DECK}:${excerpt.line + 1}: ${excerpt.file} ${excerpt.selector} not found; left as it was`); continue; }
        if (body === excerpt.body) continue;
        lines.splice(excerpt.line + 1, excerpt.endLine - excerpt.line - 1, body);
        changed.push(`${DECK}: excerpt ${excerpt.file} ${excerpt.selector}`);
    }
    if (changed.length) fs.writeFileSync(deckPath, lines.join('\n'));
    return {changed: changed.reverse(), problems};
}

export function syncDiagrams(root) {
    const changed = [];
    for (const diagram of diagramSources(root)) {
        const svg = renderDiagram(diagram);
        if (fs.existsSync(diagram.svg) && fs.readFileSync(diagram.svg, 'utf8') === svg) continue;
        fs.writeFileSync(diagram.svg, svg);
        changed.push(path.relative(root, diagram.svg));
    }
    return changed;
}

export function syncPlots(root, from) {
    const results = compareResults(root, path.dirname(from));
    if (results.kind !== 'measured' || path.resolve(results.dir) !== path.resolve(from))
        throw new Error(`${path.relative(root, from) || from} holds no plots or tables: run make compare first`);
    const plots = path.join(root, PLOTS);
    fs.rmSync(plots, {recursive: true, force: true});
    fs.mkdirSync(plots, {recursive: true});
    for (const file of [...results.images, ...results.tables]) fs.copyFileSync(path.join(from, file), path.join(plots, file));
    const newest = Math.max(...[...results.images, ...results.tables].map((f) => fs.statSync(path.join(from, f)).mtimeMs));
    fs.writeFileSync(path.join(plots, MEASURED),
        `Measured by \`make compare\` on ${describeMachine()}, ${new Date(newest).toISOString().slice(0, 10)}.\n`);
    const committed = compareResults(root, path.join(root, 'no-build-dir'));
    const deckPath = path.join(root, DECK);
    fs.writeFileSync(deckPath, replaceCompareBlock(fs.readFileSync(deckPath, 'utf8'), compareMarkdown(committed, 'plots')));
    return [...results.images, ...results.tables, MEASURED].map((f) => `${PLOTS}/${f}`).concat(DECK);
}

function main(argv) {
    let root = DEFAULT_ROOT, plots = null;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--root') root = path.resolve(argv[++i]);
        else if (argv[i] === '--plots') plots = path.resolve(argv[++i]);
        else throw new Error(`unknown argument "${argv[i]}" (--root DIR, --plots DIR)`);
    }
    if (plots) {
        for (const file of syncPlots(root, plots)) console.log(`slides-plots: wrote ${file}`);
        return;
    }
    const excerpts = syncExcerpts(root);
    const diagrams = syncDiagrams(root);
    for (const file of [...excerpts.changed, ...diagrams]) console.log(`slides-sync: updated ${file}`);
    for (const problem of excerpts.problems) console.error(`slides-sync: ${problem}`);
    if (!excerpts.changed.length && !diagrams.length) console.log('slides-sync: the deck is up to date');
    if (excerpts.problems.length) process.exit(1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    try {
        main(process.argv.slice(2));
    } catch (error) {
        console.error(`slides-sync: ${error.message}`);
        process.exit(1);
    }
}
