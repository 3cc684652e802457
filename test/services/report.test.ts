/**
 * The audit report end to end on a real project: generated parts, a real fit and scoring in the
 * engine worker, verdicts and threshold changes in a real database file. Checks that every
 * reviewed part is in the JSON / CSV with the right fields, that the figures match a count made
 * here from the queue, that the same state gives byte-identical HTML / CSV / JSON, that a
 * period looks from its end (later verdicts and thresholds do not leak in), that the PDF holds
 * the key numbers (pdftotext) and that 1,000 reviewed parts export to PDF quickly and small.
 * Page images of the PDF are left in $TMPDIR/kensa-report-preview/ to look at.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src-main/engine/core/random';
import { EngineClient } from '../../src-main/jobs/engine-client';
import { activationEvent, recordContentHash } from '../../src-main/services/accounts';
import { writeDemoImages, type DemoLayout } from '../../src-main/services/demo';
import { ProjectService } from '../../src-main/services/project-service';
import {
  buildReport,
  csvField,
  exportReport,
  findChromium,
  periodBound,
  reportCsv,
  reportHtml,
  reportJson,
  writeReportPdf,
  CSV_COLUMNS,
  type ReportModel,
} from '../../src-main/services/report/index';
import { REPORT_DATA_ID, reportContentHash, reportDataOf, verifyReportFile, writeSignedRendition } from '../../src-main/services/report-signing';
import { KENSA_VERSION } from '../../src-main/shared/version';
import { quantileSorted } from '../../src-main/services/threshold';
import {
  addImages,
  beginModel,
  completeModel,
  createAccount,
  putScores,
  recordVerdicts,
  setThreshold,
  signRecord,
  undoVerdict,
  type NewVerdict,
  type Signature,
} from '../../src-main/store/index';
import { newImages, readyModel } from '../store/helpers/fixtures';
import { kensa } from '../helpers/kensa-cli';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const have = existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING report tests: no backbone in ${shared}/models (set KENSA_SHARED)`);
const chromium = (() => {
  try {
    return findChromium();
  } catch {
    return null;
  }
})();
const havePoppler = spawnSync('pdftotext', ['-v']).status === 0 && spawnSync('pdftoppm', ['-v']).status === 0;
if (!chromium) console.warn('SKIPPING the PDF report tests: no Chromium (apt-get install chromium, or set KENSA_CHROMIUM)');
if (!havePoppler) console.warn('SKIPPING the PDF content checks: pdftotext / pdftoppm missing (apt-get install poppler-utils)');
const preview = path.join(os.tmpdir(), 'kensa-report-preview');

const GENERATED_AT = '2026-01-15T09:30:00.000Z';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF inside quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        f += '"';
        i++;
      } else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(f);
      f = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(f);
      rows.push(row);
      row = [];
      f = '';
      i++;
    } else f += c;
  }
  if (f !== '' || row.length > 0) throw new Error('CSV does not end with CRLF');
  return rows;
}

function pdfText(file: string): string {
  return execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
}

interface Word {
  t: string;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The words of one PDF page with their boxes (pdftotext -bbox). */
function pdfWords(file: string, page: number): Word[] {
  const html = execFileSync('pdftotext', ['-bbox', '-f', String(page), '-l', String(page), file, '-'], { encoding: 'utf8' });
  return [...html.matchAll(/<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g)].map((m) => ({
    t: m[5]!.replace(/&amp;/g, '&'),
    x0: Number(m[1]),
    y0: Number(m[2]),
    x1: Number(m[3]),
    y1: Number(m[4]),
  }));
}

/** The number printed just above a cell label (the confusion-matrix cell "7 / TP · flagged"). */
function numberAbove(words: Word[], label: string): number {
  const l = words.find((w) => w.t === label);
  if (!l) throw new Error(`no "${label}" on the page`);
  const cx = (l.x0 + l.x1) / 2;
  const above = words.filter((w) => /^\d+$/.test(w.t) && w.y1 <= l.y0 + 1 && l.y0 - w.y1 < 30 && Math.abs((w.x0 + w.x1) / 2 - cx) < 60);
  above.sort((a, b) => l.y0 - a.y1 - (l.y0 - b.y1));
  if (above.length === 0) throw new Error(`no number above "${label}"`);
  return Number(above[0]!.t);
}


