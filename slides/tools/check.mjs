// make slides-check: builds the deck and checks it in headless Chromium.
//
//   node slides/tools/check.mjs [--root DIR] [--build DIR] [--no-self-test]
//
// Source checks: each code excerpt in slides/lecture.md matches the file it
// was taken from; each timeline SVG is the one its .tl draws; each image the
// deck embeds from a committed file exists; each checker test it names is in
// its lab's rubric (or the lab is still to come).
// Browser checks: every slide is rendered (a PNG per slide in
// BUILD/slides/png/); a slide fails when its content runs off its page or
// an image does not load; the code on each slide is the current code of the
// solution. The PDF has one page per slide.
// Self-tests: the same checks run on copies of the kit broken on purpose (an
// overflowing slide, a missing image, a stale excerpt, a stale timeline, a
// misnamed test) must fail, and a measured comparison must be picked up.
//
// Prints one line per test and ends with "N passed, N failed[, N skipped]".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

import {PDFDocument} from 'pdf-lib';
import puppeteer from 'puppeteer-core';

import {CHROMIUM_WRAPPER, build, chromiumAvailable, chromiumBinary} from './build.mjs';
import {
    DECK, DEFAULT_ROOT, SLIDES, committedExcerptBody, diagramSources, extractExcerpt, findExcerpts, findImages,
    findTestDefinitions, findTestReferences, renderDiagram, testStatus,
} from './deck.mjs';
import {syncPlots} from './sync.mjs';

// ---------------------------------------------------------------- results

class Results {
    constructor(prefix = '', print = true) { this.list = []; this.prefix = prefix; this.print = print; }
    add(status, name, detail = '') {
        this.list.push({status, name, detail});
        if (!this.print) return;
        const tag = {pass: 'ok  ', fail: 'FAIL', skip: 'skip'}[status];
        console.log(`${tag} ${this.prefix}${name}${detail ? `: ${detail}` : ''}`);
    }
    pass(name, detail) { this.add('pass', name, detail); }
    fail(name, detail) { this.add('fail', name, detail); }
    skip(name, detail) { this.add('skip', name, detail); }
    count(status) { return this.list.filter((r) => r.status === status).length; }
    failures() { return this.list.filter((r) => r.status === 'fail'); }
}

// ---------------------------------------------------------------- source checks

function checkSource(root, results) {
    const text = fs.readFileSync(path.join(root, DECK), 'utf8');

    for (const excerpt of findExcerpts(text)) {
        const name = `excerpt ${excerpt.file} ${excerpt.selector} (${DECK}:${excerpt.line + 1}) matches its source`;
        const expected = committedExcerptBody(root, excerpt);
        const result = extractExcerpt(root, excerpt.file, excerpt.selector);
        if (result.status === 'missing') results.fail(name, `${result.reason}: fix the excerpt's selector`);
        else if (expected !== excerpt.body) results.fail(name, `stale: the deck's copy differs from ${excerpt.file}: run make slides-sync`);
        else if (result.status === 'absent') results.skip(name, `${excerpt.file} is not in this tree yet`);
        else results.pass(name);
    }

    for (const diagram of diagramSources(root)) {
        const name = `timeline slides/diagrams/${diagram.name}.svg is drawn from its .tl`;
        if (!fs.existsSync(diagram.svg)) results.fail(name, 'the SVG is missing: run make slides-sync');
        else if (fs.readFileSync(diagram.svg, 'utf8') !== renderDiagram(diagram)) results.fail(name, 'stale: run make slides-sync');
        else results.pass(name);
    }

    for (const image of findImages(text)) {
        const name = `image ${image.path} (${DECK}:${image.line}) is a committed file`;
        const file = path.join(root, SLIDES, image.path);
        if (fs.existsSync(file)) results.pass(name);
        else results.fail(name, `${path.relative(root, file)} does not exist`);
    }

    const definitions = findTestDefinitions(text);
    for (const definition of definitions.values()) {
        const name = `checker test [${definition.label}] is "${definition.name}" of checker/rubrics/${definition.lab}.cpp`;
        const status = testStatus(root, definition);
        if (status === 'ok') results.pass(name);
        else if (status === 'planned') results.skip(name, `the ${definition.lab} lab is not in this tree yet`);
        else results.fail(name, `that rubric has no test "${definition.name}": fix its name at ${DECK}:${definition.line}`);
    }
    const undefinedReferences = findTestReferences(text).filter((r) => !definitions.has(r.label.toLowerCase()));
    if (undefinedReferences.length === 0) results.pass('every [test][] the deck names is in its test list');
    for (const reference of undefinedReferences)
        results.fail(`[${reference.label}][] (${DECK}:${reference.line}) is in the deck's test list`, 'add its definition at the end of the deck');
}

