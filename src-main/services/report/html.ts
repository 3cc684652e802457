/**
 * The report as one self-contained HTML document (print layout: A4 portrait): inline CSS
 * (./report.css.ts), images as data URLs, page header and footer, a sign-off block, the
 * electronic signatures of the records it rests on, and its data (the ReportModel, as in the
 * JSON export) embedded as `<script type="application/json" id="kensa-report-data">`, which is
 * what a report signature covers and what `kensa report verify` reads back
 * (../report-signing.ts). The PDF is this HTML printed by Chromium (./pdf.ts; in the desktop
 * app: webContents.printToPDF on the same HTML).
 */
import path from 'node:path';
import { signatureValid, type Signature } from '../../store/index';
import { REPORT_DATA_ID, REPORT_SIGNATURES_ID, reportDataHash } from '../report-signing';
import type { Histogram } from '../threshold';
import { reportJson } from './csv-json';
import type { Disposition, Outcome, ReportModel, ReportSignature, ReportThreshold } from './model';
import { REPORT_CSS } from './report.css';

export interface ReportHtmlOptions {
  /**
   * The report's own signatures (a signed rendition, `<name>.signed.html`): printed in the
   * Signatures section and embedded beside the data as `<script id="kensa-report-signatures">`.
   */
  reportSignatures?: readonly Signature[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
/** A CSS string literal that cannot end the string or the <style> element. */
const cssString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]+/g, ' ').replace(/</g, '\\3C ')}"`;
const num = (x: number | null, digits = 4): string => (x === null ? '—' : x.toFixed(digits));
const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
const when = (iso: string | null): string => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '—');
const DISPOSITION_LABEL: Record<Disposition, string> = {
  'defect-flagged': 'Defect, flagged (TP)',
  'defect-missed': 'Defect, MISSED (FN)',
  'good-flagged': 'Good, flagged (false alarm)',
  'good-passed': 'Good, passed',
  'unreviewed-flagged': 'No verdict in the period, flagged',
  'unreviewed-passed': 'No verdict in the period, passed',
};
const OUTCOME_LABEL: Record<Outcome, string> = { TP: 'defect flagged', FN: 'MISSED', FP: 'false alarm', TN: 'good passed' };

function periodText(m: ReportModel): string {
  const { from, to } = m.period;
  if (from && to) return `${from} to ${to}`;
  if (from) return `from ${from}`;
  if (to) return `up to ${to}`;
  return 'all verdicts';
}

function histogramSvg(h: Histogram, threshold: number, weakest: number | null): string {
  const W = 680;
  const H = 150;
  const L = 34;
  const R = 8;
  const T = 10;
  const B = 24;
  const pw = W - L - R;
  const ph = H - T - B;
  const lo = h.edges[0]!;
  const hi = h.edges[h.edges.length - 1]!;
  const x = (v: number): number => L + ((v - lo) / (hi - lo)) * pw;
  const max = h.maxHeight || 1;
  const y = (v: number): number => T + ph - (v / max) * ph;
  const n = h.edges.length - 1;
  const bw = pw / n;
  const parts: string[] = [];
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fbfcfd" stroke="#d5dbe3" stroke-width="0.6"/>`);
  // Overlaid full-width bars, the tallest drawn first so a smaller series always shows on top.
  const series: [number[], string][] = [
    [h.heights.unreviewed, '#c9ced6'],
    [h.heights.good, '#4f7cac'],
    [h.heights.defect, '#c0392b'],
  ];
  for (let i = 0; i < n; i++) {
    const bars = series.map(([vals, colour]) => [vals[i]!, colour] as const).filter(([v]) => v > 0);
    bars.sort((a, b) => b[0] - a[0]);
    for (const [v, colour] of bars) {
      parts.push(`<rect x="${(L + i * bw + 0.4).toFixed(2)}" y="${y(v).toFixed(2)}" width="${Math.max(0.5, bw - 0.8).toFixed(2)}" height="${(T + ph - y(v)).toFixed(2)}" fill="${colour}" fill-opacity="0.92"/>`);
    }
  }
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    const anchor = k === 0 ? 'start' : k === 4 ? 'end' : 'middle';
    parts.push(`<line x1="${x(v).toFixed(2)}" y1="${T + ph}" x2="${x(v).toFixed(2)}" y2="${T + ph + 3}" stroke="#5b6675" stroke-width="0.6"/>`);
    parts.push(`<text x="${x(v).toFixed(2)}" y="${H - 8}" text-anchor="${anchor}" class="ax">${num(v, 3)}</text>`);
  }
  const ylab = h.log ? `${Math.round(10 ** max - 1)}` : `${max}`;
  parts.push(`<text x="${L - 4}" y="${T + 7}" text-anchor="end" class="ax">${ylab}</text><text x="${L - 4}" y="${T + ph}" text-anchor="end" class="ax">0</text>`);
  if (weakest !== null && weakest >= lo && weakest <= hi) {
    parts.push(`<line x1="${x(weakest).toFixed(2)}" y1="${T}" x2="${x(weakest).toFixed(2)}" y2="${T + ph}" stroke="#c0392b" stroke-width="0.8" stroke-dasharray="1.5 2"/>`);
  }
  if (threshold >= lo && threshold <= hi) {
    const tx = x(threshold);
    const anchor = tx > L + pw * 0.8 ? 'end' : 'start';
    parts.push(`<line x1="${tx.toFixed(2)}" y1="${T - 2}" x2="${tx.toFixed(2)}" y2="${T + ph}" stroke="#1c2430" stroke-width="1.2" stroke-dasharray="4 2"/>`);
    parts.push(`<text x="${(tx + (anchor === 'end' ? -4 : 4)).toFixed(2)}" y="${T + 9}" text-anchor="${anchor}" class="lbl">threshold ${num(threshold)}</text>`);
  }
  return `<svg class="hist" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Score distribution">${parts.join('')}</svg>`;
}

