// Renders a timeline (slides/diagrams/NAME.tl) to SVG: who does what, and
// who waits for whom, over time. One row (lane) per actor; bars say what an
// actor is doing; arrows are messages between actors.
//
// The source format, one statement per line ('#' starts a comment):
//   time 100                      length of the time axis (abstract units)
//   lane ID "label"               a row, top to bottom in order of declaration
//   bar ID FROM TO KIND "label"   an activity; KIND: run, wait, idle, kernel
//   arrow ID1 T1 ID2 T2 "label"   a message from lane ID1 at T1 to lane ID2 at T2
//   mark ID T "label"             a point event on a lane
//   brace FROM TO "label"         a span under the lanes (e.g. "B waits 50")
//   note "text"                   a caption line under the diagram
//
// The output depends only on the source, so the committed SVG can be checked
// against it byte for byte.

const KINDS = {
    run:    {fill: '#2563eb', stroke: '#1d4ed8', text: '#ffffff', legend: 'running (CPU)'},
    wait:   {fill: '#fde68a', stroke: '#d97706', text: '#78350f', legend: 'blocked: waiting', hatch: true},
    idle:   {fill: '#e5e7eb', stroke: '#9ca3af', text: '#374151', legend: 'idle (nothing to do)'},
    kernel: {fill: '#ede9fe', stroke: '#7c3aed', text: '#4c1d95', legend: 'kernel works on it'},
};

const WIDTH = 1160;
const GUTTER = 215;          // lane labels
const RIGHT = 20;
const LANE_HEIGHT = 64;
const BAR_HEIGHT = 32;
const TOP = 16;
const FONT = "'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif";

export class TimelineError extends Error {}

function tokenize(line, lineNumber) {
    const tokens = [];
    const pattern = /\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))/y;
    let match;
    while (pattern.lastIndex < line.length && (match = pattern.exec(line)) !== null) {
        if (match[1] !== undefined) tokens.push({text: match[1].replace(/\\(.)/g, '$1'), quoted: true});
        else if (match[2] !== undefined) tokens.push({text: match[2], quoted: false});
    }
    if (pattern.lastIndex < line.trimEnd().length) throw new TimelineError(`line ${lineNumber}: cannot read "${line}"`);
    return tokens;
}