// ---------------------------------------------------------------- browser checks

// Runs in the page: what each slide shows, and what of it lies outside the page.
function inspectSlides() {
    // Content must keep this far from the page's edges (the page number sits
    // in the bottom margin).
    const MARGIN = 8;
    const describe = (node) => {
        const element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
        const text = (node.textContent || element.getAttribute('src') || '').trim().replace(/\s+/g, ' ');
        return `<${element.tagName.toLowerCase()}> "${text.slice(0, 50)}"`;
    };
    return [...document.querySelectorAll('body > svg[data-marpit-svg]')].map((svg, index) => {
        const section = svg.querySelector(':scope > foreignObject > section');
        const page = section.getBoundingClientRect();
        const outside = [];
        const check = (node, rects) => {
            for (const rect of rects) {
                if (rect.width === 0 && rect.height === 0) continue;
                const beyond = Math.max(rect.bottom - page.bottom, rect.right - page.right, page.top - rect.top, page.left - rect.left);
                if (beyond + MARGIN <= 0.5) continue;
                outside.push(beyond > 0 ? `${describe(node)} runs ${Math.ceil(beyond)} px off the page`
                                        : `${describe(node)} comes within ${Math.floor(-beyond)} px of the page's edge (${MARGIN} px at least)`);
                return;
            }
        };
        const walker = document.createTreeWalker(section, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (node.nodeType === Node.TEXT_NODE) {
                if (!node.textContent.trim()) continue;
                const range = document.createRange();
                range.selectNodeContents(node);
                check(node, range.getClientRects());
            } else {
                check(node, [node.getBoundingClientRect()]);
            }
        }
        const images = [...section.querySelectorAll('img')].map((img) => ({
            src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
        }));
        const excerpts = [...section.querySelectorAll('.excerpt[data-excerpt]')].map((div) => ({
            source: div.dataset.excerpt, code: (div.querySelector('code')?.textContent ?? '').replace(/\n$/, ''),
        }));
        const title = (section.querySelector('h1, h2')?.textContent ?? '').trim();
        return {number: index + 1, title, outside: outside.slice(0, 3), outsideCount: outside.length, images, excerpts, text: section.innerText};
    });
}

async function renderSlides(browser, htmlPath, pngDir) {
    const page = await browser.newPage();
    try {
        await page.setViewport({width: 1280, height: 720, deviceScaleFactor: 1});
        const failedRequests = [];
        page.on('requestfailed', (request) => failedRequests.push(`${request.url()} (${request.failure()?.errorText})`));
        await page.goto(pathToFileURL(htmlPath).href, {waitUntil: 'load', timeout: 60_000});
        // One slide per 1280x720 box, at scale 1, whatever the viewport.
        await page.addStyleTag({content: 'body > svg[data-marpit-svg] { width: 1280px !important; height: 720px !important; }'});
        await page.evaluate(() => document.fonts.ready);
        const slides = await page.evaluate(inspectSlides);
        if (pngDir) {
            fs.mkdirSync(pngDir, {recursive: true});
            const boxes = await page.$$('body > svg[data-marpit-svg]');
            for (const [index, box] of boxes.entries())
                await box.screenshot({path: path.join(pngDir, `slide-${String(index + 1).padStart(2, '0')}.png`)});
        }
        return {slides, failedRequests};
    } finally {
        await page.close();
    }
}