function pageCss(m: ReportModel): string {
  const head = m.audit.headHash ? `audit head ${m.audit.headHash.slice(0, 16)}…` : 'audit chain empty';
  return `@page { size: A4; margin: 17mm 14mm 16mm 14mm;
  @top-left { content: ${cssString(m.project.name)}; font-size: 7.5pt; color: #5b6675; }
  @top-right { content: ${cssString(`Kensa ${m.kensaVersion} · Inspection audit report`)}; font-size: 7.5pt; color: #5b6675; }
  @bottom-left { content: ${cssString(`Generated ${when(m.generatedAt)} UTC · ${head}`)}; font-size: 7pt; color: #5b6675; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 7.5pt; color: #5b6675; }
}`;
}

function card(key: string, value: string, sub: string, tone: '' | 'bad' | 'good' = ''): string {
  return `<div class="card ${tone}"><div class="k">${esc(key)}</div><div class="v">${esc(value)}</div><div class="s">${esc(sub)}</div></div>`;
}

function marginText(t: ReportThreshold): string {
  if (t.margin === null || t.marginKind === null) return 'none recorded';
  return t.marginKind === 'absolute' ? `${num(t.margin)} (absolute, score units)` : `${t.margin} × good-score spread (p95 − p5)`;
}

const MEANING_LABEL: Record<ReportSignature['meaning'], string> = { reviewed: 'Reviewed', approved: 'Approved', responsible: 'Responsible' };

/** JSON inside a `<script>` element: `<`, `>` and `&` as \u escapes, so the text can never end the element (JSON.parse reads them back). */
const scriptJson = (json: string): string => json.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/** One printed signature line: who (printed name, account), meaning, when (UTC, ISO), what, and whether it verifies. */
function signatureRow(s: { printedName: string; signer: string; meaning: ReportSignature['meaning']; signedAt: string }, record: string, problem: string | null): string {
  return (
    `<tr><td><b>${esc(s.printedName)}</b><br><span class="small muted">account ${esc(s.signer)}</span></td><td>${esc(MEANING_LABEL[s.meaning] ?? s.meaning)}</td>` +
    `<td class="at">${esc(s.signedAt)}</td><td class="wrap">${esc(record)}</td>` +
    `<td>${problem === null ? '<span class="badge ok">VERIFIED</span>' : `<span class="badge bad">DOES NOT VERIFY</span><br><span class="small">${esc(problem)}</span>`}</td></tr>`
  );
}

/**
 * The Signatures section: the electronic signatures of the threshold in force and of the
 * activation of the model in force (from the data), then the report's own (a signed rendition).
 */