export function parseTimeline(source, name = 'timeline') {
    const spec = {time: 100, lanes: [], bars: [], arrows: [], marks: [], braces: [], notes: []};
    const laneIds = new Set();
    const fail = (lineNumber, message) => { throw new TimelineError(`${name}:${lineNumber}: ${message}`); };
    source.split('\n').forEach((raw, index) => {
        const lineNumber = index + 1;
        const line = raw.replace(/^\s*#.*$/, '').trim();
        if (!line) return;
        const tokens = tokenize(line, lineNumber);
        const words = tokens.map(t => t.text);
        const number = (text) => {
            const value = Number(text);
            if (!Number.isFinite(value)) fail(lineNumber, `"${text}" is not a number`);
            return value;
        };
        const lane = (id) => { if (!laneIds.has(id)) fail(lineNumber, `unknown lane "${id}"`); return id; };
        const expect = (count) => { if (tokens.length !== count) fail(lineNumber, `"${words[0]}" takes ${count - 1} arguments, got ${tokens.length - 1}`); };
        switch (words[0]) {
        case 'time': expect(2); spec.time = number(words[1]); break;
        case 'lane':
            expect(3);
            if (laneIds.has(words[1])) fail(lineNumber, `lane "${words[1]}" declared twice`);
            laneIds.add(words[1]);
            spec.lanes.push({id: words[1], label: words[2]});
            break;
        case 'bar': {
            expect(6);
            const kind = words[4];
            if (!KINDS[kind]) fail(lineNumber, `unknown kind "${kind}" (${Object.keys(KINDS).join(', ')})`);
            spec.bars.push({lane: lane(words[1]), from: number(words[2]), to: number(words[3]), kind, label: words[5]});
            break;
        }
        case 'arrow':
            expect(6);
            spec.arrows.push({from: lane(words[1]), t1: number(words[2]), to: lane(words[3]), t2: number(words[4]), label: words[5]});
            break;
        case 'mark': expect(4); spec.marks.push({lane: lane(words[1]), t: number(words[2]), label: words[3]}); break;
        case 'brace': expect(4); spec.braces.push({from: number(words[1]), to: number(words[2]), label: words[3]}); break;
        case 'note': expect(2); spec.notes.push(words[1]); break;
        default: fail(lineNumber, `unknown statement "${words[0]}"`);
        }
    });
    if (spec.lanes.length === 0) throw new TimelineError(`${name}: no lanes`);
    return spec;
}

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const round = (value) => Math.round(value * 10) / 10;
// Text width is estimated (the SVG is made without a browser): DejaVu Sans
// averages a little over half an em per character.
const textWidth = (text, size) => text.length * size * 0.58;

export function renderTimeline(spec) {
    const x = (t) => round(GUTTER + (t / spec.time) * (WIDTH - GUTTER - RIGHT));
    const laneIndex = new Map(spec.lanes.map((lane, index) => [lane.id, index]));
    const laneTop = (id) => TOP + laneIndex.get(id) * LANE_HEIGHT;
    const laneMid = (id) => laneTop(id) + LANE_HEIGHT / 2;
    const lanesBottom = TOP + spec.lanes.length * LANE_HEIGHT;
    const out = [];

    // Lanes: a label and a faint guide line.
    spec.lanes.forEach((lane) => {
        const mid = laneMid(lane.id);
        out.push(`<line x1="${GUTTER}" y1="${mid}" x2="${WIDTH - RIGHT}" y2="${mid}" stroke="#d1d5db" stroke-dasharray="4 4"/>`);
        out.push(`<text x="${GUTTER - 14}" y="${mid + 6}" text-anchor="end" font-size="17" font-weight="bold" fill="#111827">${escape(lane.label)}</text>`);
    });

    // Bars, with their label inside when it fits, else above.
    for (const bar of spec.bars) {
        const style = KINDS[bar.kind];
        const left = x(bar.from), width = round(x(bar.to) - x(bar.from));
        const top = laneMid(bar.lane) - BAR_HEIGHT / 2;
        const fill = style.hatch ? `url(#hatch-${bar.kind})` : style.fill;
        out.push(`<rect x="${left}" y="${top}" width="${width}" height="${BAR_HEIGHT}" rx="5" fill="${fill}" stroke="${style.stroke}" stroke-width="1.5"/>`);
        if (!bar.label) continue;
        let size = 15;
        while (size > 11 && textWidth(bar.label, size) > width - 10) size -= 1;
        if (textWidth(bar.label, size) <= width - 10) {
            out.push(`<text x="${round(left + width / 2)}" y="${top + BAR_HEIGHT / 2 + size * 0.36}" text-anchor="middle" font-size="${size}" fill="${style.text}">${escape(bar.label)}</text>`);
        } else {
            out.push(`<text x="${round(left + width / 2)}" y="${top - 5}" text-anchor="middle" font-size="13" fill="${style.stroke}">${escape(bar.label)}</text>`);
        }
    }

    // Arrows between lanes, from the edge of one bar row to the other.
    for (const arrow of spec.arrows) {
        const down = laneIndex.get(arrow.to) > laneIndex.get(arrow.from);
        const y1 = laneMid(arrow.from) + (down ? 1 : -1) * (BAR_HEIGHT / 2 + 1);
        const y2 = laneMid(arrow.to) - (down ? 1 : -1) * (BAR_HEIGHT / 2 + 4);
        const x1 = x(arrow.t1), x2 = x(arrow.t2);
        out.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#111827" stroke-width="2" marker-end="url(#arrow)"/>`);
        if (arrow.label) {
            const size = 13;
            const cx = round((x1 + x2) / 2 + 6), cy = round((y1 + y2) / 2 + 4);
            const w = round(textWidth(arrow.label, size) + 6);
            out.push(`<rect x="${round(cx - 3)}" y="${round(cy - size)}" width="${w}" height="${size + 5}" fill="#ffffff" fill-opacity="0.9"/>`);
            out.push(`<text x="${cx}" y="${cy}" font-size="${size}" fill="#111827">${escape(arrow.label)}</text>`);
        }
    }

    // Point events.
    for (const mark of spec.marks) {
        const cx = x(mark.t), cy = laneMid(mark.lane);
        out.push(`<path d="M ${cx} ${cy - 9} L ${cx + 9} ${cy} L ${cx} ${cy + 9} L ${cx - 9} ${cy} Z" fill="#dc2626" stroke="#7f1d1d"/>`);
        if (mark.label) out.push(`<text x="${round(cx + 12)}" y="${cy - 10}" font-size="13" fill="#7f1d1d">${escape(mark.label)}</text>`);
    }

    // Spans under the lanes, each on the first row where it (and its label)
    // overlaps no other.
    const rows = [];
    for (const brace of spec.braces) {
        const x1 = x(brace.from), x2 = x(brace.to);
        const half = textWidth(brace.label, 15) / 2 + 8;
        const left = Math.min(x1, (x1 + x2) / 2 - half), right = Math.max(x2, (x1 + x2) / 2 + half);
        let row = rows.findIndex((spans) => spans.every(([l, r]) => right <= l || left >= r));
        if (row < 0) { rows.push([]); row = rows.length - 1; }
        rows[row].push([left, right]);
        const top = lanesBottom + 6 + row * 34;
        out.push(`<path d="M ${x1} ${top} v 8 H ${x2} v -8" fill="none" stroke="#dc2626" stroke-width="2"/>`);
        out.push(`<text x="${round((x1 + x2) / 2)}" y="${top + 26}" text-anchor="middle" font-size="15" font-weight="bold" fill="#dc2626">${escape(brace.label)}</text>`);
    }
    let y = lanesBottom + 6 + rows.length * 34;

    // Time axis.
    y += 8;
    out.push(`<line x1="${GUTTER}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#6b7280" stroke-width="1.5" marker-end="url(#arrow-grey)"/>`);
    out.push(`<text x="${WIDTH - RIGHT - 4}" y="${y + 18}" text-anchor="end" font-size="13" fill="#6b7280">time</text>`);
    y += 30;

    // Legend: the kinds of bar this diagram uses.
    const used = Object.keys(KINDS).filter((kind) => spec.bars.some((bar) => bar.kind === kind));
    let lx = GUTTER;
    for (const kind of used) {
        const style = KINDS[kind];
        out.push(`<rect x="${lx}" y="${y - 13}" width="26" height="16" rx="3" fill="${style.hatch ? `url(#hatch-${kind})` : style.fill}" stroke="${style.stroke}"/>`);
        out.push(`<text x="${lx + 32}" y="${y}" font-size="14" fill="#374151">${escape(style.legend)}</text>`);
        lx += 32 + textWidth(style.legend, 14) + 26;
    }
    if (spec.arrows.length) {
        out.push(`<line x1="${lx}" y1="${y - 5}" x2="${lx + 26}" y2="${y - 5}" stroke="#111827" stroke-width="2" marker-end="url(#arrow)"/>`);
        out.push(`<text x="${lx + 34}" y="${y}" font-size="14" fill="#374151">message</text>`);
    }
    y += 10;
    for (const note of spec.notes) {
        y += 22;
        out.push(`<text x="${GUTTER}" y="${y}" font-size="16" fill="#111827">${escape(note)}</text>`);
    }
    const height = Math.ceil(y + 10);

    const defs = [
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#111827"/></marker>',
        '<marker id="arrow-grey" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker>',
        ...Object.entries(KINDS).filter(([, style]) => style.hatch).map(([kind, style]) =>
            `<pattern id="hatch-${kind}" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="${style.fill}"/><line x1="0" y1="0" x2="0" y2="8" stroke="${style.stroke}" stroke-width="2" stroke-opacity="0.45"/></pattern>`),
    ];
    return [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}">`,
        '<!-- Generated by slides/tools/timeline.mjs from the .tl file of the same name: edit that, then run make slides-sync. -->',
        `<defs>${defs.join('')}</defs>`,
        `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
        ...out,
        '</svg>',
        '',
    ].join('\n');
}

export function timelineToSvg(source, name) {
    return renderTimeline(parseTimeline(source, name));
}