function checkSlides(root, rendered, results, pngDir) {
    for (const slide of rendered.slides) {
        const name = `slide ${slide.number} "${slide.title || '(untitled)'}" fits its page and shows its images`;
        const problems = [];
        if (slide.outsideCount) {
            const hint = slide.excerpts.length ? ' (a code excerpt too long for one slide: select a smaller part, lab:N or function:NAME, in its marker)' : '';
            problems.push(`content overflows the page: ${slide.outside.join('; ')}${slide.outsideCount > 3 ? ` (and ${slide.outsideCount - 3} more)` : ''}${hint}`);
        }
        for (const image of slide.images.filter((i) => !i.loaded)) problems.push(`image ${image.src} did not load`);
        if (problems.length) results.fail(name, problems.join('; '));
        else results.pass(name, pngDir ? path.join(path.relative(process.cwd(), pngDir), `slide-${String(slide.number).padStart(2, '0')}.png`) : '');
        for (const excerpt of slide.excerpts) {
            const [file, selector] = excerpt.source.split(' ');
            const name2 = `slide ${slide.number} shows the current code of ${file} ${selector}`;
            const current = extractExcerpt(root, file, selector);
            if (current.status === 'ok' && current.code === excerpt.code) results.pass(name2);
            else results.fail(name2, current.status === 'ok' ? 'the rendered code differs from the source' : current.reason ?? current.status);
        }
    }
}

async function pdfPages(pdfPath) {
    const pdf = await PDFDocument.load(fs.readFileSync(pdfPath), {updateMetadata: false});
    return pdf.getPageCount();
}

// The whole check of one tree: build, source checks, browser checks.
export async function checkTree(browser, {root, buildDir, results, pdf = true, screenshots = true}) {
    let built;
    try {
        // The self-tests look only at what the check inspects: no presenter's HTML, no PDF.
        built = build({root, buildDir, pdf: pdf ? 'auto' : 'no', html: pdf, quiet: true});
        results.pass('the deck builds', built.html ? path.relative(process.cwd(), built.html) : '');
    } catch (error) {
        results.fail('the deck builds', error.message);
        return null;
    }
    checkSource(root, results);
    const pngDir = screenshots ? path.join(built.out, 'png') : null;
    const rendered = await renderSlides(browser, built.bare, pngDir);
    checkSlides(root, rendered, results, pngDir);
    if (pdf) {
        if (!built.pdf) results.fail('the PDF has one page per slide', 'no PDF was made');
        else {
            const pages = await pdfPages(built.pdf);
            if (pages === rendered.slides.length) results.pass('the PDF has one page per slide', `${pages} pages`);
            else results.fail('the PDF has one page per slide', `${pages} pages for ${rendered.slides.length} slides`);
        }
    }
    return {built, rendered};
}

// ---------------------------------------------------------------- self-tests

// A copy of what the deck reads, to break on purpose.
function copyTree(root) {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'iolab-slides-'));
    for (const dir of [SLIDES, 'solutions', 'labs/common', 'checker/rubrics']) {
        const from = path.join(root, dir);
        if (!fs.existsSync(from)) continue;
        fs.cpSync(from, path.join(copy, dir), {recursive: true, filter: (f) => !f.includes(`${path.sep}node_modules`)});
    }
    return copy;
}

const edit = (file, change) => {
    const before = fs.readFileSync(file, 'utf8');
    const after = change(before);
    if (after === before) throw new Error(`self-test: the edit of ${file} changed nothing: the deck changed, update the self-test`);
    fs.writeFileSync(file, after);
};