function signaturesSection(m: ReportModel, own: readonly Signature[] | undefined): string[] {
  const out: string[] = [];
  out.push(`<h2 data-section="signatures">Signatures</h2>`);
  const rows: string[] = m.signatures.map((s) => signatureRow(s, s.record, s.problem));
  if (own && own.length > 0) {
    const h = reportDataHash(m);
    for (const s of own) {
      const problem =
        s.recordKind !== 'report'
          ? `it signs a ${s.recordKind}, not a report`
          : s.contentHash !== h
            ? 'it covers other data than this report carries'
            : !signatureValid(s)
              ? 'the Ed25519 signature does not verify over its fields'
              : null;
      rows.push(signatureRow(s, `this report (${s.recordId}, data sha256 ${h.slice(0, 16)}…)`, problem));
    }
  }
  const signedRecords = [m.threshold.inForce ? 'the threshold in force' : null, m.modelInForce !== null ? `the activation of model v${m.modelInForce}` : null].filter((r) => r !== null).join(' and ');
  if (rows.length === 0) out.push(`<p class="muted">No electronic signatures${signedRecords ? ` on ${esc(signedRecords)}` : ''}.</p>`);
  else {
    out.push(`<table class="grid fixed sigs"><colgroup><col style="width:19%"><col style="width:12%"><col style="width:22%"><col style="width:31%"><col style="width:16%"></colgroup>`);
    out.push(`<thead><tr><th>Printed name</th><th>Meaning</th><th>Signed (UTC)</th><th>Record</th><th>Signature</th></tr></thead><tbody>`);
    out.push(...rows);
    out.push(`</tbody></table>`);
  }
  const notes: string[] = [];
  if (m.signatures.length > 0 && m.period.end !== null) notes.push('The threshold and the activation show the signatures made before the end of the period.');
  if (!own || own.length === 0) notes.push('This report itself is not signed electronically: signing its HTML or JSON export in Kensa writes a signed copy beside it (NAME.signed.html, NAME.signed.json) that kensa report verify checks.');
  else notes.push(`The report's own signatures cover the sha256 of the report data embedded in this file; kensa report verify checks them.`);
  out.push(`<p class="small muted">Each signature is an Ed25519 signature over the printed name, account, meaning, date and time, and the record's content hash. ${esc(notes.join(' '))}</p>`);
  return out;
}

/**
 * The report as one self-contained HTML document (print layout: A4 portrait), its data
 * embedded; `opts.reportSignatures`: the report's own signatures (a signed rendition).
 */
