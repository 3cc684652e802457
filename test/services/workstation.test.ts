/**
 * The main side of the API contract, driven exactly as the transports drive it
 * (`call(method, args)` + events), on the generated sample project with the real engine.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResult, JobEvent, KensaEvent, MapData, ProjectState, QueueEntry, QueuePage, ReportExport, TuningData } from '../../src-main/shared/api';
import { writeDemoImages } from '../../src-main/services/demo';
import { createWorkstation, type Workstation } from '../../src-main/services/workstation';
import { apiOf } from '../helpers/workstation-api';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const have = existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING workstation tests: no backbone in ${shared}/models (set KENSA_SHARED)`);

describe.skipIf(!have)('Workstation (API main side)', () => {
  let tmp: string;
  let ws: Workstation;
  const events: KensaEvent[] = [];

  const { ok, err } = apiOf(() => ws);
  const jobDone = (kind: string): Promise<JobEvent> =>
    new Promise((resolve) => {
      const off = ws.onEvent((e) => {
        if (e.topic === 'job' && e.event.type !== 'progress' && e.event.kind === kind) {
          off();
          resolve(e.event);
        }
      });
    });

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-ws-'));
    ws = await createWorkstation({ shell: 'browser', configDir: path.join(tmp, 'config') });
    ws.onEvent((e) => events.push(e));
  });
  afterAll(async () => {
    await ws?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('rejects unknown methods and bad arguments with specific messages', async () => {
    expect(await err('nope.nothing')).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'unknown method "nope.nothing"' });
    expect((await err('review.verdict', { imageId: 'x', verdict: 'good' })).message).toMatch(/"imageId" must be an integer/);
    expect((await err('review.verdict', { imageId: 1, verdict: 'maybe' })).message).toMatch(/"verdict" must be one of good, defect/);
    expect((await err('threshold.set', { value: 1, reason: '   ' })).message).toMatch(/"reason" must not be empty/);
    expect((await err('app.setReviewer', { name: 'x', admin: true })).message).toMatch(/unknown field "admin"/);
    expect((await err('images.upload', { files: [{ name: '../evil.png', dataBase64: '' }], role: 'train' })).message).toMatch(/plain file name/);
    expect((await err('projects.state', 'a string'))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await err('review.queue', {})).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/no project is open/) });
  });

  it('the folder dialog: refused in the browser, the injected dialog in Electron', async () => {
    expect(await err('app.pickFolder', {})).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/type the folder path/) });
    const titles: string[] = [];
    const electronLike = await createWorkstation({ shell: 'electron', configDir: path.join(tmp, 'config-e'), pickFolder: async (t) => (titles.push(t), '/picked/folder') });
    const r = (await electronLike.call('app.pickFolder', { title: 'Folder of good parts' })) as ApiResult<{ path: string | null }>;
    await electronLike.close();
    expect(r).toEqual({ ok: true, value: { path: '/picked/folder' } });
    expect(titles).toEqual(['Folder of good parts']);
  });

  it('remembers the reviewer and creates the sample project', async () => {
    const info = await ok<{ reviewer: string | null; backbones: { id: string }[] }>('app.setReviewer', { name: 'Aiko' });
    expect(info.reviewer).toBe('Aiko');
    expect(info.backbones.map((b) => b.id)).toContain('mobilenetv2-dequant-fp32');
    const state = await ok<ProjectState>('projects.createDemo', { dir: path.join(tmp, 'demo') });
    expect(state.counts).toMatchObject({ train: 40, inspect: 24, scored: 0 });
    expect(events.some((e) => e.topic === 'project' && e.state?.name === 'Sample: machined washers')).toBe(true);
    // A second workstation on the same config remembers the reviewer and the recent project.
    const again = await createWorkstation({ shell: 'browser', configDir: path.join(tmp, 'config') });
    const r = (await again.call('app.info', {})) as ApiResult<{ reviewer: string; recent: { dir: string }[] }>;
    await again.close();
    expect(r.ok && r.value.reviewer).toBe('Aiko');
    expect(r.ok && r.value.recent[0]!.dir).toBe(path.join(tmp, 'demo'));
  });

  it('fits and scores as jobs with progress events; defects lead the queue', async () => {
    const fitDone = jobDone('fit');
    const { jobId } = await ok<{ jobId: string }>('jobs.fit', {});
    expect((await err('jobs.score', {})).message).toMatch(/already running/);
    const fit = await fitDone;
    expect(fit).toMatchObject({ type: 'done', jobId, summary: expect.stringMatching(/^model v1: patchcore, memory bank \d+ patches/) });
    expect(events.some((e) => e.topic === 'job' && e.event.type === 'progress' && e.event.progress.phase === 'coreset')).toBe(true);
    const scoreDone = jobDone('score');
    await ok('jobs.score', {});
    expect(await scoreDone).toMatchObject({ type: 'done', summary: expect.stringMatching(/^scored 24 parts with v1/) });
    const q = (await ok<QueuePage>('review.queue', {})).items;
    expect(q).toHaveLength(24);
    // Keyset pages over the API: the same parts in the same order, with the counts per filter.
    const paged: QueueEntry[] = [];
    let page = await ok<QueuePage>('review.queue', { limit: 10 });
    expect(page.counts).toMatchObject({ all: 24, unreviewed: 24 });
    paged.push(...page.items);
    while (page.next) {
      page = await ok<QueuePage>('review.queue', { limit: 10, after: page.next });
      paged.push(...page.items);
    }
    expect(paged.map((e) => e.imageId)).toEqual(q.map((e) => e.imageId));
    expect(await err('review.queue', { limit: 501 })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await err('review.queue', { after: { score: 'x', id: 1 } })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const state = await ok<ProjectState>('projects.state', {});
    expect(state.activeModel?.version).toBe(1);
    expect(state.threshold?.reason).toMatch(/initial threshold/);
    expect(state.colourScale!.high).toBeGreaterThan(state.colourScale!.low);
    // The sample's 10 defective parts (the generator is deterministic): all in the top 12.
    const layout = await writeDemoImages(path.join(tmp, 'layout-copy'));
    const defective = new Set(layout.defects.map((d) => path.basename(d.file)));
    expect(defective.size).toBe(10);
    expect(q.slice(0, 12).filter((e) => defective.has(e.name)).length).toBe(10);
    const map = await ok<MapData>('images.map', { imageId: q[0]!.imageId });
    expect(Buffer.from(map.valuesBase64, 'base64').length).toBe(map.width * map.height * 4);
    const thumb = await ok<{ mime: string; width: number }>('images.thumbnail', { imageId: q[0]!.imageId });
    expect(thumb).toMatchObject({ mime: 'image/jpeg', width: 160 });
  });

  it('verdicts, undo, threshold with a reason, and the flags follow the threshold', async () => {
    const q = (await ok<QueuePage>('review.queue', {})).items;
    const a = await ok<QueueEntry>('review.verdict', { imageId: q[0]!.imageId, verdict: 'defect', defectType: 'scratch' });
    expect(a).toMatchObject({ verdict: 'defect', defectType: 'scratch', reviewer: 'Aiko' });
    await ok('review.verdict', { imageId: q[1]!.imageId, verdict: 'good' });
    const undone = await ok<QueueEntry>('review.undo', { imageId: q[1]!.imageId });
    expect(undone.verdict).toBeNull();
    const part = await ok<{ history: { action: string }[] }>('review.part', { imageId: q[1]!.imageId });
    expect(part.history.map((h) => h.action)).toEqual(['set', 'undo']);
    const mid = q[12]!.score!;
    const s = await ok<ProjectState>('threshold.set', { value: mid, reason: 'tuning: half of the parts to review' });
    expect(s.threshold).toMatchObject({ value: mid, setBy: 'Aiko' });
    const flagged = (await ok<QueuePage>('review.queue', { filter: 'flagged' })).items;
    expect(flagged.length).toBe(q.filter((e) => e.score! >= mid).length);
    expect(((await ok<QueuePage>('review.queue', { filter: 'defect' })).items).map((e) => e.imageId)).toEqual([q[0]!.imageId]);
  });

  it('tuning figures at a candidate threshold, zero-miss with a margin, bands, and a threshold with its margin', async () => {
    const q = (await ok<QueuePage>('review.queue', {})).items;
    // Review two more parts: the lowest-scoring defect candidate as a defect, one low part as good.
    await ok('review.verdict', { imageId: q[q.length - 1]!.imageId, verdict: 'good' });
    await ok('review.verdict', { imageId: q[2]!.imageId, verdict: 'defect', defectType: 'pit' });
    const t = await ok<TuningData>('threshold.stats', { margin: { kind: 'absolute', value: 0.05 }, reject: q[0]!.score! + 1, log: true, bins: 20 });
    expect(t.defects).toBe(2);
    expect(t.goods).toBe(1);
    expect(t.confusion.tp + t.confusion.fn).toBe(2);
    expect(t.histogram.edges).toHaveLength(21);
    expect(t.histogram.log).toBe(true);
    expect(t.zeroMiss.status).toBe('ok');
    if (t.zeroMiss.status === 'ok') {
      expect(t.zeroMiss.raw).toBeCloseTo(Math.min(q[0]!.score!, q[2]!.score!), 10);
      // raw − max(margin, half the empty gap down to the reviewed good part when it scores below raw)
      const g = q[q.length - 1]!.score!;
      const used = Math.max(0.05, g < t.zeroMiss.raw ? (t.zeroMiss.raw - g) / 2 : 0);
      expect(t.zeroMiss.threshold).toBeCloseTo(t.zeroMiss.raw - used, 10);
      expect(t.zeroMiss).toMatchObject({ margin: 0.05, marginUsed: used > 0.05 ? 'gap' : 'margin' });
      expect(t.zeroMiss.marginToWeakest).toBeCloseTo(used, 10);
      expect(t.zeroMiss.fewDefects).toBe(true); // 2 < 3 (project setting)
    }
    expect(t.roc!.thresholds[0]).toBeNull(); // +∞ travels as null
    expect(t.bands!.rejectBand.total).toBe(0);
    const s = await ok<ProjectState>('threshold.set', { value: t.zeroMiss.status === 'ok' ? t.zeroMiss.threshold : 1, reason: 'zero-miss minus 0.05', margin: 0.05, marginKind: 'absolute' });
    expect(s.threshold?.reason).toBe('zero-miss minus 0.05');
    expect((await err('threshold.set', { value: 1, reason: 'x', margin: 0.1 })).message).toMatch(/go together/);
    const again = await ok<TuningData>('threshold.stats', {});
    expect(again.history[again.history.length - 1]!.reason).toBe('zero-miss minus 0.05');
  });

  it('exports the audit report (HTML and PDF) into the project', async () => {
    const html = await ok<ReportExport>('report.export', { format: 'html' });
    expect(html.file.startsWith(path.join(tmp, 'demo', 'exports'))).toBe(true);
    expect(Buffer.from(html.dataBase64!, 'base64').toString('utf8')).toContain('Sample: machined washers');
    expect(html.auditOk).toBe(true);
    const pdf = await ok<ReportExport>('report.export', { format: 'pdf' });
    expect(Buffer.from(pdf.dataBase64!, 'base64').subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect((await err('report.export', { format: 'docx' })).message).toMatch(/"format" must be one of/);
  });

  it('refit from good verdicts on flagged parts, then rollback', async () => {
    const flagged = (await ok<QueuePage>('review.queue', { filter: 'flagged' })).items;
    const lowGood = flagged[flagged.length - 1]!;
    await ok('review.verdict', { imageId: lowGood.imageId, verdict: 'good' });
    expect((await ok<ProjectState>('projects.state', {})).pendingRefit).toBe(1);
    const refitDone = jobDone('refit');
    await ok('jobs.refit', {});
    const done = await refitDone;
    expect(done).toMatchObject({ type: 'done', summary: expect.stringMatching(/^model v2: 1 false alarms added/) });
    const s = await ok<ProjectState>('projects.state', {});
    expect(s.activeModel).toMatchObject({ version: 2, kind: 'refit', parentVersion: 1 });
    expect(s.pendingRefit).toBe(0);
    const back = await ok<ProjectState>('models.rollback', { version: 1, reason: 'compare' });
    expect(back.activeModel?.version).toBe(1);
    expect((await err('models.rollback', { version: 1, reason: 'again' })).code).toBe('CONFLICT');
  });

  it('auto-refit after N pending good verdicts (project setting), and region export', async () => {
    const s = await ok<ProjectState>('projects.updateSettings', { autoRefitAfter: 1 });
    expect(s.autoRefitAfter).toBe(1);
    const flagged = ((await ok<QueuePage>('review.queue', { filter: 'flagged' })).items).filter((e) => e.verdict === null);
    const refitDone = jobDone('refit');
    await ok('review.verdict', { imageId: flagged[flagged.length - 1]!.imageId, verdict: 'good' });
    // Pending: this verdict plus the one v2 had absorbed (v2 was rolled back away from).
    expect(await refitDone).toMatchObject({ type: 'done', summary: expect.stringMatching(/^model v3: 2 false alarms added/) });
    expect((await ok<ProjectState>('projects.updateSettings', { autoRefitAfter: null })).autoRefitAfter).toBeNull();
    // Regions on a defect verdict → masks + COCO.
    const top = ((await ok<QueuePage>('review.queue', {})).items)[0]!;
    await ok('review.verdict', { imageId: top.imageId, verdict: 'defect', defectType: 'pit', regions: { width: top.width, height: top.height, regions: [{ kind: 'brush', points: [100, 100], radius: 8 }] } });
    const ex = await ok<{ dir: string; masks: number; annotations: number }>('regions.export', {});
    expect(ex.masks).toBeGreaterThanOrEqual(1);
    expect(existsSync(path.join(ex.dir, 'coco.json'))).toBe(true);
  });

  it('a job can be cancelled; the previous model stays active', async () => {
    const failed = jobDone('fit');
    const { jobId } = await ok<{ jobId: string }>('jobs.fit', {});
    await ok('jobs.cancel', { jobId });
    expect(await failed).toMatchObject({ type: 'failed', error: { code: 'CANCELLED' } });
    const s = await ok<ProjectState>('projects.state', {});
    expect(s.activeModel?.version).toBe(3);
    expect(s.models.find((m) => m.version === 4)?.status).toBe('failed');
  });
});
