/**
 * Accounts, roles, second review and electronic signatures through the API (as the
 * transports drive it) and `kensa report verify`, on a real project with a real model:
 * the first account is the administrator; sign-in required; a reviewer may give verdicts but
 * not change the threshold; an approver signs the threshold and the model activation after
 * re-entering the password; a signed report verifies, and fails once its data is edited or a
 * signature from another report is swapped in; four eyes shows what waits for a second review.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountsData, ProjectState, QueuePage, ReportExport, SignatureInfo, TuningData } from '../../src-main/shared/api';
import { EngineClient } from '../../src-main/jobs/engine-client';
import { verifyReportFile } from '../../src-main/services/report-signing';
import { createWorkstation, type Workstation } from '../../src-main/services/workstation';
import { openProjectDb, verifyAudit } from '../../src-main/store/index';
import { bottleFiles, fittedProject, haveData } from './line/helpers';
import { kensaSync } from '../helpers/kensa-cli';
import { apiOf } from '../helpers/workstation-api';

if (!haveData) console.warn('SKIPPING signing tests: no bottle data / backbone in ../shared (set KENSA_SHARED)');

describe.skipIf(!haveData)('accounts, four eyes and signatures', () => {
  let tmp: string;
  let dir: string;
  let ws: Workstation;
  const { ok, err } = apiOf(() => ws);

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-sign-'));
    dir = path.join(tmp, 'project');
    const svc = await fittedProject(dir);
    await svc.importImages([...bottleFiles('test/good', 4), ...bottleFiles('test/broken_large', 3)], 'inspect', 'setup');
    const engine = new EngineClient();
    await svc.score(engine);
    await engine.terminate();
    svc.close();
    ws = await createWorkstation({ shell: 'browser', configDir: path.join(tmp, 'config') });
    await ok('projects.open', { dir });
  }, 180_000);

  afterAll(async () => {
    await ws?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the first account is an administrator; sign-in can only be required with one signed in', async () => {
    expect((await err('accounts.create', { name: 'ann', printedName: 'Ann Admin', role: 'reviewer', password: 'ann password' })).message).toMatch(/first account .* must be an administrator/);
    await ok('accounts.create', { name: 'ann', printedName: 'Ann Admin', role: 'administrator', password: 'ann password' });
    expect((await err('projects.updateSettings', { requireSignIn: true })).code).toBe('FORBIDDEN'); // nobody signed in
    expect((await err('accounts.signIn', { name: 'ann', password: 'wrong password' })).code).toBe('AUTH_FAILED');
    await ok('accounts.signIn', { name: 'ann', password: 'ann password' });
    await ok('accounts.create', { name: 'rick', printedName: 'Rick Reviewer', role: 'reviewer', password: '135790' });
    await ok('accounts.create', { name: 'paula', printedName: 'Paula Approver', role: 'approver', password: 'paula password' });
    await ok('projects.updateSettings', { requireSignIn: true, fourEyes: true });
    const a = await ok<AccountsData>('accounts.list');
    expect(a.accounts.map((x) => [x.name, x.role])).toEqual([
      ['ann', 'administrator'],
      ['paula', 'approver'],
      ['rick', 'reviewer'],
    ]);
    expect(a).toMatchObject({ requireSignIn: true, fourEyes: true, signedIn: { name: 'ann' } });
  });

  it('roles: a reviewer gives verdicts but may not move the threshold or manage accounts; four eyes needs a second person', async () => {
    await ok('accounts.signIn', { name: 'rick', password: '135790' });
    const q = await ok<QueuePage>('review.queue', { filter: 'flagged' });
    expect(q.items.length).toBeGreaterThan(0);
    const part = q.items[0]!;
    await ok('review.verdict', { imageId: part.imageId, verdict: 'good' });
    expect((await err('threshold.set', { value: 1, reason: 'try' })).message).toMatch(/rick is a reviewer: only an approver or administrator may change the threshold/);
    expect((await err('accounts.update', { name: 'paula', disabled: true })).code).toBe('FORBIDDEN');
    expect((await ok<AccountsData>('accounts.list')).awaitingSecond.map((w) => w.imageId)).toEqual([part.imageId]);
    expect((await ok<ProjectState>('projects.state')).pendingRefit).toBe(0); // not in the bank before a second review
    expect((await err('review.confirm', { imageId: part.imageId })).message).toMatch(/needs a second person/);
    await ok('accounts.signOut');
    expect((await err('review.verdict', { imageId: part.imageId, verdict: 'good' })).message).toMatch(/sign in to give verdicts/);
    await ok('accounts.signIn', { name: 'paula', password: 'paula password' });
    await ok('review.confirm', { imageId: part.imageId });
    expect((await ok<AccountsData>('accounts.list')).awaitingSecond).toEqual([]);
    expect((await ok<ProjectState>('projects.state')).pendingRefit).toBe(1);
  });

  it('an approver signs the threshold and the model activation with the password; a reviewer may only sign as reviewed', async () => {
    const st = await ok<ProjectState>('threshold.set', { value: 1.5, reason: 'tuned on the reviewed parts' });
    expect(st.threshold?.value).toBe(1.5);
    const tid = String((openProjectDb(path.join(dir, 'kensa.db')).prepare('SELECT max(id) FROM thresholds').pluck().get() as number));
    expect((await err('sign.record', { recordKind: 'threshold', recordId: tid, meaning: 'approved', password: 'wrong password' })).code).toBe('AUTH_FAILED');
    const s = await ok<SignatureInfo>('sign.record', { recordKind: 'threshold', recordId: tid, meaning: 'approved', password: 'paula password' });
    expect(s).toMatchObject({ recordKind: 'threshold', recordId: tid, meaning: 'approved', signer: 'paula', printedName: 'Paula Approver', valid: true });
    const act = await ok<SignatureInfo>('sign.record', { recordKind: 'activation', version: 1, meaning: 'responsible', password: 'paula password' });
    expect(act).toMatchObject({ recordKind: 'activation', valid: true });
    await ok('accounts.signIn', { name: 'rick', password: '135790' });
    expect((await err('sign.record', { recordKind: 'threshold', recordId: tid, meaning: 'approved', password: '135790' })).message).toMatch(/signing as "approved" needs an approver/);
    await ok('sign.record', { recordKind: 'threshold', recordId: tid, meaning: 'reviewed', password: '135790' });
    expect((await ok<SignatureInfo[]>('sign.list', { recordKind: 'threshold', recordId: tid })).map((x) => [x.signer, x.meaning, x.valid])).toEqual([
      ['paula', 'approved', true],
      ['rick', 'reviewed', true],
    ]);
    // The records carry their signatures: the threshold history, the threshold in force, the model list.
    const sigLine = (x: SignatureInfo) => [x.printedName, x.meaning, x.valid];
    const history = (await ok<TuningData>('threshold.stats', {})).history;
    expect(history.at(-1)!.id).toBe(Number(tid));
    expect(history.at(-1)!.signatures.map(sigLine)).toEqual([
      ['Paula Approver', 'approved', true],
      ['Rick Reviewer', 'reviewed', true],
    ]);
    expect(history.slice(0, -1).every((h) => h.signatures.length === 0)).toBe(true);
    const state = await ok<ProjectState>('projects.state');
    expect(state.threshold!.signatures.map(sigLine)).toEqual(history.at(-1)!.signatures.map(sigLine));
    expect(state.models.find((m) => m.version === 1)!.signatures.map(sigLine)).toEqual([['Paula Approver', 'responsible', true]]);
    expect(state.activeModel!.signatures.map((x) => x.recordId)).toEqual([act.recordId]);
  });

  it('a signed report verifies; edited data or a signature from another report fails, with the reason (API and CLI)', async () => {
    await ok('accounts.signIn', { name: 'paula', password: 'paula password' });
    const r1 = await ok<ReportExport>('report.export', { format: 'json' });
    const name1 = path.basename(r1.file);
    const sig = await ok<SignatureInfo>('sign.record', { recordKind: 'report', recordId: name1, meaning: 'approved', password: 'paula password' });
    expect(sig.valid).toBe(true);
    const signed1 = path.join(dir, 'exports', name1.replace(/\.json$/, '.signed.json'));
    const db = openProjectDb(path.join(dir, 'kensa.db'));
    try {
      const good = await verifyReportFile(signed1, db, dir);
      expect(good).toMatchObject({ ok: true, problems: [] });
      expect(good.signatures.map((s) => [s.printedName, s.meaning, s.ok])).toEqual([['Paula Approver', 'approved', true]]);

      // Edit the report's data (one verdict), keep the signature.
      const j = JSON.parse(readFileSync(signed1, 'utf8')) as { report: { parts: { verdict: string }[] }; signatures: unknown[] };
      const edited = path.join(tmp, 'edited.signed.json');
      j.report.parts[0]!.verdict = j.report.parts[0]!.verdict === 'good' ? 'defect' : 'good';
      writeFileSync(edited, JSON.stringify(j));
      const bad = await verifyReportFile(edited, db, dir);
      expect(bad.ok).toBe(false);
      expect(bad.problems[0]).toMatch(/data was changed, or the signature belongs to another report/);

      // A second report (later data), signed; its signature swapped into the first report.
      await new Promise((r) => setTimeout(r, 20));
      const r2 = await ok<ReportExport>('report.export', { format: 'json' });
      const name2 = path.basename(r2.file);
      await ok('sign.record', { recordKind: 'report', recordId: name2, meaning: 'approved', password: 'paula password' });
      const s2 = JSON.parse(readFileSync(path.join(dir, 'exports', name2.replace(/\.json$/, '.signed.json')), 'utf8')) as { signatures: unknown[] };
      const swapped = JSON.parse(readFileSync(signed1, 'utf8')) as { signatures: unknown[] };
      swapped.signatures = s2.signatures;
      const swappedFile = path.join(tmp, 'swapped.signed.json');
      writeFileSync(swappedFile, JSON.stringify(swapped));
      expect((await verifyReportFile(swappedFile, db, dir)).ok).toBe(false);
      expect(verifyAudit(db).ok).toBe(true);
    } finally {
      db.close();
    }

    // The CLI says the same, with exit codes.
    const cli = (file: string) => kensaSync(['report', 'verify', file, '--project', dir]);
    const a = cli(signed1);
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/ok {2}signature \d+: Paula Approver \(paula\), approved/);
    expect(a.stdout).toMatch(/report verified/);
    const b = cli(path.join(tmp, 'edited.signed.json'));
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/does NOT verify/);
  }, 120_000);

  it('signing an HTML report writes a signed HTML copy that prints the signatures and verifies', async () => {
    const r = await ok<ReportExport>('report.export', { format: 'html' });
    const name = path.basename(r.file);
    const html = readFileSync(r.file, 'utf8');
    expect(html).toContain('<script type="application/json" id="kensa-report-data">');
    expect(html).toMatch(/Paula Approver<\/b><br><span class="small muted">account paula<\/span><\/td><td>Approved<\/td>/); // the threshold's signature
    const sig = await ok<SignatureInfo>('sign.record', { recordKind: 'report', recordId: name, meaning: 'approved', password: 'paula password' });
    const signedHtml = path.join(dir, 'exports', name.replace(/\.html$/, '.signed.html'));
    const text = readFileSync(signedHtml, 'utf8');
    expect(text).toContain(`<td class="at">${sig.signedAt}</td><td class="wrap">this report (${name}, data sha256 ${sig.contentHash.slice(0, 16)}…)</td>`);
    const db = openProjectDb(path.join(dir, 'kensa.db'));
    try {
      const v = await verifyReportFile(signedHtml, db, dir);
      expect(v).toMatchObject({ ok: true, problems: [], contentHash: sig.contentHash });
      expect(v.signatures.map((s) => [s.printedName, s.meaning, s.ok])).toEqual([['Paula Approver', 'approved', true]]);
    } finally {
      db.close();
    }
  });
});