export function reportHtml(model: ReportModel, opts: ReportHtmlOptions = {}): string {
  const m = model;
  const x = m.metrics;
  const t = m.threshold.inForce;
  const out: string[] = [];
  out.push(`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">`);
  out.push(`<meta name="generator" content="${esc(`Kensa ${m.kensaVersion}`)}">`);
  out.push(`<title>${esc(`Inspection audit report — ${m.project.name}`)}</title>`);
  out.push(`<style>${pageCss(m)}${REPORT_CSS}</style></head><body>`);

  // ---- page 1: summary, audit chain, sign-off ----
  out.push(`<header class="titlebar"><div><div class="eyebrow">Inspection audit report</div><h1>${esc(m.project.name)}</h1><div class="folder mono">${esc(m.project.folder)}</div></div>`);
  out.push(`<table class="meta"><tbody>`);
  const meta: [string, string][] = [
    ['Period', periodText(m)],
    ['Generated', `${when(m.generatedAt)} UTC`],
    ['Kensa version', m.kensaVersion],
    ['Model in force', m.modelInForce === null ? 'none' : `v${m.modelInForce}`],
    ['Threshold in force', t ? num(t.value) : 'none'],
    ['Reviewed parts', String(m.parts.length)],
  ];
  for (const [k, v] of meta) out.push(`<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  out.push(`</tbody></table></header>`);

  if (x) {
    const c = x.confusion;
    const missedTone = c.fn > 0 ? 'bad' : x.defects > 0 ? 'good' : '';
    out.push(`<section class="cards">`);
    out.push(card('Recall', pct(x.recall), x.defects === 0 ? 'no defects reviewed' : `${c.tp} of ${x.defects} defects flagged`, missedTone));
    out.push(card('Missed defects', String(c.fn), c.fn === 0 ? 'zero misses at this threshold' : 'defects passed the line', missedTone));
    out.push(card('Precision', pct(x.precision), `${c.tp} of ${c.tp + c.fp} flagged were defects`));
    out.push(card(c.fn === 0 ? 'PG0' : 'Good passed', pct(x.pg0), c.fn === 0 ? `${c.tn} of ${x.goods} good parts passed` : `${c.tn} of ${x.goods}, NOT at zero misses`));
    out.push(card('Review load', pct(x.reviewLoad.share), `${x.reviewLoad.flagged} of ${x.reviewLoad.total} scored parts flagged`));
    out.push(`</section>`);

    out.push(`<div class="two"><div><h3>Confusion matrix at threshold ${esc(num(x.threshold))} (model v${x.modelVersion})</h3>`);
    out.push(`<table class="cm"><thead><tr><th></th><th>Flagged (score ≥ threshold)</th><th>Passed (score &lt; threshold)</th><th>Total</th></tr></thead><tbody>`);
    out.push(`<tr><th>Defect</th><td class="hit"><span class="c">${c.tp}</span><span class="l">TP · flagged</span></td><td class="${c.fn > 0 ? 'miss' : ''}"><span class="c">${c.fn}</span><span class="l">FN · missed</span></td><td><span class="c">${x.defects}</span></td></tr>`);
    out.push(`<tr><th>Good</th><td><span class="c">${c.fp}</span><span class="l">FP · false alarm</span></td><td><span class="c">${c.tn}</span><span class="l">TN · passed</span></td><td><span class="c">${x.goods}</span></td></tr>`);
    out.push(`<tr><th>Total</th><td><span class="c">${c.tp + c.fp}</span></td><td><span class="c">${c.fn + c.tn}</span></td><td><span class="c">${x.parts}</span></td></tr>`);
    out.push(`</tbody></table>`);
    out.push(`<p class="small muted">Over the ${x.parts} parts reviewed in the period that are scored by model v${x.modelVersion}${x.unscored > 0 ? ` (${x.unscored} unscored left out)` : ''}. A part scoring exactly the threshold is flagged.${x.auroc !== null ? ` Image AUROC ${num(x.auroc, 3)}.` : ''}</p></div>`);
  } else {
    out.push(`<div class="two"><div><h3>Figures</h3><p>No figures: ${m.modelInForce === null ? 'no model was active' : 'no threshold was in force'} at the end of the period.</p></div>`);
  }
  out.push(`<div><h3>Threshold in force</h3><div class="box">`);
  if (t) {
    out.push(`<dl><dt>Value</dt><dd><b>${esc(num(t.value))}</b>${t.modelVersion !== null ? ` (model v${t.modelVersion})` : ''}</dd>`);
    out.push(`<dt>Safety margin</dt><dd>${esc(marginText(t))}</dd>`);
    if (t.reviewUpper !== null) out.push(`<dt>Reject at</dt><dd>${esc(num(t.reviewUpper))} (review band [${esc(num(t.value))}, ${esc(num(t.reviewUpper))}))</dd>`);
    out.push(`<dt>Set by</dt><dd>${esc(t.setBy)}, ${esc(when(t.createdAt))} UTC</dd><dt>Reason</dt><dd class="wrap">${esc(t.reason)}</dd></dl>`);
  } else out.push(`<p>No threshold in force.</p>`);
  if (x && x.zeroMiss.status === 'ok') {
    const z = x.zeroMiss;
    out.push(`<p class="small" style="margin-top:2mm">Zero-miss threshold on these parts: <b>${esc(num(z.threshold))}</b> (weakest defect ${esc(num(z.raw))} − ${z.marginUsed === 'gap' ? `half the empty gap below it ${esc(num(z.marginToWeakest))}, wider than the margin ${esc(num(z.margin))}: no reviewed good part changes side` : `margin ${esc(num(z.margin))}`}), PG0 there ${esc(pct(z.pg0))}.${z.fewDefects ? ` <span class="badge warn">ONLY ${z.defects} DEFECT${z.defects === 1 ? '' : 'S'} REVIEWED (fewer than ${z.minDefects})</span>` : ''}</p>`);
  } else if (x) {
    out.push(`<p class="small" style="margin-top:2mm"><span class="badge warn">NO DEFECTS REVIEWED YET</span> No zero-miss threshold can be derived.</p>`);
  }
  out.push(`</div></div></div>`);

  const a = m.audit;
  out.push(`<h2>Audit trail</h2><div class="audit">`);
  out.push(`<span class="muted">Verification</span><span><span class="badge ${a.ok ? 'ok' : 'bad'}">${a.ok ? 'VERIFIED' : 'BROKEN'}</span> ${a.events} hash-chained events${a.ok ? ', every verdict, threshold and model row matches its event' : ` — ${esc(a.problem ?? '')}`}</span>`);
  out.push(`<span class="muted">Chain head</span><span class="hash">${a.headHash ? `#${a.headSeq} ${esc(a.headHash)}` : '(empty)'}</span>`);
  if (m.period.end !== null) out.push(`<span class="muted">Last event of period</span><span class="hash">${a.periodEnd ? `#${a.periodEnd.seq} ${esc(a.periodEnd.hash)}` : '(none)'}</span>`);
  out.push(`</div>`);

  if (m.notes.length > 0) out.push(`<div class="notes${a.ok ? '' : ' alarm'}">${m.notes.map((n) => `<p>${esc(n)}</p>`).join('')}</div>`);

  out.push(`<section class="sign"><div class="eyebrow" style="margin-bottom:1.5mm">Sign-off</div>`);
  out.push(`<p class="stmt">I have reviewed this report: the model and threshold in force, the threshold history, the figures and the reviewed parts listed, and the verification of the audit trail (chain head ${esc(a.headHash ? a.headHash.slice(0, 16) : '—')}…).</p>`);
  out.push(`<div class="fields"><div class="field"><b>Reviewed by</b><br>name and role</div><div class="field"><b>Signature</b></div><div class="field"><b>Date</b></div></div></section>`);

  // ---- page 2: electronic signatures, distribution, defect types, models, threshold history ----
  out.push(`<div class="pb"></div>`);
  out.push(...signaturesSection(m, opts.reportSignatures));
  if (x) {
    out.push(`<h2>Score distribution (model v${x.modelVersion}${x.histogram.log ? ', bar heights on a log scale' : ''})</h2>`);
    out.push(histogramSvg(x.histogram, x.threshold, x.zeroMiss.status === 'ok' ? x.zeroMiss.raw : null));
    out.push(`<div class="legend"><i style="background:#4f7cac"></i>good (reviewed)<i style="background:#c0392b"></i>defect (reviewed)<i style="background:#c9ced6"></i>other scored parts · dashed: threshold in force${x.zeroMiss.status === 'ok' ? ' · dotted red: weakest reviewed defect' : ''}</div>`);
    const pop = m.population;
    if (pop) {
      const n = (x: number): string => x.toLocaleString('en-US');
      out.push(`<h3>Parts by disposition (${n(pop.scored)} scored by model v${pop.modelVersion})</h3>`);
      out.push(`<table class="grid fixed" data-section="population"><colgroup><col style="width:34%"><col style="width:12%"><col style="width:9%"><col style="width:9%"><col style="width:9%"><col style="width:9%"><col style="width:9%"><col style="width:9%"></colgroup>`);
      out.push(`<thead><tr><th>Disposition</th><th class="n">Parts</th><th class="n">Share</th><th class="n">Min</th><th class="n">P5</th><th class="n">Median</th><th class="n">P95</th><th class="n">Max</th></tr></thead><tbody>`);
      for (const r of pop.rows) {
        const sc = r.scores;
        const cells = sc ? [sc.min, sc.p05, sc.median, sc.p95, sc.max].map((v) => `<td class="n">${num(v)}</td>`).join('') : '<td class="n">—</td>'.repeat(5);
        const alarm = r.disposition === 'defect-missed' && r.parts > 0 ? ' style="color:var(--bad);font-weight:700"' : '';
        out.push(`<tr><td${alarm}>${esc(DISPOSITION_LABEL[r.disposition])}</td><td class="n"${alarm}>${n(r.parts)}</td><td class="n">${pct(r.share)}</td>${cells}</tr>`);
      }
      if (pop.unscored > 0) out.push(`<tr><td>Not scored by model v${pop.modelVersion}</td><td class="n">${n(pop.unscored)}</td><td class="n">—</td>${'<td class="n">—</td>'.repeat(5)}</tr>`);
      out.push(`</tbody></table>`);
      const unreviewed = pop.rows.filter((r) => r.disposition.startsWith('unreviewed-')).reduce((a, r) => a + r.parts, 0);
      out.push(`<p class="small muted">Flagged: score ≥ ${esc(num(pop.threshold))}. Every reviewed part is listed at the end of the report (and in the CSV export); the ${n(unreviewed)} scored parts without a verdict in the period are summarised here, not listed.</p>`);
    }
    out.push(`<h3>Recall per defect type</h3>`);
    if (x.byDefectType.length === 0) out.push(`<p class="muted">No defects reviewed.</p>`);
    else {
      out.push(`<table class="grid" style="width:130mm"><thead><tr><th>Defect type</th><th class="n">Defects</th><th class="n">Flagged</th><th class="n">Missed</th><th class="n">Recall</th></tr></thead><tbody>`);
      for (const d of x.byDefectType) {
        out.push(`<tr><td>${d.defectType === null ? '<span class="muted">(no type given)</span>' : esc(d.defectType)}</td><td class="n">${d.defects}</td><td class="n">${d.flagged}</td><td class="n"${d.missed > 0 ? ' style="color:var(--bad);font-weight:700"' : ''}>${d.missed}</td><td class="n">${pct(d.recall)}</td></tr>`);
      }
      out.push(`</tbody></table>`);
    }
  }

  out.push(`<h2>Model versions used in the period</h2>`);
  if (m.models.length === 0) out.push(`<p class="muted">No model versions.</p>`);
  else {
    out.push(`<table class="grid fixed"><colgroup><col style="width:14%"><col style="width:15%"><col style="width:31%"><col style="width:31%"><col style="width:9%"></colgroup>`);
    out.push(`<thead><tr><th>Version</th><th>Made (UTC)</th><th>Backbone</th><th>Model file</th><th class="n">Verdicts</th></tr></thead><tbody>`);
    for (const v of m.models) {
      const check = v.fileCheck === 'ok' ? '<span class="badge ok">FILE OK</span>' : `<span class="badge bad">${esc(v.fileCheck.toUpperCase())}</span>`;
      out.push(
        `<tr><td><b>v${v.version}</b>${v.inForce ? ' <span class="badge ok">IN FORCE</span>' : ''}<br><span class="small muted">${v.kind}${v.parentVersion !== null ? ` of v${v.parentVersion}` : ''} · ${esc(v.detector)}${v.facts ? ` · ${esc(v.facts)}` : ''}</span></td>` +
          `<td>${esc(when(v.createdAt))}<br><span class="small muted">by ${esc(v.createdBy)}</span></td>` +
          `<td>${esc(v.backboneId)}<div class="hashline">sha256 ${esc(v.backboneSha256)}</div></td>` +
          `<td>${esc(v.modelFile ?? '—')} ${check}<div class="hashline">sha256 ${esc(v.modelSha256 ?? '—')}</div></td><td class="n">${v.verdicts}</td></tr>`,
      );
    }
    out.push(`</tbody></table>`);
  }

  out.push(`<h2>Threshold history</h2>`);
  if (m.threshold.history.length === 0) out.push(`<p class="muted">No thresholds set.</p>`);
  else {
    out.push(`<table class="grid fixed"><colgroup><col style="width:15%"><col style="width:7%"><col style="width:10%"><col style="width:12%"><col style="width:15%"><col></colgroup>`);
    out.push(`<thead><tr><th>When (UTC)</th><th>Model</th><th class="n">Value</th><th>Margin</th><th>Set by</th><th>Reason</th></tr></thead><tbody>`);
    for (const h of m.threshold.history) {
      const current = t !== null && h.id === t.id;
      out.push(
        `<tr${current ? ' style="background:var(--okbg)"' : ''}><td>${esc(when(h.createdAt))}</td><td>${h.modelVersion === null ? '—' : `v${h.modelVersion}`}</td><td class="n"><b>${esc(num(h.value))}</b>${h.reviewUpper !== null ? `<br><span class="small muted">reject ≥ ${esc(num(h.reviewUpper))}</span>` : ''}</td>` +
          `<td>${h.margin === null ? '—' : esc(h.marginKind === 'absolute' ? num(h.margin) : `${h.margin} × spread`)}</td><td>${esc(h.setBy)}</td><td class="wrap">${esc(h.reason)}${current ? ' <span class="badge ok">IN FORCE</span>' : ''}</td></tr>`,
      );
    }
    out.push(`</tbody></table>`);
  }

  // ---- thumbnails ----
  const th = m.thumbnails;
  if (th.eligible > 0) {
    out.push(`<h2 class="pb">Flagged and missed parts</h2>`);
    out.push(`<p class="small muted">${th.items.length} of ${th.eligible} parts (missed first, then flagged, by score). Heatmap on model v${m.modelInForce ?? '—'}'s fixed colour scale; a red frame marks a missed defect.</p>`);
    out.push(`<div class="thumbs">`);
    for (const it of th.items) {
      const img = it.dataUrl ? `<img src="${it.dataUrl}" width="${it.width}" height="${it.height}" alt="${esc(it.path)}">` : `<div class="noimg">${esc(it.note ?? 'no image')}</div>`;
      const tone = it.outcome === 'FN' ? 'bad' : it.outcome === 'TP' ? 'ok' : 'warn';
      out.push(
        `<figure class="${it.outcome}">${img}<figcaption><div class="name">${esc(path.basename(it.path))}</div>` +
          `<div class="row"><span class="badge ${tone}">${esc(OUTCOME_LABEL[it.outcome].toUpperCase())}</span><span class="score">${esc(num(it.score))}</span></div>` +
          `<div class="muted">${it.verdict === 'defect' ? `defect${it.defectType ? `: ${esc(it.defectType)}` : ''}` : 'good part'}</div>${it.dataUrl && it.note ? `<div class="muted">${esc(it.note)}</div>` : ''}</figcaption></figure>`,
      );
    }
    out.push(`</div>`);
  }

  // ---- every reviewed part ----
  out.push(`<h2 class="pb">Reviewed parts (${m.parts.length})</h2>`);
  out.push(`<p class="small muted">Score, model and threshold at review: what the reviewer saw. Outcome: at the threshold in force${x ? ` (${esc(num(x.threshold))})` : ''} on the score under model v${m.modelInForce ?? '—'}. SHA-256 of the image file as imported.</p>`);
  if (m.parts.length > 0) {
    out.push(`<table class="grid parts fixed"><colgroup><col style="width:4%"><col style="width:30%"><col style="width:8%"><col style="width:10%"><col style="width:11%"><col style="width:5%"><col style="width:8%"><col style="width:8%"><col style="width:7%"><col style="width:9%"></colgroup>`);
    out.push(`<thead><tr><th class="n">#</th><th>Part / SHA-256</th><th>Verdict</th><th>Reviewer</th><th>Reviewed (UTC)</th><th class="n">Model</th><th class="n">Score at review</th><th class="n">Thr. at review</th><th class="n">Score v${m.modelInForce ?? '—'}</th><th>Outcome</th></tr></thead><tbody>`);
    m.parts.forEach((p, i) => {
      out.push(
        `<tr><td class="n">${i + 1}</td><td><div class="path">${esc(p.path)}</div><div class="sha">${esc(p.sha256)}</div></td>` +
          `<td>${p.verdict}${p.defectType ? `<br><span class="muted">${esc(p.defectType)}</span>` : ''}${p.action === 'undo' ? '<br><span class="muted">(restored by undo)</span>' : ''}</td>` +
          `<td>${esc(p.reviewer)}</td><td>${esc(p.reviewedAt.slice(0, 10))}<br>${esc(p.reviewedAt.slice(11, 19))}</td><td class="n">${p.modelVersion === null ? '—' : `v${p.modelVersion}`}</td>` +
          `<td class="n">${num(p.scoreAtReview)}</td><td class="n">${num(p.thresholdAtReview)}</td><td class="n">${num(p.score)}</td>` +
          `<td class="${p.outcome ?? ''}">${p.outcome ? esc(OUTCOME_LABEL[p.outcome]) : '<span class="muted">not scored</span>'}</td></tr>`,
      );
    });
    out.push(`</tbody></table>`);
  }
  out.push(`<p class="small muted" style="margin-top:4mm">Definitions: a part is flagged when its score ≥ the threshold. Recall = TP / defects. Precision = TP / flagged. PG0 = share of good parts passed while no defect is missed. Review load = share of all scored parts flagged. Zero-miss threshold = the lowest reviewed defect score (the largest threshold that still flags every reviewed defect) minus the safety margin. Report format ${esc(m.format)} v${m.formatVersion}.</p>`);
  // The data (what a signature covers; `kensa report verify` reads it back), and the report's own signatures.
  out.push(`<script type="application/json" id="${REPORT_DATA_ID}">${scriptJson(reportJson(m).trimEnd())}</script>`);
  if (opts.reportSignatures) out.push(`<script type="application/json" id="${REPORT_SIGNATURES_ID}">${scriptJson(JSON.stringify(opts.reportSignatures))}</script>`);
  out.push(`</body></html>\n`);
  return out.join('\n');
}
