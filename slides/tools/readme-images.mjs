// Small pictures of a few slides, for the README: slides/images/slide-NN.png.
//
//   node slides/tools/readme-images.mjs [--build DIR] N...     (after make slides)
//
// They are illustrations, taken from BUILD/slides/lecture.bare.html at 60 %
// of the slides' size; make slides-check renders every slide at full size.
import fs from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

import puppeteer from 'puppeteer-core';

import {CHROMIUM_WRAPPER} from './build.mjs';
import {DEFAULT_ROOT} from './deck.mjs';

const argv = process.argv.slice(2);
let buildDir = path.join(DEFAULT_ROOT, 'build');
if (argv[0] === '--build') { buildDir = path.resolve(argv[1]); argv.splice(0, 2); }
const numbers = argv.map(Number);
if (!numbers.length || numbers.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error('usage: node slides/tools/readme-images.mjs [--build DIR] SLIDE_NUMBER...');
    process.exit(2);
}
const bare = path.join(buildDir, 'slides', 'lecture.bare.html');
if (!fs.existsSync(bare)) {
    console.error(`readme-images: ${bare} is missing: run make slides-check first`);
    process.exit(1);
}
const out = path.join(DEFAULT_ROOT, 'slides', 'images');
fs.mkdirSync(out, {recursive: true});
const browser = await puppeteer.launch({executablePath: CHROMIUM_WRAPPER, headless: true});
try {
    const page = await browser.newPage();
    await page.setViewport({width: 1280, height: 720, deviceScaleFactor: 0.6});
    await page.goto(pathToFileURL(bare).href, {waitUntil: 'load'});
    await page.addStyleTag({content: 'body > svg[data-marpit-svg] { width: 1280px !important; height: 720px !important; }'});
    const slides = await page.$$('body > svg[data-marpit-svg]');
    for (const number of numbers) {
        if (number > slides.length) throw new Error(`the deck has ${slides.length} slides, not ${number}`);
        const file = path.join(out, `slide-${String(number).padStart(2, '0')}.png`);
        await slides[number - 1].screenshot({path: file});
        console.log(`readme-images: ${path.relative(process.cwd(), file)}`);
    }
} finally {
    await browser.close();
}
