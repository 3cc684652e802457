/**
 * The report's print stylesheet (A4, inlined into every HTML report; the page header and
 * footer come from html.ts's pageCss). A TypeScript module rather than a .css file: the CLI,
 * the host and the test children run the sources through tsx, which cannot import a `.css?raw`
 * (only Vite can), and the bundled main process has no file beside it to read at run time.
 */
export const REPORT_CSS = `
:root { --ink:#1c2430; --muted:#5b6675; --line:#d5dbe3; --soft:#f3f5f8; --accent:#1f4e79; --bad:#b3261e; --badbg:#fbeaea; --ok:#1b6e3a; --okbg:#e8f4ec; --warn:#8a5a00; --warnbg:#fdf4e1; }
* { box-sizing: border-box; }
html { font-family: "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; font-size: 8.6pt; line-height: 1.38; color: var(--ink); -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; }
@media screen { body { max-width: 190mm; margin: 12mm auto; padding: 0 6mm; } }
h1 { font-size: 17pt; margin: 1mm 0 0.5mm; letter-spacing: -0.01em; }
h2 { font-size: 10.5pt; color: var(--accent); margin: 6mm 0 2mm; padding-bottom: 1mm; border-bottom: 0.6pt solid var(--line); break-after: avoid; }
h3 { font-size: 9pt; margin: 3mm 0 1.5mm; break-after: avoid; }
p { margin: 1mm 0 2mm; }
.mono, code { font-family: "DejaVu Sans Mono", Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
.muted { color: var(--muted); }
.small { font-size: 7.4pt; }
.eyebrow { font-size: 7.4pt; font-weight: 700; letter-spacing: 0.14em; text-transform: uppercase; color: var(--accent); }
.titlebar { display: flex; justify-content: space-between; align-items: flex-end; gap: 6mm; padding-bottom: 3mm; border-bottom: 1.6pt solid var(--accent); }
.titlebar .folder { font-size: 7.4pt; color: var(--muted); word-break: break-all; }
table.meta { border-collapse: collapse; font-size: 7.8pt; }
table.meta th { text-align: left; color: var(--muted); font-weight: 500; padding: 0.3mm 3mm 0.3mm 0; white-space: nowrap; }
table.meta td { padding: 0.3mm 0; white-space: nowrap; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 2.5mm; margin: 4mm 0 1mm; }
.card { border: 0.6pt solid var(--line); border-radius: 1.5mm; padding: 2mm 2.5mm; background: var(--soft); }
.card .k { font-size: 7.2pt; color: var(--muted); text-transform: uppercase; letter-spacing: 0.06em; }
.card .v { font-size: 15pt; font-weight: 700; margin-top: 0.5mm; }
.card .s { font-size: 7.2pt; color: var(--muted); }
.card.bad { background: var(--badbg); border-color: #e3b4b1; } .card.bad .v { color: var(--bad); }
.card.good { background: var(--okbg); border-color: #b7d8c2; } .card.good .v { color: var(--ok); }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 6mm; }
table.grid { border-collapse: collapse; width: 100%; }
table.grid th, table.grid td { border-bottom: 0.5pt solid var(--line); padding: 1mm 1.6mm; text-align: left; vertical-align: top; }
table.grid thead th { background: var(--soft); font-weight: 600; font-size: 7.4pt; color: #333c48; border-bottom: 0.8pt solid #b9c2ce; }
table.grid td.n, table.grid th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.cm { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.cm th, table.cm td { border: 0.6pt solid var(--line); padding: 1.6mm 2mm; text-align: center; }
table.cm thead th, table.cm tbody th { background: var(--soft); font-weight: 600; font-size: 7.6pt; }
table.cm td .c { font-size: 12pt; font-weight: 700; display: block; }
table.cm td .l { font-size: 7pt; color: var(--muted); }
table.cm td.miss { background: var(--badbg); } table.cm td.miss .c { color: var(--bad); }
table.cm td.hit { background: var(--okbg); } table.cm td.hit .c { color: var(--ok); }
.box { border: 0.6pt solid var(--line); border-radius: 1.5mm; padding: 2mm 3mm; }
.box dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.6mm 3mm; margin: 0; }
.box dt { color: var(--muted); } .box dd { margin: 0; }
.badge { white-space: nowrap; display: inline-block; padding: 0.2mm 1.8mm; border-radius: 1mm; font-size: 7.2pt; font-weight: 700; letter-spacing: 0.04em; }
.badge.ok { background: var(--okbg); color: var(--ok); } .badge.bad { background: var(--badbg); color: var(--bad); } .badge.warn { background: var(--warnbg); color: var(--warn); }
.audit { margin-top: 4mm; display: grid; grid-template-columns: max-content 1fr; gap: 0.8mm 4mm; align-items: baseline; }
.audit .hash { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 7.6pt; word-break: break-all; }
.notes { margin: 3mm 0 0; padding: 2mm 3mm; background: var(--warnbg); border-left: 2pt solid #e0b045; font-size: 7.8pt; }
.notes p { margin: 0.5mm 0; }
.notes.alarm { background: var(--badbg); border-left-color: var(--bad); }
.sign { margin-top: 6mm; border: 0.8pt solid #9aa5b3; border-radius: 1.5mm; padding: 3mm 4mm 4mm; break-inside: avoid; }
.sign .stmt { font-size: 7.8pt; color: #333c48; margin: 0 0 5mm; }
.sign .fields { display: grid; grid-template-columns: 1.3fr 1.3fr 0.8fr; gap: 8mm; }
.sign .field { border-top: 0.8pt solid var(--ink); padding-top: 1mm; font-size: 7.6pt; color: var(--muted); margin-top: 11mm; }
.sign .field b { color: var(--ink); font-size: 8pt; }
.pb { break-before: page; }
svg.hist { width: 100%; height: auto; display: block; }
svg.hist .ax { font-size: 8px; fill: #5b6675; font-family: inherit; }
svg.hist .lbl { font-size: 8.5px; fill: #1c2430; font-weight: 700; font-family: inherit; }
.legend { font-size: 7.4pt; color: var(--muted); margin-top: 1mm; }
.legend i { display: inline-block; width: 2.6mm; height: 2.6mm; vertical-align: -0.4mm; margin: 0 1mm 0 3mm; border-radius: 0.4mm; }
.thumbs { display: grid; grid-template-columns: repeat(4, 1fr); gap: 3mm; }
.thumbs figure { margin: 0; break-inside: avoid; border: 0.6pt solid var(--line); border-radius: 1.2mm; overflow: hidden; background: var(--soft); }
.thumbs figure.FN { border-color: var(--bad); border-width: 1.2pt; }
.thumbs img { width: 100%; height: auto; display: block; background: #222; }
.thumbs .noimg { aspect-ratio: 1; display: flex; align-items: center; justify-content: center; color: var(--muted); font-size: 7pt; padding: 2mm; text-align: center; }
.thumbs figcaption { padding: 1mm 1.5mm 1.2mm; font-size: 6.8pt; line-height: 1.3; }
.thumbs figcaption .name { font-weight: 600; word-break: break-all; }
table.parts { font-size: 6.8pt; }
table.parts td, table.parts th { padding: 0.7mm 1.1mm; }
table.parts tr { break-inside: avoid; }
table.parts .sha { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 5.6pt; color: var(--muted); word-break: break-all; }
table.parts .path { word-break: break-all; }
table.parts td.FN { color: var(--bad); font-weight: 700; }
td.wrap { word-break: break-word; }
table.fixed { table-layout: fixed; }
.hashline { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 6.4pt; color: var(--muted); word-break: break-all; margin-top: 0.4mm; }
.thumbs figcaption .row { display: flex; justify-content: space-between; align-items: center; margin: 0.6mm 0 0.3mm; }
.thumbs figcaption .score { font-weight: 700; font-variant-numeric: tabular-nums; }
table.parts td.FP { color: var(--warn); }
table.sigs tr { break-inside: avoid; }
table.sigs td.at { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 6.8pt; white-space: nowrap; }
`;
