/**
 * The project use-cases end to end on real parts, a real database file, the real worker:
 * import (with per-file errors), fit, score (resumable, maps on disk), verdicts, refit from
 * false alarms, rollback, the audit chain — and `kensa audit verify` catching an edit made
 * with the sqlite3 CLI, and a refit killed with SIGKILL leaving the previous model intact.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMapPng } from '../../src-main/engine/imaging/mapfile';
import { EngineClient } from '../../src-main/jobs/engine-client';
import { DB_FILE, inOrder, mapScaleMax, ProjectService } from '../../src-main/services/project-service';
import { addImages, countImages, goodVerdictsSince, openProjectDb, putScores, queueCounts, recordVerdict } from '../../src-main/store/index';
import { newImages, readyModel } from '../store/helpers/fixtures';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const have = existsSync(bottle) && existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING project-service tests: ${bottle} missing (set KENSA_SHARED)`);
const haveSqlite = spawnSync('sqlite3', ['-version']).status === 0;
if (!haveSqlite) console.warn('SKIPPING the sqlite3-CLI tamper test: sqlite3 is not installed (apt-get install sqlite3)');

describe.skipIf(!have)('ProjectService', () => {
  let tmp: string;
  let dir: string;
  let svc: ProjectService;
  const engine = new EngineClient();
  const files = (sub: string, n: number): string[] =>
    readdirSync(path.join(bottle, sub))
      .sort()
      .slice(0, n)
      .map((f) => path.join(bottle, sub, f));

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-svc-'));
    dir = path.join(tmp, 'bottles');
    svc = await ProjectService.create(dir, 'Bottles line 3', 'alice');
  });
  afterAll(async () => {
    svc?.close();
    await engine.terminate();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('imports parts, listing each bad file with its reason; re-import is a no-op', async () => {
    const bad = path.join(tmp, 'bad');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'empty.png'), Buffer.alloc(0));
    writeFileSync(path.join(bad, 'note.png'), 'not a picture');
    const train = await svc.importImages(files('train/good', 24), 'train', 'alice');
    expect(train).toMatchObject({ added: 24, existing: 0, errors: [] });
    const inspect = await svc.importImages([...files('test/good', 8), ...files('test/broken_large', 6), bad], 'inspect', 'alice');
    expect(inspect.added).toBe(14);
    expect(inspect.errors.map((e) => [path.basename(e.path), e.code])).toEqual([
      ['empty.png', 'IMAGE_EMPTY'],
      ['note.png', 'IMAGE_UNSUPPORTED_FORMAT'],
    ]);
    const again = await svc.importImages(files('test/good', 8), 'inspect', 'alice');
    expect(again).toMatchObject({ added: 0, existing: 8 });
    expect(svc.counts()).toEqual({ train: 24, inspect: 14 });
  });

  it('fits v1, makes it active, and sets an audited starting threshold', async () => {
    const phases = new Set<string>();
    const m = await svc.fit(engine, {}, 'alice', { onProgress: (p) => phases.add(p.phase) });
    expect(m).toMatchObject({ version: 1, status: 'ready', kind: 'fit' });
    expect(svc.activeModel()?.version).toBe(1);
    expect(phases.has('coreset')).toBe(true);
    const t = svc.threshold()!;
    expect(t.reason).toMatch(/initial threshold/);
    const loaded = await svc.loadModelFile(1);
    expect(t.value).toBeCloseTo(loaded.header.stats.imageScore.mean + loaded.header.stats.imageScore.std, 10);
    // The version records its detector and the detector's facts, read from the model file.
    expect(loaded.header.detector).toBe('patchcore');
    expect(m.detector).toBe('patchcore');
    expect(m.facts.bankSize).toMatchObject({ label: 'Memory bank', value: loaded.header.state.bankSize, unit: 'patches' });
    expect(m.facts.dim?.value).toBe(loaded.header.features.dim);
  });

  it('scores the inspect parts with maps on disk, and a second run resumes (skips all)', async () => {
    const r = await svc.score(engine);
    expect(r).toMatchObject({ version: 1, scored: 14, failed: [], skipped: 0 });
    const q = svc.queue();
    expect(q).toHaveLength(14);
    for (let i = 1; i < q.length; i++) expect(q[i - 1]!.score!).toBeGreaterThanOrEqual(q[i]!.score!);
    // Broken bottles lead the queue.
    expect(q.slice(0, 6).every((x) => x.image.path.includes('broken_large'))).toBe(true);
    const again = await svc.score(engine);
    expect(again).toMatchObject({ scored: 0, skipped: 14 });
    const model = await svc.loadModelFile(1);
    const { map, width, height } = await readMapPng(path.join(dir, 'maps', 'v0001', `${q[0]!.image.id}.png`), mapScaleMax(model.header.stats.colourScale.high));
    expect([width, height]).toEqual([224, 224]);
    expect(Math.max(...map)).toBeGreaterThan(model.header.stats.colourScale.low);
  });

  it('verdicts carry their context; undo returns to the previous state', async () => {
    const top = svc.queue()[0]!;
    const v = svc.verdict({ imageId: top.image.id, verdict: 'defect', defectType: 'broken_large', comment: 'crack at the neck' }, 'bob');
    expect(v).toMatchObject({ verdict: 'defect', reviewer: 'bob', modelVersion: 1, scoreShown: top.score, threshold: svc.threshold()!.value });
    svc.verdict({ imageId: top.image.id, verdict: 'good' }, 'bob');
    expect(svc.currentVerdict(top.image.id)?.verdict).toBe('good');
    svc.undo(top.image.id, 'bob');
    expect(svc.currentVerdict(top.image.id)?.verdict).toBe('defect');
  });

  it('defect regions are stored with the verdict and exported as PNG masks and COCO JSON', async () => {
    const top = svc.queue()[1]!;
    const regions = { width: top.image.width, height: top.image.height, regions: [{ kind: 'polygon', points: [10, 10, 60, 10, 60, 40, 10, 40] }] };
    expect(() => svc.verdict({ imageId: top.image.id, verdict: 'good', regions }, 'bob')).toThrow(/only be marked on a defect/);
    svc.verdict({ imageId: top.image.id, verdict: 'defect', defectType: 'broken_large', regions }, 'bob');
    const out = path.join(tmp, 'regions');
    const r = await svc.exportRegions(out);
    expect(r.annotations).toBe(1);
    expect(r.masks).toHaveLength(1);
    const mask = await sharp(path.join(out, 'masks', r.masks[0]!)).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([mask.info.width, mask.info.height]).toEqual([top.image.width, top.image.height]);
    expect(mask.data.filter((v) => v === 255).length).toBe(50 * 30);
    const coco = JSON.parse(readFileSync(r.coco, 'utf8'));
    expect(coco.annotations[0]).toMatchObject({ image_id: top.image.id, area: 1500, bbox: [10, 10, 50, 30] });
    expect(coco.categories).toEqual([{ id: 1, name: 'broken_large', supercategory: 'defect' }]);
  });

  it('a refit learns the false alarms: v2 active, threshold carried over, those parts drop', async () => {
    // Make the good parts' flags certain: put the threshold just under the lowest good score.
    const goods = svc.queue().filter((x) => x.image.path.includes('/test/good/'));
    const lowest = Math.min(...goods.map((g) => g.score!));
    svc.setThreshold(lowest - 1e-6, 'test: flag every good part so the reviewer sees them', 'alice');
    for (const g of goods) svc.verdict({ imageId: g.image.id, verdict: 'good' }, 'bob');
    expect(svc.pendingRefit()).toHaveLength(goods.length);
    const before = new Map(goods.map((g) => [g.image.id, g.score!]));
    const r = await svc.refit(engine, 'alice');
    expect(r.model).toMatchObject({ version: 2, kind: 'refit', parentVersion: 1, status: 'ready' });
    expect(r.model.addedImageIds.sort()).toEqual(goods.map((g) => g.image.id).sort());
    expect(svc.activeModel()?.version).toBe(2);
    expect(svc.threshold()!.reason).toMatch(/carried over from v1/);
    expect(r.flaggedBefore).toBe(14);
    expect(r.dropped.length).toBeGreaterThanOrEqual(goods.length - 1);
    for (const g of svc.queue().filter((x) => before.has(x.image.id))) expect(g.score!).toBeLessThan(before.get(g.image.id)!);
    // Defects are never absorbed: the broken bottles still lead and stay flagged.
    expect(svc.queue().slice(0, 6).every((x) => x.flagged && x.image.path.includes('broken_large'))).toBe(true);
    expect(svc.pendingRefit()).toHaveLength(0);
    // A backup copy of the database was taken before the refit.
    expect(readdirSync(path.join(dir, 'backups')).some((f) => /^kensa-.*-before-refit-of-v1\.db$/.test(f))).toBe(true);
  });

  it('rollback is audited; the chain verifies', () => {
    svc.rollback(1, 'alice', 'compare with the original bank');
    expect(svc.activeModel()?.version).toBe(1);
    svc.rollback(2, 'alice', 'back to the refit');
    const a = svc.verifyAudit();
    expect(a.ok).toBe(true);
    expect(a.events).toBeGreaterThan(10);
  });

  it('kensa audit verify passes, and names the event after a verdict is edited with the sqlite3 CLI', async () => {
    const ok = spawnSync(process.execPath, [path.join(repo, 'bin', 'kensa.mjs'), 'audit', 'verify', dir], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^audit chain ok: \d+ events, head [0-9a-f]{64}/);
    if (!haveSqlite) return;
    svc.close();
    const copy = path.join(tmp, 'tampered');
    mkdirSync(copy);
    execFileSync('sqlite3', [path.join(dir, 'kensa.db'), `VACUUM INTO '${path.join(copy, 'kensa.db')}'`]);
    svc = ProjectService.open(dir);
    const row = execFileSync('sqlite3', [path.join(copy, 'kensa.db'), "SELECT id FROM verdicts WHERE verdict = 'defect' ORDER BY id LIMIT 1"], { encoding: 'utf8' }).trim();
    const event = execFileSync('sqlite3', [path.join(copy, 'kensa.db'), `SELECT seq FROM audit_events WHERE kind = 'verdict' AND entity_id = '${row}'`], { encoding: 'utf8' }).trim();
    const triggers = execFileSync('sqlite3', [path.join(copy, 'kensa.db'), "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'verdicts'"], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const drop = triggers.map((t) => `DROP TRIGGER ${t};`).join(' ');
    execFileSync('sqlite3', [path.join(copy, 'kensa.db'), `${drop} UPDATE verdicts SET verdict = 'good', defect_type = NULL WHERE id = ${row};`]);
    const bad = spawnSync(process.execPath, [path.join(repo, 'bin', 'kensa.mjs'), 'audit', 'verify', copy], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`^kensa: audit chain BROKEN at event ${event}: `));
  });

  it('a refit killed with SIGKILL leaves the previous model active and every verdict in place', async () => {
    const count = (): number => (svc.db.prepare('SELECT count(*) AS n FROM verdicts').get() as { n: number }).n;
    const verdictsBefore = count();
    svc.close();
    // A second process does a refit (new good verdicts first) and is killed mid-way.
    const script = path.join(tmp, 'refit-child.mts');
    writeFileSync(
      script,
      `import { ProjectService } from ${JSON.stringify(path.join(repo, 'src-main/services/project-service.ts'))};
import { EngineClient } from ${JSON.stringify(path.join(repo, 'src-main/jobs/engine-client.ts'))};
const svc = ProjectService.open(${JSON.stringify(dir)});
const engine = new EngineClient();
const goods = svc.queue().filter((x) => x.image.path.includes('/test/broken_large/')).slice(-1);
svc.setThreshold(0, 'test: flag everything', 'carol');
for (const g of goods) svc.verdict({ imageId: g.image.id, verdict: 'good' }, 'carol');
console.log('verdicts-committed');
await svc.refit(engine, 'carol', { onProgress: (p) => { if (p.phase === 'coreset') console.log('in-refit'); } });
console.log('refit-finished');
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, env: { ...process.env, KENSA_SHARED: shared } });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('in-refit')) {
          child.kill('SIGKILL');
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(out).toContain('verdicts-committed');
    expect(out).not.toContain('refit-finished');
    svc = ProjectService.open(dir);
    expect(svc.activeModel()?.version).toBe(2);
    const loaded = await svc.loadModelFile(2);
    expect(loaded.header.state.bankSize).toBeGreaterThan(0);
    expect(loaded.arrays.bank!.length).toBe(Number(loaded.header.state.bankSize) * loaded.header.features.dim);
    expect(count()).toBe(verdictsBefore + 1);
    const building = svc.models().filter((m) => m.status === 'building');
    expect(building).toHaveLength(1); // the interrupted refit, never activated
    expect(readdirSync(path.join(dir, 'models')).filter((f) => f.endsWith('.kensa'))).toEqual(['v0001.kensa', 'v0002.kensa']);
    expect(svc.verifyAudit().ok).toBe(true);
  });
});

describe('import read-ahead', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-import-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('inOrder: results in input order, never more than `ahead` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const delays = [30, 1, 20, 1, 15, 2, 40, 1, 1, 9, 3, 25];
    const got: number[] = [];
    for await (const r of inOrder(delays, 3, async (d) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((res) => setTimeout(res, d));
      inFlight--;
      return d;
    })) {
      got.push(r);
    }
    expect(got).toEqual(delays);
    expect(most).toBe(3);
    await expect(inOrder([1], 0, async (x) => x).next()).rejects.toThrow(/read-ahead must be a positive integer/);
  });

  it('keeps the file order of the rows and of the errors, as a sequential import would', async () => {
    const folder = path.join(tmp, 'parts');
    mkdirSync(folder);
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = `p${String(i).padStart(2, '0')}.png`;
      names.push(name);
      if (i % 9 === 4) writeFileSync(path.join(folder, name), Buffer.alloc(0)); // empty
      else if (i % 9 === 7) writeFileSync(path.join(folder, name), 'not a picture');
      else {
        // sizes differ so decodes finish out of order
        const side = 16 + ((i * 37) % 200);
        await sharp({ create: { width: side, height: side, channels: 3, background: { r: i, g: 255 - i, b: (i * 7) % 256 } } })
          .png()
          .toFile(path.join(folder, name));
      }
    }
    const svc = await ProjectService.create(path.join(tmp, 'project'), 'Import order', 'alice');
    try {
      const progress: number[] = [];
      const missing = path.join(tmp, 'nope.png');
      const r = await svc.importImages([folder, missing], 'inspect', 'alice', (done, total) => {
        expect(total).toBe(40);
        progress.push(done);
      });
      expect(progress).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const bad = names.filter((_, i) => i % 9 === 4 || i % 9 === 7);
      const good = names.filter((n) => !bad.includes(n));
      expect(r.added).toBe(good.length);
      expect(r.ids.map((id) => path.basename(svc.queueItem(id)!.image.path))).toEqual(good);
      expect(r.errors.map((e) => [path.basename(e.path), e.code])).toEqual([
        ['nope.png', 'IMAGE_NOT_FOUND'],
        ...bad.map((n) => [n, names.indexOf(n) % 9 === 4 ? 'IMAGE_EMPTY' : 'IMAGE_UNSUPPORTED_FORMAT']),
      ]);
    } finally {
      svc.close();
    }
  });
});

describe('figures kept between writes (queue counts, image counts, pending refit)', () => {
  it('stay equal to a fresh count through verdicts, undos and writes made behind the service', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-figures-'));
    const svc = await ProjectService.create(path.join(tmp, 'p'), 'Figures', 'alice');
    try {
      const ids = addImages(svc.db, 'b', newImages(300), 'alice').ids;
      addImages(svc.db, 't', newImages(5, 'train', 'tr'), 'alice');
      const m = readyModel(svc.db);
      putScores(svc.db, m.version, ids.slice(0, 280).map((imageId, i) => ({ imageId, score: (i % 50) / 10, maxPatchScore: 1 })));
      svc.setThreshold(4, 'test', 'alice');
      const fresh = (): unknown => {
        const scope = svc.queueScope();
        return { queue: queueCounts(svc.db, scope), images: { train: countImages(svc.db, 'train'), inspect: countImages(svc.db, 'inspect') }, pending: goodVerdictsSince(svc.db, m.version).map((v) => v.id) };
      };
      const kept = (): unknown => ({ queue: svc.queueCounts(), images: svc.counts(), pending: svc.pendingRefit().map((v) => v.id) });
      expect(kept()).toEqual(fresh());
      const other = openProjectDb(path.join(svc.dir, DB_FILE));
      let seed = 5;
      const r = (): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let step = 0; step < 300; step++) {
        const id = ids[Math.floor(r() * ids.length)]!;
        const x = r();
        if (x < 0.55) svc.verdict({ imageId: id, verdict: r() < 0.3 ? 'defect' : 'good' }, 'bob');
        else if (x < 0.75) {
          try {
            svc.undo(id, 'bob');
          } catch {
            // nothing to undo on this part
          }
        } else if (x < 0.82) recordVerdict(svc.db, { imageId: id, verdict: 'good', reviewer: 'carol', modelVersion: m.version, threshold: 4, scoreShown: 4.5 });
        else if (x < 0.88) recordVerdict(other, { imageId: id, verdict: 'good', reviewer: 'dan', modelVersion: m.version, threshold: 4, scoreShown: 4.2 });
        else if (x < 0.93) putScores(svc.db, m.version, [{ imageId: id, score: r() * 5, maxPatchScore: 1 }]);
        else if (x < 0.96) addImages(other, `late-${step}`, newImages(1, 'inspect', `late-${step}`), 'dan');
        else svc.setThreshold(3 + r() * 2, 'moved', 'alice');
        if (step % 7 === 0) expect(kept(), `step ${step}`).toEqual(fresh());
      }
      expect(kept()).toEqual(fresh());
      other.close();
    } finally {
      svc.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