// Appends lines to the slide whose heading is `heading`.
const growSlide = (heading, lines) => (text) =>
    text.replace(new RegExp(`(^## ${heading}\\n[\\s\\S]*?)(\\n---\\n)`, 'm'), (m, slide, rule) => `${slide}\n${lines.join('\n')}\n${rule}`);

const SELF_TESTS = [
    {
        name: 'an overflowing slide is caught',
        break: (tree) => edit(path.join(tree, DECK), growSlide('Iterative: the code',
            Array.from({length: 12}, (_, i) => `- an extra line of text, number ${i + 1}, that does not fit`))),
        expect: [/^slide \d+ "Iterative: the code" fits its page.*/, /content overflows the page/],
    },
    {
        name: 'a missing committed image is caught, in the source and in the browser',
        break: (tree) => edit(path.join(tree, DECK), growSlide('Fork per client: the timeline', ['![a plot that is not there](plots/not-committed.svg)'])),
        expect: [/^image plots\/not-committed\.svg .* is a committed file$/, /does not exist/],
        expectAlso: [/^slide \d+ "Fork per client: the timeline" fits its page/, /image plots\/not-committed\.svg did not load/],
    },
    {
        name: 'a missing timeline is caught in the browser',
        break: (tree) => {
            fs.rmSync(path.join(tree, SLIDES, 'diagrams', 'select.tl'));
            fs.rmSync(path.join(tree, SLIDES, 'diagrams', 'select.svg'));
        },
        expect: [/^slide \d+ "`?select\(\)`?: the timeline" fits its page/, /image diagrams\/select\.svg did not load/],
    },
    {
        name: 'a stale code excerpt is caught',
        break: (tree) => edit(path.join(tree, 'solutions/blocking/server.cpp'),
            (text) => text.replace('if (client) serve_until_eof(client, options);', 'if (client) { serve_until_eof(client, options); }')),
        expect: [/^excerpt solutions\/blocking\/server\.cpp function:run .* matches its source$/, /stale/],
    },
    {
        name: 'a stale timeline is caught',
        break: (tree) => edit(path.join(tree, SLIDES, 'diagrams', 'blocking.tl'), (text) => text.replace('"connected, thinking"', '"connected, typing"')),
        expect: [/^timeline slides\/diagrams\/blocking\.svg is drawn from its \.tl$/, /stale/],
    },
    {
        name: 'a misnamed checker test is caught',
        break: (tree) => edit(path.join(tree, DECK), (text) => text.replace('"idle_client"', '"idle_clients"')),
        expect: [/^checker test \[idle client\] is "idle_clients"/, /has no test "idle_clients"/],
    },
];

async function runSelfTests(browser, root, results) {
    for (const test of SELF_TESTS) {
        const tree = copyTree(root);
        try {
            test.break(tree);
            const inner = new Results('', false);
            await checkTree(browser, {root: tree, buildDir: path.join(tree, 'build'), results: inner, pdf: false, screenshots: false});
            const caught = (pattern) => inner.failures().some((f) => pattern[0].test(f.name) && pattern[1].test(f.detail));
            const missed = [test.expect, test.expectAlso].filter(Boolean).filter((p) => !caught(p));
            if (missed.length === 0) results.pass(`self-test: ${test.name}`);
            else results.fail(`self-test: ${test.name}`, `the check did not report ${missed.map((p) => `${p[0]} / ${p[1]}`).join(' and ')}; it reported: ${inner.failures().map((f) => f.name).join('; ') || 'no failure'}`);
        } catch (error) {
            results.fail(`self-test: ${test.name}`, error.message);
        } finally {
            fs.rmSync(tree, {recursive: true, force: true});
        }
    }
    await selfTestComparison(browser, root, results);
}

