/**
 * Signed audit reports and their verification (`kensa report verify FILE`).
 *
 * What a report signature covers: the report's data, the ReportModel (services/report/model.ts),
 * as canonical JSON (sorted keys), hashed with sha256: its content hash H. The record id is the
 * report's file name in exports/. A JSON report is the model itself; an HTML report carries the
 * same model in `<script type="application/json" id="kensa-report-data">`.
 *
 * Signing (sign.record with recordKind 'report') stores the signature in the project (audited)
 * and writes a signed rendition beside the report, `<name>.signed.json` — { report, signatures }
 * — and, for an HTML report, `<name>.signed.html` with the signature block printed (printed
 * name, date and time, meaning, H) and the same data embedded.
 *
 * verifyReportFile checks, and names the first thing that fails:
 *   1. the data still hashes to the H every signature covers (an edit to the data breaks it);
 *   2. each signature is a valid Ed25519 signature over its own fields (signer, printed name,
 *      meaning, time, record, H) — a signature taken from another record covers another H or id;
 *   3. with the project at hand: the project holds the same signatures (same id, same bytes),
 *      the project's audit chain verifies, and the report's audit head (seq, hash) is an event
 *      of that chain.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../engine/model-file';
import { KensaError } from '../shared/errors';
import { canonicalJson, sha256Hex, signatureValid, signaturesFor, verifyAudit, type Db, type Signature } from '../store/index';
import type { ProjectService } from './project-service';

export const REPORT_DATA_ID = 'kensa-report-data';
/** The report's own signatures beside its data, in a signed HTML rendition. */
export const REPORT_SIGNATURES_ID = 'kensa-report-signatures';

type ReportData = Record<string, unknown> & { audit?: { headSeq?: number | null; headHash?: string | null } };

/** The report data (the model) inside a report file's text: a JSON report, a signed JSON rendition, or an HTML report. */
export function reportDataOf(text: string, file: string): { data: ReportData; signatures: Signature[] } {
  const t = text.trimStart();
  if (t.startsWith('{')) {
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch (e) {
      throw new KensaError('INVALID_ARGUMENT', `${file} is not valid JSON: ${(e as Error).message}`, { file });
    }
    const o = j as { report?: unknown; signatures?: unknown; format?: unknown };
    if (o.report && typeof o.report === 'object') return { data: o.report as ReportData, signatures: Array.isArray(o.signatures) ? (o.signatures as Signature[]) : [] };
    if (typeof o.format === 'string') return { data: o as ReportData, signatures: [] };
    throw new KensaError('INVALID_ARGUMENT', `${file} is not a Kensa report (no report data)`, { file });
  }
  const m = new RegExp(`<script type="application/json" id="${REPORT_DATA_ID}">([\\s\\S]*?)</script>`).exec(text);
  if (!m) throw new KensaError('INVALID_ARGUMENT', `${file} carries no report data: only JSON reports and HTML reports written by Kensa can be verified`, { file });
  const sig = new RegExp(`<script type="application/json" id="${REPORT_SIGNATURES_ID}">([\\s\\S]*?)</script>`).exec(text);
  // The writer (report/html.ts) escapes <, > and & as \u003c, \u003e, \u0026 inside the JSON: JSON.parse reads them back.
  const parse = (json: string, what: string): unknown => {
    try {
      return JSON.parse(json);
    } catch (e) {
      throw new KensaError('INVALID_ARGUMENT', `${file}: the embedded ${what} is not valid JSON: ${(e as Error).message}`, { file });
    }
  };
  return { data: parse(m[1]!, 'report data') as ReportData, signatures: sig ? (parse(sig[1]!, 'signatures') as Signature[]) : [] };
}

/** H: sha256 of the data's canonical JSON. */
export function reportDataHash(data: unknown): string {
  return sha256Hex(canonicalJson(data as never));
}

function exportsPath(p: ProjectService, name: string): string {
  if (name !== path.basename(name) || name.startsWith('.')) throw new KensaError('INVALID_ARGUMENT', `a report is named by its file name in exports/ (got ${name})`);
  const file = path.join(p.dir, 'exports', name);
  if (!existsSync(file)) throw new KensaError('NOT_FOUND', `no report ${name} in ${path.join(p.dir, 'exports')}`, { file });
  return file;
}

