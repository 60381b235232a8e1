// make slides: renders slides/lecture.md to BUILD/slides/lecture.html (and
// lecture.pdf when Chromium is there) with Marp CLI.
//
//   node slides/tools/build.mjs [--root DIR] [--build DIR] [--pdf auto|no]
//
// The Markdown that Marp renders is made first (BUILD/slides/lecture.md):
// code excerpts taken fresh from the sources, timelines drawn from their
// .tl files, checker test names resolved, the measured comparison filled in
// (see deck.mjs). Images are copied next to it, so BUILD/slides/ is a
// self-contained deck.
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

import {DECK, DEFAULT_ROOT, SLIDES, TOOLS, diagramSources, findImages, renderDiagram, renderMarkdown} from './deck.mjs';

export const MARP = path.join(TOOLS, '../node_modules/@marp-team/marp-cli/marp-cli.js');
export const CHROMIUM_WRAPPER = path.join(TOOLS, 'chromium');
export const chromiumBinary = () => process.env.IOLAB_CHROMIUM || '/usr/bin/chromium';
export const chromiumAvailable = () => fs.existsSync(chromiumBinary());

// Marp starts Chromium with a profile directory of its own in the temporary
// directory and leaves it there: it gets a temporary directory of ours, which
// goes when Marp is done.
function runMarp(args, quiet) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'iolab-marp-'));
    let result;
    try {
        result = spawnSync(process.execPath, [MARP, ...args], {
            env: {...process.env, CHROME_PATH: CHROMIUM_WRAPPER, TMPDIR: scratch},
            encoding: 'utf8',
            timeout: 180_000,
        });
    } finally {
        fs.rmSync(scratch, {recursive: true, force: true});
    }
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    if (!quiet || result.status !== 0) process.stderr.write(output);
    if (result.status !== 0) throw new Error(`Marp CLI failed (${result.error?.message ?? `exit ${result.status}`}): marp ${args.join(' ')}`);
    return output;
}

// Copies each image the deck shows next to the rendered deck. Returns the
// problems: an image that is not there stays referenced, so that the browser
// check sees it fail to load, but the build says so too.
function copyImages(root, buildDir, out, markdown, generated) {
    const problems = [];
    for (const image of findImages(markdown)) {
        const relative = path.normalize(image.path);
        if (relative.startsWith('..') || path.isAbsolute(relative)) {
            problems.push(`image ${image.path}: the deck's images live under slides/ (or come from build/compare/)`);
            continue;
        }
        const target = path.join(out, relative);
        if (generated.has(relative)) continue;
        const from = relative.startsWith(`compare${path.sep}`)
            ? path.join(buildDir, relative)
            : path.join(root, SLIDES, relative);
        if (!fs.existsSync(from)) {
            problems.push(`image ${image.path} is missing: ${path.relative(root, from)} does not exist`);
            continue;
        }
        fs.mkdirSync(path.dirname(target), {recursive: true});
        fs.copyFileSync(from, target);
    }
    return problems;
}

export function build({root = DEFAULT_ROOT, buildDir = path.join(root, 'build'), pdf = 'auto', html = true, bare = true, quiet = false} = {}) {
    if (!fs.existsSync(MARP)) throw new Error('Marp CLI is not installed: run `make slides` (it runs npm ci in slides/)');
    const out = path.join(buildDir, 'slides');
    fs.rmSync(out, {recursive: true, force: true});
    fs.mkdirSync(out, {recursive: true});
    const problems = [];

    // Timelines, drawn from their sources.
    const generated = new Set();
    for (const diagram of diagramSources(root)) {
        const relative = path.join('diagrams', `${diagram.name}.svg`);
        fs.mkdirSync(path.join(out, 'diagrams'), {recursive: true});
        fs.writeFileSync(path.join(out, relative), renderDiagram(diagram));
        generated.add(relative);
    }

    const source = fs.readFileSync(path.join(root, DECK), 'utf8');
    const {markdown, compare} = renderMarkdown(root, buildDir, source, problems);
    problems.push(...copyImages(root, buildDir, out, markdown, generated));
    const markdownPath = path.join(out, 'lecture.md');
    fs.writeFileSync(markdownPath, markdown);

    const common = ['--config-file', path.join(root, SLIDES, 'marp.config.mjs')];
    let htmlPath = null;
    if (html) {
        htmlPath = path.join(out, 'lecture.html');
        runMarp([...common, markdownPath, '-o', htmlPath], quiet);
    }
    let barePath = null;
    if (bare) {
        // Every slide stacked at its full size, without the presenter's
        // script: what the check inspects in the browser.
        barePath = path.join(out, 'lecture.bare.html');
        runMarp([...common, '--template', 'bare', markdownPath, '-o', barePath], quiet);
    }
    let pdfPath = null;
    if (pdf !== 'no' && chromiumAvailable()) {
        pdfPath = path.join(out, 'lecture.pdf');
        runMarp([...common, '--pdf', markdownPath, '-o', pdfPath], quiet);
    }
    return {out, html: htmlPath, bare: barePath, pdf: pdfPath, markdown: markdownPath, problems, compare};
}

function parseArguments(argv) {
    const options = {};
    for (let i = 0; i < argv.length; i++) {
        const [flag, value] = [argv[i], argv[i + 1]];
        if (flag === '--root') { options.root = path.resolve(value); i++; }
        else if (flag === '--build') { options.buildDir = path.resolve(value); i++; }
        else if (flag === '--pdf') { options.pdf = value; i++; }
        else throw new Error(`build.mjs: unknown argument "${flag}" (--root DIR, --build DIR, --pdf auto|no)`);
    }
    return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    try {
        const options = parseArguments(process.argv.slice(2));
        const result = build({...options, bare: false, quiet: true});
        const rel = (p) => path.relative(process.cwd(), p);
        console.log(`slides: ${rel(result.html)}`);
        if (result.pdf) console.log(`slides: ${rel(result.pdf)}`);
        else if (options.pdf !== 'no') console.log(`slides: no PDF (${chromiumBinary()} is missing; as root, make slides installs Debian's chromium)`);
        const sources = {measured: 'build/compare/ (make compare)', committed: 'slides/plots/', none: 'none yet (run make compare)'};
        console.log(`slides: measured comparison from ${sources[result.compare.kind]}`);
        for (const problem of result.problems) console.error(`slides: warning: ${problem}`);
        if (result.problems.length) console.error('slides: the deck has problems (above); `make slides-check` fails until they are fixed');
    } catch (error) {
        console.error(`slides: ${error.message}`);
        process.exit(1);
    }
}