// The comparison slides pick up build/compare/ (with the machine and date),
// and `make slides-plots` turns it into committed copies that the deck shows
// once build/compare/ is gone.
async function selfTestComparison(browser, root, results) {
    const name = 'self-test: the plots and table of make compare are shown, measured or committed';
    const tree = copyTree(root);
    try {
        const compare = path.join(tree, 'build', 'compare');
        fs.mkdirSync(compare, {recursive: true});
        fs.writeFileSync(path.join(compare, 'throughput.svg'),
            '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="400"><rect width="800" height="400" fill="#dbeafe"/><text x="40" y="200" font-size="40">requests per second</text></svg>\n');
        fs.writeFileSync(path.join(compare, 'summary.md'), '| model | requests/s |\n|---|---|\n| blocking | 100 |\n| epoll | 9000 |\n');
        const problems = [];
        const look = async (label, expectProvenance) => {
            const inner = new Results('', false);
            const outcome = await checkTree(browser, {root: tree, buildDir: path.join(tree, 'build'), results: inner, pdf: false, screenshots: false});
            if (!outcome) { problems.push(`${label}: the deck did not build`); return; }
            const slides = outcome.rendered.slides;
            const plot = slides.find((s) => s.title === 'Measured: Throughput');
            const table = slides.find((s) => /\|?\s*epoll\s*\|?\s*9000/.test(s.text.replace(/\t/g, ' | ')));
            if (!plot) problems.push(`${label}: no slide "Measured: Throughput"`);
            else if (!plot.images.length || !plot.images.every((i) => i.loaded)) problems.push(`${label}: the plot did not load`);
            else if (!expectProvenance.test(plot.text)) problems.push(`${label}: the plot's slide does not say where and when it was measured`);
            if (!table) problems.push(`${label}: the table is not shown`);
            if (slides.some((s) => /not yet on this machine/.test(s.title))) problems.push(`${label}: the "not yet measured" slide is still there`);
            for (const failure of inner.failures()) problems.push(`${label}: ${failure.name}: ${failure.detail}`);
        };
        await look('from build/compare', /Measured by make compare on .*\d{4}-\d{2}-\d{2}/);
        syncPlots(tree, compare);
        fs.rmSync(compare, {recursive: true, force: true});
        await look('from slides/plots', /Measured by make compare on .*\d{4}-\d{2}-\d{2}/);
        if (problems.length) results.fail(name, problems.join('; '));
        else results.pass(name);
    } catch (error) {
        results.fail(name, error.message);
    } finally {
        fs.rmSync(tree, {recursive: true, force: true});
    }
}

// ---------------------------------------------------------------- main

async function main(argv) {
    let root = DEFAULT_ROOT, buildDir = null, selfTest = true;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--root') root = path.resolve(argv[++i]);
        else if (argv[i] === '--build') buildDir = path.resolve(argv[++i]);
        else if (argv[i] === '--no-self-test') selfTest = false;
        else throw new Error(`unknown argument "${argv[i]}" (--root DIR, --build DIR, --no-self-test)`);
    }
    buildDir ??= path.join(root, 'build');
    const results = new Results();
    if (!chromiumAvailable()) {
        results.fail('Chromium is there to render the slides',
            `${chromiumBinary()} is missing: run make slides-check as root (it installs Debian's chromium), or apt-get install chromium`);
    } else {
        const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'iolab-chromium-'));
        const browser = await puppeteer.launch({executablePath: CHROMIUM_WRAPPER, userDataDir: profile, headless: true, timeout: 60_000});
        try {
            await checkTree(browser, {root, buildDir, results});
            if (selfTest) await runSelfTests(browser, root, results);
        } finally {
            await browser.close();
            fs.rmSync(profile, {recursive: true, force: true});
        }
    }
    const skipped = results.count('skip');
    console.log(`${results.count('pass')} passed, ${results.count('fail')} failed${skipped ? `, ${skipped} skipped` : ''}`);
    return results.count('fail') === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    main(process.argv.slice(2)).then((status) => process.exit(status), (error) => {
        console.error(`slides-check: ${error.stack ?? error.message}`);
        console.log('0 passed, 1 failed');
        process.exit(1);
    });
}