describe('report pieces without a project', () => {
  it('CSV fields follow RFC 4180', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(1.5)).toBe('1.5');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
  });

  it('period bounds: a date covers its whole UTC day; timestamps are inclusive; bad input is refused', () => {
    expect(periodBound('2026-03-01', 'from')).toBe('2026-03-01T00:00:00.000Z');
    expect(periodBound('2026-03-31', 'to')).toBe('2026-04-01T00:00:00.000Z');
    expect(periodBound('2026-03-31T12:00:00Z', 'to')).toBe('2026-03-31T12:00:00.001Z');
    expect(periodBound(undefined, 'from')).toBeNull();
    expect(() => periodBound('2026-02-30', 'to')).toThrow(/not a calendar date/);
    expect(() => periodBound('yesterday', 'from')).toThrow(/not an ISO date/);
  });

  it('no Chromium: a clear error that says how to install it', async () => {
    expect(() => findChromium({ KENSA_CHROMIUM: '/nonexistent/chrome' })).toThrow(/KENSA_CHROMIUM is set to \/nonexistent\/chrome, which does not exist/);
    const out = path.join(os.tmpdir(), `kensa-nopdf-${process.pid}.pdf`);
    await expect(writeReportPdf('<p>x</p>', out, { chromium: '/nonexistent/chromium-binary' })).rejects.toThrow(/apt-get install chromium.*KENSA_CHROMIUM/);
    await expect(writeReportPdf('<p>x</p>', out, { chromium: '/bin/false' })).rejects.toThrow(/did not print the report to PDF \(exit 1\)/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('report on a project without a model, then with its audit trail tampered with', () => {
  let tmp: string;
  let svc: ProjectService;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-report-plain-'));
    svc = await ProjectService.create(path.join(tmp, 'plain'), 'Plain', 'alice');
    const { ids } = addImages(
      svc.db,
      'b1',
      ['a', 'b', 'c'].map((n) => ({ path: `parts/${n}.png`, sha256: sha(n), bytes: 1, width: 64, height: 48, format: 'png', role: 'inspect' as const })),
      'alice',
    );
    recordVerdicts(svc.db, [
      { imageId: ids[0]!, verdict: 'good', reviewer: 'bob' },
      { imageId: ids[1]!, verdict: 'good', reviewer: 'bob' },
      { imageId: ids[2]!, verdict: 'defect', defectType: 'dent', reviewer: 'bob' },
    ]);
  });
  afterAll(() => {
    svc?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the parts and says plainly that there are no figures', async () => {
    const m = await buildReport(svc, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT });
    expect(m).toMatchObject({ modelInForce: null, metrics: null, models: [], threshold: { inForce: null, history: [] }, thumbnails: { eligible: 0, items: [] } });
    expect(m.parts.map((p) => [p.path, p.verdict, p.outcome, p.score])).toEqual([
      ['parts/a.png', 'good', null, null],
      ['parts/b.png', 'good', null, null],
      ['parts/c.png', 'defect', null, null],
    ]);
    expect(m.notes).toEqual(['No model was active at the end of the period: no figures can be computed.']);
    const html = reportHtml(m);
    expect(html).toContain('No figures: no model was active at the end of the period.');
    expect(html).not.toMatch(/NaN|undefined/);
    expect(parseCsv(reportCsv(m))).toHaveLength(4);
  });

  it('a verdict edited behind the audit trail: the report says BROKEN on page 1 and the CLI exits 1', async () => {
    svc.db.exec('DROP TRIGGER verdicts_no_update');
    svc.db.prepare("UPDATE verdicts SET verdict = 'good', defect_type = NULL WHERE verdict = 'defect'").run();
    const m = await buildReport(svc, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT });
    expect(m.audit.ok).toBe(false);
    expect(m.audit.problem).toMatch(/^event \d+: /);
    expect(m.notes[0]).toMatch(/^THE AUDIT TRAIL FAILS VERIFICATION/);
    const html = reportHtml(m);
    expect(html).toContain('<span class="badge bad">BROKEN</span>');
    const out = path.join(tmp, 'broken.html');
    const r = await kensa(['report', path.join(tmp, 'plain'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('kensa: the audit chain FAILS verification: the report says so on its first page (see kensa audit verify)\n');
    expect(readFileSync(out, 'utf8')).toContain('BROKEN');
  });
});

describe('a line of 3,000 parts: every reviewed part listed, the rest summarised', () => {
  let tmp: string;
  let svc: ProjectService;
  let ids: number[];
  const reviewed = new Map<number, 'good' | 'defect'>();
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-report-line-'));
    svc = await ProjectService.create(path.join(tmp, 'line'), 'Line', 'alice');
    ids = addImages(svc.db, 'b', newImages(3000), 'alice').ids;
    const m = readyModel(svc.db);
    const rng = new Rng(3);
    putScores(svc.db, m.version, ids.slice(0, 2900).map((imageId) => ({ imageId, score: 1 + 0.3 * rng.normal() + (imageId % 97 === 0 ? 1.5 : 0), maxPatchScore: 1 })));
    setThreshold(svc.db, { modelVersion: m.version, value: 1.6, setBy: 'alice', reason: 'line', margin: 0.05, marginKind: 'absolute' });
    const verdicts: NewVerdict[] = [];
    for (const id of ids) {
      if (id % 97 === 0 || id % 41 === 0 || id === ids[2950]) {
        const v = id % 97 === 0 && id % 2 === 0 ? 'defect' : 'good';
        verdicts.push({ imageId: id, verdict: v, defectType: v === 'defect' ? 'dent' : null, reviewer: 'bob' });
        reviewed.set(id, v);
      }
    }
    recordVerdicts(svc.db, verdicts);
    const undone = verdicts[3]!.imageId;
    undoVerdict(svc.db, undone, 'bob'); // back to unreviewed: not listed
    reviewed.delete(undone);
  });
  afterAll(() => {
    svc?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('lists each reviewed part, counts every scored part by disposition with its score spread, and lists no other part', async () => {
    const m = await buildReport(svc, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT, maxThumbnails: 5 });
    expect(m.parts.map((p) => p.imageId).sort((a, b) => a - b)).toEqual([...reviewed.keys()].sort((a, b) => a - b));
    const pop = m.population!;
    expect(pop).toMatchObject({ modelVersion: 1, threshold: 1.6, scored: 2900, unscored: 100 });
    // a recount from the queue
    const want = new Map<string, number[]>();
    for (const q of svc.queue()) {
      if (q.score === null) continue;
      const v = reviewed.get(q.image.id);
      const d = v === undefined ? `unreviewed-${q.flagged ? 'flagged' : 'passed'}` : v === 'defect' ? (q.flagged ? 'defect-flagged' : 'defect-missed') : q.flagged ? 'good-flagged' : 'good-passed';
      want.set(d, [...(want.get(d) ?? []), q.score]);
    }
    expect(pop.rows.map((r) => r.disposition)).toEqual(['defect-flagged', 'defect-missed', 'good-flagged', 'good-passed', 'unreviewed-flagged', 'unreviewed-passed']);
    for (const r of pop.rows) {
      const xs = (want.get(r.disposition) ?? []).sort((a, b) => a - b);
      expect(r.parts, r.disposition).toBe(xs.length);
      expect(r.share).toBeCloseTo(xs.length / 2900, 12);
      if (xs.length === 0) expect(r.scores).toBeNull();
      else expect(r.scores).toMatchObject({ min: xs[0], max: xs.at(-1), median: quantileSorted(xs, 0.5), p05: quantileSorted(xs, 0.05), p95: quantileSorted(xs, 0.95) });
    }
    expect(pop.rows.reduce((a, r) => a + r.parts, 0)).toBe(2900);
    expect(m.metrics!.reviewLoad.total).toBe(2900);
    // the HTML lists exactly the reviewed parts' files; the others appear only as counts
    const html = reportHtml(m);
    const listed = [...html.matchAll(/<div class="path">([^<]*)<\/div>/g)].map((x) => x[1]);
    expect(listed.sort()).toEqual(m.parts.map((p) => p.path).sort());
    expect(html).toContain('Parts by disposition (2,900 scored by model v1)');
    expect(html).toContain(`the ${(pop.rows[4]!.parts + pop.rows[5]!.parts).toLocaleString('en-US')} scored parts without a verdict in the period are summarised here, not listed`);
    expect(m.thumbnails.items.length).toBeLessThanOrEqual(5);
    expect(JSON.parse(reportJson(m)).population.scored).toBe(2900);
    expect(m.formatVersion).toBe(3);
  });
});

describe('electronic signatures in the report (threshold in force, activation of the model in force, the report itself)', () => {
  let tmp: string;
  let svc: ProjectService;
  let thresholdId: string;
  let activationSeq: string;
  let beforeSigning: string;
  const PW = 'paula password';
  const signed: Signature[] = [];
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-report-signed-'));
    svc = await ProjectService.create(path.join(tmp, 'signed'), 'Signed line', 'alice');
    const { ids } = addImages(svc.db, 'b', newImages(6), 'alice');
    const m = readyModel(svc.db);
    putScores(svc.db, m.version, ids.map((imageId, i) => ({ imageId, score: 1 + 0.2 * i, maxPatchScore: 1 })));
    thresholdId = String(setThreshold(svc.db, { modelVersion: m.version, value: 1.5, setBy: 'alice', reason: 'between the goods and the defects', margin: 0.05, marginKind: 'absolute' }).id);
    recordVerdicts(svc.db, ids.map((imageId, i) => ({ imageId, verdict: i >= 3 ? 'defect' : 'good', defectType: i >= 3 ? 'dent' : null, reviewer: 'bob' })));
    createAccount(svc.db, { name: 'ann', printedName: 'Ann Admin', role: 'administrator', password: 'ann password' }, 'alice');
    createAccount(svc.db, { name: 'paula', printedName: 'Paula Approver', role: 'approver', password: PW }, 'ann');
    await sleep(5);
    beforeSigning = new Date().toISOString();
    await sleep(5);
    activationSeq = String(activationEvent(svc.db, m.version));
    signed.push(signRecord(svc.db, { recordKind: 'threshold', recordId: thresholdId, contentHash: recordContentHash(svc.db, 'threshold', thresholdId).contentHash, meaning: 'approved' }, 'paula', PW));
    signed.push(signRecord(svc.db, { recordKind: 'activation', recordId: activationSeq, contentHash: recordContentHash(svc.db, 'activation', activationSeq).contentHash, meaning: 'responsible' }, 'ann', 'ann password'));
  });
  afterAll(() => {
    svc?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const build = (extra: Partial<Parameters<typeof buildReport>[1]> = {}): Promise<ReportModel> =>
    buildReport(svc, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT, maxThumbnails: 0, ...extra });

  /** The rows of the HTML's Signatures table, as text cells. */
  const signatureRows = (html: string): string[][] => {
    const table = /<h2 data-section="signatures">Signatures<\/h2>\s*<table class="grid fixed sigs">([\s\S]*?)<\/table>/.exec(html);
    if (!table) return [];
    return [...table[1]!.matchAll(/<tr><td>([\s\S]*?)<\/tr>/g)].map((r) =>
      `<td>${r[1]!}`
        .split(/<td[^>]*>/)
        .slice(1)
        .map((c) => c.replace(/<br>/g, ' ').replace(/<[^>]+>/g, '').replace(/&#39;/g, "'").trim()),
    );
  };

  it('the model holds the signatures of the threshold in force and of the activation, checked; the HTML prints them', async () => {
    const m = await build();
    expect(m.signatures.map((s) => [s.recordKind, s.recordId, s.printedName, s.signer, s.meaning, s.signedAt, s.valid, s.problem])).toEqual([
      ['threshold', thresholdId, 'Paula Approver', 'paula', 'approved', signed[0]!.signedAt, true, null],
      ['activation', activationSeq, 'Ann Admin', 'ann', 'responsible', signed[1]!.signedAt, true, null],
    ]);
    expect(m.signatures[0]!.record).toBe(`threshold #${thresholdId}: 1.5000 (model v1)`);
    expect(m.signatures[1]!.record).toBe(`activation of model v1 (fit, audit event ${activationSeq})`);
    const html = reportHtml(m);
    expect(signatureRows(html)).toEqual([
      ['Paula Approver account paula', 'Approved', signed[0]!.signedAt, `threshold #${thresholdId}: 1.5000 (model v1)`, 'VERIFIED'],
      ['Ann Admin account ann', 'Responsible', signed[1]!.signedAt, `activation of model v1 (fit, audit event ${activationSeq})`, 'VERIFIED'],
    ]);
    expect(html).toContain('This report itself is not signed electronically');
    // the existing sections are all still there
    for (const h of ['Audit trail', 'Sign-off', 'Threshold history', 'Model versions used in the period', 'Reviewed parts (6)']) expect(html).toContain(h);

    // The data embedded in the HTML is the model (as in the JSON export); rendered again from it, the same bytes.
    const { data, signatures } = reportDataOf(html, 'report.html');
    expect(data).toEqual(JSON.parse(reportJson(m)));
    expect(signatures).toEqual([]);
    expect(reportHtml(data as unknown as ReportModel)).toBe(html);
    expect(html.match(new RegExp(`id="${REPORT_DATA_ID}"`, 'g'))).toHaveLength(1);

    // A report of the period before the signatures were made does not show them.
    const earlier = await build({ to: beforeSigning });
    expect(earlier.signatures).toEqual([]);
    expect(reportHtml(earlier)).toContain('No electronic signatures on the threshold in force and the activation of model v1.');
  });

  it('a signed HTML report (the signed rendition) prints its own signature and verifies; edited data fails', async () => {
    const exportsDir = path.join(svc.dir, 'exports');
    mkdirSync(exportsDir, { recursive: true });
    const name = 'audit-report-signed.html';
    const r = await exportReport(svc, path.join(exportsDir, name), { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT, maxThumbnails: 0 });
    expect(r.format).toBe('html');
    const { contentHash } = await reportContentHash(svc, name);
    const own = signRecord(svc.db, { recordKind: 'report', recordId: name, contentHash, meaning: 'approved' }, 'paula', PW);
    const files = await writeSignedRendition(svc, name, (data, sigs) => reportHtml(data as unknown as ReportModel, { reportSignatures: sigs }));
    const signedHtml = path.join(exportsDir, 'audit-report-signed.signed.html');
    expect(files).toEqual([path.join(exportsDir, 'audit-report-signed.signed.json'), signedHtml]);
    const text = readFileSync(signedHtml, 'utf8');
    const rows = signatureRows(text);
    expect(rows.map((c) => [c[0], c[1], c[2], c.at(-1)])).toEqual([
      ['Paula Approver account paula', 'Approved', signed[0]!.signedAt, 'VERIFIED'],
      ['Ann Admin account ann', 'Responsible', signed[1]!.signedAt, 'VERIFIED'],
      ['Paula Approver account paula', 'Approved', own.signedAt, 'VERIFIED'],
    ]);
    expect(rows[2]![3]).toBe(`this report (${name}, data sha256 ${contentHash.slice(0, 16)}…)`);
    expect(text).not.toContain('This report itself is not signed electronically');

    for (const file of [signedHtml, path.join(exportsDir, 'audit-report-signed.signed.json')]) {
      const v = await verifyReportFile(file, svc.db, svc.dir);
      expect(v, file).toMatchObject({ ok: true, problems: [], contentHash, project: { auditOk: true, headInChain: true } });
      expect(v.signatures.map((s) => [s.printedName, s.meaning, s.ok])).toEqual([['Paula Approver', 'approved', true]]);
    }

    // Edit the embedded data (one verdict), keep everything else.
    const re = new RegExp(`(<script type="application/json" id="${REPORT_DATA_ID}">)([\\s\\S]*?)(</script>)`);
    const [, open, json, close] = re.exec(text)!;
    const data = JSON.parse(json!) as ReportModel;
    data.parts[0]!.verdict = data.parts[0]!.verdict === 'good' ? 'defect' : 'good';
    const edited = path.join(tmp, 'edited.signed.html');
    writeFileSync(edited, text.replace(re, () => `${open}${JSON.stringify(data).replace(/</g, '\\u003c')}${close}`));
    const bad = await verifyReportFile(edited, svc.db, svc.dir);
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatch(/data was changed, or the signature belongs to another report/);
    // Signed data that quotes a '<' in a string survives the trip through the <script> element.
    expect(reportDataOf(`<script type="application/json" id="${REPORT_DATA_ID}">{"format":"x","s":"a\\u003c/script\\u003e\\\\u003c"}</script>`, 'f').data).toEqual({ format: 'x', s: 'a</script>\\u003c' });
  });

  it.skipIf(!chromium || !havePoppler)('the PDF prints the same Signatures section', async () => {
    const out = path.join(tmp, 'signed.pdf');
    await exportReport(svc, out, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT, maxThumbnails: 0 });
    execFileSync('pdftoppm', ['-png', '-r', '110', '-f', '1', '-l', '2', out, path.join(preview, 'signed')]);
    // Page 2 opens with the section; -layout keeps each table row on one line.
    const page2 = execFileSync('pdftotext', ['-layout', '-f', '2', '-l', '2', out, '-'], { encoding: 'utf8' });
    const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(page2).toMatch(/^.*Inspection audit report\s*\n\s*Signatures\s*\n\s*Printed name\s+Meaning\s+Signed \(UTC\)\s+Record\s+Signature\s*\n/);
    expect(page2).toMatch(new RegExp(`Paula Approver\\s+Approved\\s+${esc(signed[0]!.signedAt)}\\s+threshold #${thresholdId}: 1\\.5000 \\(model v1\\)\\s+VERIFIED`));
    expect(page2).toMatch(new RegExp(`Ann Admin\\s+Responsible\\s+${esc(signed[1]!.signedAt)}\\s+activation of model v1 \\(fit, audit\\s+VERIFIED`));
    expect(page2).toMatch(/account paula[\s\S]*account ann/);
    expect(page2).toContain(`event ${activationSeq})`);
  });

  it('a signature edited behind the store (last: it breaks the audit chain) prints DOES NOT VERIFY', async () => {
    svc.db.exec('DROP TRIGGER signatures_no_update');
    svc.db.prepare("UPDATE signatures SET printed_name = 'Someone Else' WHERE id = ?").run(signed[1]!.id);
    const m = await build();
    expect(m.signatures.map((s) => [s.printedName, s.valid, s.problem])).toEqual([
      ['Paula Approver', true, null],
      ['Someone Else', false, 'the Ed25519 signature does not verify over its fields'],
    ]);
    expect(signatureRows(reportHtml(m))[1]!.at(-1)).toBe('DOES NOT VERIFY the Ed25519 signature does not verify over its fields');
  });
});

describe.skipIf(!have)('audit report on a real project', () => {
  let tmp: string;
  let dir: string;
  let svc: ProjectService;
  let layout: DemoLayout;
  const engine = new EngineClient();
  /** Before any verdict; after bob's review; the threshold change and carol's re-review come after `cut`. */
  let beforeReview: string;
  let cut: string;
  let tuned: number;
  let recheckedId: number;

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-report-'));
    mkdirSync(preview, { recursive: true });
    layout = await writeDemoImages(path.join(tmp, 'data'), { train: 16, goodInspect: 10, defective: 8 });
    dir = path.join(tmp, 'washers');
    svc = await ProjectService.create(dir, 'Washers, line 2 "east"', 'alice');
    await svc.importImages([layout.trainDir], 'train', 'alice');
    await svc.importImages([layout.inspectDir], 'inspect', 'alice');
    await svc.fit(engine, {}, 'alice');
    await svc.score(engine);
    await sleep(5);
    beforeReview = new Date().toISOString();
    await sleep(5);
    // bob reviews every part (truth from the generator); one comment needs CSV quoting
    const truth = new Map(layout.defects.map((d) => [path.basename(d.file), d.defect]));
    const queue = svc.queue();
    const lastId = queue.filter((q) => !truth.has(path.basename(q.image.path))).at(-1)!.image.id;
    for (const q of queue) {
      const type = truth.get(path.basename(q.image.path));
      svc.verdict(type ? { imageId: q.image.id, verdict: 'defect', defectType: type } : { imageId: q.image.id, verdict: 'good', comment: q.image.id === lastId ? 'edge, "burr"\nok after wipe' : null }, 'bob');
    }
    await sleep(5);
    cut = new Date().toISOString();
    await sleep(5);
    // carol tunes the threshold so the weakest defect is MISSED, then re-checks one good part
    const defects = svc.queue().filter((q) => q.verdict?.verdict === 'defect').map((q) => q.score!).sort((a, b) => a - b);
    tuned = (defects[0]! + defects[1]!) / 2;
    svc.setThreshold(tuned, 'tuned between the two weakest defects to halve the review load', 'carol', { margin: 0.05, marginKind: 'absolute' });
    recheckedId = svc.queue().find((q) => q.verdict?.verdict === 'good')!.image.id;
    svc.verdict({ imageId: recheckedId, verdict: 'good', comment: 're-checked under the microscope' }, 'carol');
  });
  afterAll(async () => {
    svc?.close();
    await engine.terminate();
    rmSync(tmp, { recursive: true, force: true });
  });

  const build = (extra: Partial<Parameters<typeof buildReport>[1]> = {}): Promise<ReportModel> =>
    buildReport(svc, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT, ...extra });

  it('JSON and CSV hold every reviewed part with the right fields', async () => {
    const model = await build();
    const queue = svc.queue();
    expect(model.parts).toHaveLength(queue.length);
    const json = JSON.parse(reportJson(model)) as ReportModel;
    expect(json.parts).toHaveLength(queue.length);
    const t = svc.threshold()!.value;
    for (const q of queue) {
      const p = json.parts.find((x) => x.imageId === q.image.id)!;
      expect(p).toMatchObject({
        path: q.image.path,
        sha256: q.image.sha256,
        verdict: q.verdict!.verdict,
        defectType: q.verdict!.defectType,
        reviewer: q.verdict!.reviewer,
        reviewedAt: q.verdict!.createdAt,
        modelVersion: 1,
        scoreAtReview: q.score,
        score: q.score,
        outcome: q.verdict!.verdict === 'defect' ? (q.score! >= t ? 'TP' : 'FN') : q.score! >= t ? 'FP' : 'TN',
      });
    }
    // the sha256 is the file's own
    const p0 = json.parts[0]!;
    expect(sha(readFileSync(svc.abs(p0.path)))).toBe(p0.sha256);
    // keys are sorted at every level
    const keys = Object.keys(JSON.parse(reportJson(model)) as object);
    expect(keys).toEqual([...keys].sort());

    const rows = parseCsv(reportCsv(model));
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(queue.length + 1);
    const col = (name: (typeof CSV_COLUMNS)[number]): number => CSV_COLUMNS.indexOf(name);
    for (const r of rows.slice(1)) {
      expect(r).toHaveLength(CSV_COLUMNS.length);
      const q = queue.find((x) => x.image.id === Number(r[col('image_id')]))!;
      expect(r[col('path')]).toBe(q.image.path);
      expect(r[col('sha256')]).toBe(q.image.sha256);
      expect(r[col('verdict')]).toBe(q.verdict!.verdict);
      expect(r[col('defect_type')]).toBe(q.verdict!.defectType ?? '');
      expect(r[col('reviewer')]).toBe(q.verdict!.reviewer);
      expect(Number(r[col('score')])).toBe(q.score);
      expect(Number(r[col('threshold_in_force')])).toBe(t);
      expect(r[col('model_version_at_review')]).toBe('1');
    }
    // the comment with a comma, quotes and a line break survives the round trip
    expect(rows.some((r) => r[col('comment')] === 'edge, "burr"\nok after wipe')).toBe(true);
  });

  it('the figures match a count made from the queue at the threshold in force', async () => {
    const model = await build();
    const t = svc.threshold()!;
    expect(t.value).toBe(tuned);
    const q = svc.queue();
    const c = { tp: 0, fn: 0, fp: 0, tn: 0 };
    for (const e of q) {
      const flagged = e.score! >= t.value;
      if (e.verdict!.verdict === 'defect') c[flagged ? 'tp' : 'fn']++;
      else c[flagged ? 'fp' : 'tn']++;
    }
    const m = model.metrics!;
    expect(m.confusion).toEqual(c);
    expect(c.fn).toBe(1); // the weakest defect sits below the tuned threshold
    expect(m.recall).toBeCloseTo(c.tp / (c.tp + c.fn), 12);
    expect(m.precision).toBeCloseTo(c.tp / (c.tp + c.fp), 12);
    expect(m.pg0).toBeCloseTo(c.tn / (c.tn + c.fp), 12);
    expect(m).toMatchObject({ modelVersion: 1, threshold: tuned, parts: q.length, unscored: 0, defects: 8, goods: 10 });
    expect(m.byDefectType.map((d) => d.defectType)).toEqual(['chip', 'pit', 'scratch', 'stain']);
    expect(m.zeroMiss).toMatchObject({ status: 'ok', margin: 0.05, fewDefects: false });
    // models, threshold history (who / when / why), audit
    expect(model.models).toHaveLength(1);
    expect(model.models[0]).toMatchObject({ version: 1, inForce: true, fileCheck: 'ok', backboneId: 'mobilenetv2-dequant-fp32', verdicts: q.length });
    expect(model.models[0]!.backboneSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(model.models[0]!.modelSha256).toBe(sha(readFileSync(svc.abs(svc.activeModel()!.modelFile!))));
    expect(model.threshold.history.map((h) => h.setBy)).toEqual(['alice', 'carol']);
    expect(model.threshold.inForce).toMatchObject({ value: tuned, setBy: 'carol', margin: 0.05, marginKind: 'absolute', reason: expect.stringMatching(/halve the review load/) });
    expect(model.audit).toMatchObject({ ok: true, problem: null });
    expect(model.audit.headHash).toBe(svc.verifyAudit().headHash);
    // thumbnails: the missed part first, then the flagged ones; small JPEGs with the heatmap
    expect(model.thumbnails.eligible).toBe(c.tp + c.fn + c.fp);
    expect(model.thumbnails.items[0]!.outcome).toBe('FN');
    for (const th of model.thumbnails.items) {
      expect(th.dataUrl).toMatch(/^data:image\/jpeg;base64,/);
      expect(th.note).toBeNull();
      expect(Math.max(th.width, th.height)).toBeLessThanOrEqual(200);
    }
    expect((await build({ maxThumbnails: 2 })).thumbnails.items).toHaveLength(2);
  });

  it('is reproducible: the same state and generatedAt give byte-identical HTML, CSV and JSON', async () => {
    const a = await build();
    const b = await build();
    expect(reportJson(b)).toBe(reportJson(a));
    expect(reportCsv(b)).toBe(reportCsv(a));
    expect(reportHtml(b)).toBe(reportHtml(a));
    const html = reportHtml(a);
    expect(html).toContain(`Kensa ${KENSA_VERSION}`);
    expect(a.kensaVersion).toBe(KENSA_VERSION);
    expect(html).not.toMatch(/NaN|undefined|Infinity/);
    // the project name reaches the page header as a safe CSS string
    expect(html).toContain('@top-left { content: "Washers, line 2 \\"east\\"";');
  });

  it('a period looks from its end: later verdicts and thresholds do not leak in', async () => {
    const upToCut = await build({ to: cut });
    expect(upToCut.parts).toHaveLength(svc.queue().length);
    const rechecked = upToCut.parts.find((p) => p.imageId === recheckedId)!;
    expect(rechecked).toMatchObject({ reviewer: 'bob', comment: null });
    expect(upToCut.threshold.history.map((h) => h.setBy)).toEqual(['alice']);
    expect(upToCut.threshold.inForce!.setBy).toBe('alice');
    expect(upToCut.metrics!.threshold).toBe(upToCut.threshold.inForce!.value);
    expect(upToCut.audit.periodEnd!.seq).toBeLessThan(upToCut.audit.headSeq!);

    const afterCut = await build({ from: cut });
    expect(afterCut.parts.map((p) => p.imageId)).toEqual([recheckedId]);
    expect(afterCut.parts[0]).toMatchObject({ reviewer: 'carol', comment: 're-checked under the microscope' });

    // before any verdict: nothing reviewed, no defects → explicit states, nothing NaN
    const empty = await build({ to: beforeReview });
    expect(empty.parts).toEqual([]);
    expect(empty.metrics).toMatchObject({ parts: 0, recall: null, precision: null, pg0: null, zeroMiss: { status: 'no-defects' } });
    expect(reportHtml(empty)).toContain('NO DEFECTS REVIEWED YET');
    expect(reportHtml(empty)).not.toMatch(/NaN|undefined/);
    await expect(build({ from: '2026-03-02', to: '2026-03-01' })).rejects.toThrow(/the period is empty/);
  });

  it.skipIf(!chromium || !havePoppler)('exports a PDF with the key numbers, the audit head and the signature block', async () => {
    const out = path.join(tmp, 'out', 'report.pdf');
    const r = await exportReport(svc, out, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT });
    expect(r).toMatchObject({ format: 'pdf', parts: 18, auditOk: true });
    expect(readFileSync(out).subarray(0, 5).toString()).toBe('%PDF-');
    const model = await build();
    const m = model.metrics!;
    const text = pdfText(out);
    const flat = text.replace(/\s+/g, ' ');
    expect(flat).toContain(`${(100 * m.recall!).toFixed(1)}%`);
    expect(flat).toContain(`${(100 * m.precision!).toFixed(1)}%`);
    // the confusion-matrix cells on page 1: the number printed above each label
    const page1 = pdfWords(out, 1);
    expect({ tp: numberAbove(page1, 'TP'), fn: numberAbove(page1, 'FN'), fp: numberAbove(page1, 'FP'), tn: numberAbove(page1, 'TN') }).toEqual(m.confusion);
    expect(flat).toContain(`${m.confusion.tp} of ${m.defects} defects flagged`);
    expect(flat).toContain(`threshold ${tuned.toFixed(4)}`);
    expect(flat).toContain(model.audit.headHash!.slice(0, 16));
    expect(flat).toMatch(/Reviewed by .*Signature .*Date/);
    expect(flat).toContain(`Kensa ${KENSA_VERSION}`);
    expect(flat).toMatch(/Page 1 of \d+/);
    expect(flat).toContain('VERIFIED');
    // page images to look at
    execFileSync('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '3', out, path.join(preview, 'report')]);
    execFileSync('pdftoppm', ['-png', '-r', '110', '-f', '1', '-l', '1', out, path.join(preview, 'report-hi')]);
    console.log(`report pages: ${preview}/report-1.png (page 1 at 60 dpi), report-hi-1.png (110 dpi)`);
    // the other formats through the same entry point
    for (const ext of ['html', 'csv', 'json']) {
      const f = path.join(tmp, 'out', `report.${ext}`);
      expect((await exportReport(svc, f, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT })).format).toBe(ext);
    }
    expect(readFileSync(path.join(tmp, 'out', 'report.html'), 'utf8')).toBe(reportHtml(model));
    await expect(exportReport(svc, path.join(tmp, 'out', 'report.docx'), { kensaVersion: KENSA_VERSION })).rejects.toThrow(/use a \.pdf, \.html, \.csv or \.json file name/);
  });

  it('kensa report writes the file; errors are one line with the usual exit codes', async () => {
    const out = path.join(tmp, 'cli', 'r.json');
    const ok = await kensa(['report', dir, '--out', out, '--from', cut.slice(0, 10)]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^report written to .*r\.json \(json, \d+ bytes\): \d+ reviewed parts, \d+ thumbnails\n$/);
    expect((JSON.parse(readFileSync(out, 'utf8')) as ReportModel).kensaVersion).toBe(KENSA_VERSION);
    const noOut = await kensa(['report', dir]);
    expect(noOut).toMatchObject({ code: 2, stderr: 'kensa: report needs --out FILE.pdf, .html, .csv or .json\n' });
    const badExt = await kensa(['report', dir, '--out', path.join(tmp, 'r.txt')]);
    expect(badExt.code).toBe(1);
    expect(badExt.stderr).toMatch(/^kensa: error: cannot tell the report format from "r\.txt".*\n$/);
    const badDate = await kensa(['report', dir, '--out', out, '--to', '2026-13-01']);
    expect(badDate).toMatchObject({ code: 1, stderr: 'kensa: error: --to "2026-13-01" is not a calendar date (YYYY-MM-DD)\n' });
    const notProject = await kensa(['report', tmp, '--out', out]);
    expect(notProject.code).toBe(1);
    expect(notProject.stderr).toMatch(/is not a Kensa project/);
  });

  it.skipIf(!chromium || !havePoppler)('1,000 reviewed parts export to a PDF in seconds and stay small', async () => {
    // A second project on the same model file with 1,000 synthetic inspected parts (rows through
    // the store's repositories; images and maps are the real ones of the first project, reused).
    const big = await ProjectService.create(path.join(tmp, 'big'), 'Scale check: 1,000 parts', 'alice');
    try {
      const m1 = svc.activeModel()!;
      mkdirSync(path.join(big.dir, 'models'), { recursive: true });
      copyFileSync(svc.abs(m1.modelFile!), path.join(big.dir, 'models', 'v0001.kensa'));
      beginModel(big.db, { kind: 'fit', backboneId: m1.backboneId, backboneSha256: m1.backboneSha256, config: {} }, 'alice');
      completeModel(big.db, 1, { modelFile: 'models/v0001.kensa', modelSha256: m1.modelSha256!, facts: m1.facts, fitSeconds: 1, ep: 'cpu' }, 'alice');
      const real = svc.queue();
      const N = 1000;
      const rows = Array.from({ length: N }, (_, i) => {
        const src = real[i % real.length]!.image;
        return { path: svc.abs(src.path), sha256: sha(`synthetic part ${i}`), bytes: src.bytes, width: src.width, height: src.height, format: src.format, role: 'inspect' as const };
      });
      const { ids } = addImages(big.db, 'synthetic', rows, 'alice');
      const rng = new Rng(7);
      const kinds = ['scratch', 'pit', 'chip', 'stain'];
      const parts = ids.map((id, i) => {
        const isDefect = i % 10 === 0;
        const score = isDefect ? 2 + 0.35 * rng.normal() : 1 + 0.2 * rng.normal();
        const src = real[i % real.length]!;
        return { id, isDefect, score, type: kinds[(i / 10) % 4]!, map: svc.abs(`maps/v0001/${src.image.id}.png`) };
      });
      putScores(big.db, 1, parts.map((p) => ({ imageId: p.id, score: p.score, maxPatchScore: p.score, mapFile: p.map })));
      setThreshold(big.db, { modelVersion: 1, value: 1.45, setBy: 'alice', reason: 'scale check', margin: 0.1, marginKind: 'absolute' });
      const verdicts: NewVerdict[] = parts.map((p, i) => ({
        imageId: p.id,
        verdict: p.isDefect ? 'defect' : 'good',
        defectType: p.isDefect ? p.type : null,
        reviewer: ['bob', 'carol', 'dan'][i % 3]!,
        modelVersion: 1,
        threshold: 1.45,
        scoreShown: p.score,
      }));
      recordVerdicts(big.db, verdicts);

      const out = path.join(tmp, 'big-report.pdf');
      const t0 = performance.now();
      const r = await exportReport(big, out, { kensaVersion: KENSA_VERSION, generatedAt: GENERATED_AT });
      const seconds = (performance.now() - t0) / 1000;
      const bytes = statSync(out).size;
      console.log(`1,000-part report: PDF exported in ${seconds.toFixed(2)} s, ${(bytes / 1024 / 1024).toFixed(2)} MB, ${r.thumbnails} thumbnails`);
      expect(r).toMatchObject({ parts: N, thumbnails: 60 });
      expect(bytes).toBeLessThan(20 * 1024 * 1024);
      const text = pdfText(out).replace(/\s+/g, ' ');
      expect(text).toContain('Reviewed parts (1000)');
      expect(text).toContain('Thumbnails: the first 60 of');
      execFileSync('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '3', out, path.join(preview, 'big')]);
      const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [out], { encoding: 'utf8' }))![1]);
      console.log(`1,000-part report: ${pages} pages`);
      execFileSync('pdftoppm', ['-png', '-r', '60', '-f', String(pages), '-l', String(pages), out, path.join(preview, 'big-last')]);
    } finally {
      big.close();
    }
  });
});