/** The content hash a signature of the report `name` (a file in exports/) covers. */
export async function reportContentHash(p: ProjectService, name: string): Promise<{ contentHash: string; file: string }> {
  const file = exportsPath(p, name);
  if (name.endsWith('.pdf') || name.endsWith('.csv')) throw new KensaError('INVALID_ARGUMENT', `sign the JSON or HTML export of a report (${name} carries no report data); the PDF is printed from the same data`);
  const { data } = reportDataOf(await readFile(file, 'utf8'), file);
  return { contentHash: reportDataHash(data), file };
}

/** Writes `<name>.signed.json` (and `.signed.html` for an HTML report) with every signature of the report so far. */
export async function writeSignedRendition(p: ProjectService, name: string, renderHtml?: (data: ReportData, signatures: Signature[]) => string): Promise<string[]> {
  const file = exportsPath(p, name);
  const { data } = reportDataOf(await readFile(file, 'utf8'), file);
  const sigs = signaturesFor(p.db, 'report', name);
  const base = name.replace(/\.(json|html)$/, '');
  const out = [path.join(p.dir, 'exports', `${base}.signed.json`)];
  await writeFileAtomic(out[0]!, Buffer.from(`${JSON.stringify({ report: data, signatures: sigs }, null, 2)}\n`, 'utf8'));
  if (renderHtml && name.endsWith('.html')) {
    const html = path.join(p.dir, 'exports', `${base}.signed.html`);
    await writeFileAtomic(html, Buffer.from(renderHtml(data, sigs), 'utf8'));
    out.push(html);
  }
  return out;
}

export interface ReportVerification {
  ok: boolean;
  file: string;
  contentHash: string;
  signatures: { id: number; signer: string; printedName: string; meaning: string; signedAt: string; ok: boolean; why: string | null }[];
  /** Checked against the project database (null: no project given or found). */
  project: { dir: string; auditOk: boolean; headInChain: boolean } | null;
  problems: string[];
}

/** Verifies a signed report file (see the top of this file); `db`: the project's database, when at hand. */
export async function verifyReportFile(file: string, db: Db | null, projectDir: string | null): Promise<ReportVerification> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new KensaError(e.code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_ARGUMENT', `cannot read ${file}: ${e.message}`, { file });
  });
  const { data, signatures } = reportDataOf(text, file);
  const h = reportDataHash(data);
  const problems: string[] = [];
  if (signatures.length === 0) problems.push('the report carries no signatures');
  const checked = signatures.map((s) => {
    let why: string | null = null;
    if (s.recordKind !== 'report') why = `it signs a ${s.recordKind}, not a report`;
    else if (s.contentHash !== h) why = `it covers data ${s.contentHash.slice(0, 12)}…, but the report's data hashes to ${h.slice(0, 12)}… (the data was changed, or the signature belongs to another report)`;
    else if (!signatureValid(s)) why = 'the Ed25519 signature does not verify over its fields (signer, meaning, time or record were changed)';
    if (why) problems.push(`signature ${s.id} (${s.printedName}, ${s.meaning}): ${why}`);
    return { id: s.id, signer: s.signer, printedName: s.printedName, meaning: s.meaning, signedAt: s.signedAt, ok: why === null, why };
  });
  let project: ReportVerification['project'] = null;
  if (db) {
    const audit = verifyAudit(db);
    if (!audit.ok) problems.push(`the project's audit chain fails: ${audit.firstBad?.reason ?? 'unknown'}`);
    for (const s of signatures) {
      const inDb = db.prepare('SELECT signature, content_hash, record_id FROM signatures WHERE id = ?').get(s.id) as { signature: string; content_hash: string; record_id: string } | undefined;
      if (!inDb) problems.push(`signature ${s.id} is not in the project's database`);
      else if (inDb.signature !== s.signature || inDb.content_hash !== s.contentHash || inDb.record_id !== s.recordId) problems.push(`signature ${s.id} differs from the one the project recorded`);
    }
    const head = data.audit?.headSeq != null && data.audit.headHash != null ? { seq: data.audit.headSeq, hash: data.audit.headHash } : null;
    let headInChain = true;
    if (head) {
      const ev = db.prepare('SELECT hash FROM audit_events WHERE seq = ?').get(head.seq) as { hash: string } | undefined;
      headInChain = ev?.hash === head.hash;
      if (!headInChain) problems.push(`the report quotes audit event ${head.seq} with a hash the project's chain does not have`);
    }
    project = { dir: projectDir ?? '', auditOk: audit.ok, headInChain };
  }
  return { ok: problems.length === 0, file, contentHash: h, signatures: checked, project, problems };
}
