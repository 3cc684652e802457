/**
 * A project folder with N scored inspect parts, for the scale benchmark (bench/scale.ts).
 *
 *   node bin/run-ts.mjs bench/scale-gen.ts --out DIR [--parts N]
 *
 * What is real and what is synthetic:
 *   - REAL: the model (PatchCore fitted by the engine worker on 20 bottle train images from
 *     $KENSA_SHARED/data/mvtec/bottle: its file, colour scale and held-out statistics), a pool
 *     of 40 bottle test images copied into the project and scored for real (real scores, real
 *     map files), every write to the store (addImages, putScores, setThreshold, recordVerdicts:
 *     the audit chain is the one the product writes and verifies).
 *   - SYNTHETIC: the other N − 40 image rows (unique made-up sha256 per row, the path and map
 *     file of pool image k mod 40, so a part's photo and heatmap agree), their scores (drawn
 *     around the model's held-out good-part mean and spread, with a tail of defects), the
 *     threshold (the 96th percentile of the scores) and the verdicts given on about 3 % of the
 *     parts (mostly flagged ones, some passed ones; defects typed, a third with regions).
 *     Scoring speed is measured elsewhere (npm run bench); this only fills the store.
 *
 * Rows go in through the store's batch functions in transactions of 10,000 (images, scores)
 * and 500 (verdicts): 100,000 parts take seconds, the fit and the pool scoring a little more.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src-main/engine/core/random';
import { EngineClient } from '../src-main/jobs/engine-client';
import { ProjectService, type Engine } from '../src-main/services/project-service';
import { addImages, listImages, putScores, recordVerdicts, scoresFor, setThreshold, type NewImage, type NewScore, type NewVerdict } from '../src-main/store/index';

export interface ScaleProjectOptions {
  /** The project folder to create (must not hold a project yet). */
  dir: string;
  /** Inspect parts in all (the scored pool included); at least the pool size. */
  parts: number;
  /** Train images for the fit (default 20). */
  trainImages?: number;
  /** Real images scored for real, whose files and maps the synthetic rows reuse (default 40). */
  pool?: number;
  /** Parts with a verdict (default 3 % of the parts, at least 100, at most 5,000). */
  reviewed?: number;
  seed?: number;
  /** A postgres:// URL: make a shared project whose records live there (default: kensa.db in the folder). */
  store?: string;
  /** The engine worker to fit and score with (default: a new one, terminated at the end). */
  engine?: Engine;
  log?: (line: string) => void;
}

export interface ScaleProject {
  dir: string;
  parts: number;
  modelVersion: number;
  threshold: number;
  flagged: number;
  reviewed: number;
  defects: number;
  goods: number;
  withRegions: number;
  /** The pool's files inside the project (relative paths). */
  pool: string[];
  seconds: { fit: number; poolScore: number; rows: number; verdicts: number; total: number };
}

const BATCH = 10_000;
const VERDICT_BATCH = 500;
const REVIEWERS = ['Aiko Tanaka', 'Ben Okafor', 'Carla Ruiz'];
const DEFECT_TYPES = ['broken_large', 'broken_small', 'contamination'];

function sharedRoot(): string {
  return path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
}

async function pngsIn(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith('.png'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A made-up but well-formed content hash for synthetic row k (unique per row). */
function syntheticSha(k: number): string {
  return createHash('sha256').update(`kensa-scale-part-${k}`).digest('hex');
}

/** Makes the project (see the module comment). */
export async function generateScaleProject(opts: ScaleProjectOptions): Promise<ScaleProject> {
  const t0 = performance.now();
  const log = opts.log ?? ((): void => {});
  const poolSize = opts.pool ?? 40;
  const n = opts.parts;
  if (!Number.isInteger(n) || n < poolSize) throw new Error(`--parts must be an integer of at least ${poolSize} (the real pool), got ${String(n)}`);
  const rng = new Rng(opts.seed ?? 7);
  const bottle = path.join(sharedRoot(), 'data', 'mvtec', 'bottle');
  const ownEngine = opts.engine ? null : new EngineClient();
  const engine: Engine = opts.engine ?? ownEngine!;
  const svc = await ProjectService.create(opts.dir, `Scale bench: ${n.toLocaleString('en-US')} parts`, 'bench', {}, opts.store);
  try {
    // 1. A real model, fitted quickly on a few good parts.
    const tf = performance.now();
    const train = (await pngsIn(path.join(bottle, 'train', 'good'))).slice(0, opts.trainImages ?? 20);
    await svc.importImages(train, 'train', 'bench');
    const model = await svc.fit(engine, { config: { coreset: { ratio: 0.05 } } }, 'bench');
    const header = (await svc.loadModelFile(model.version)).header;
    const fitSeconds = (performance.now() - tf) / 1000;
    log(`fitted v${model.version} on ${train.length} train images in ${fitSeconds.toFixed(1)} s`);

    // 2. The pool: real images copied into the project and scored for real (real map files).
    const ts = performance.now();
    const testDir = path.join(bottle, 'test');
    const sources: string[] = [];
    for (const t of (await readdir(testDir)).sort()) sources.push(...(await pngsIn(path.join(testDir, t))).map((f) => f));
    const picked = Array.from(rng.permutation(sources.length))
      .slice(0, poolSize)
      .map((i) => sources[i]!);
    if (picked.length < poolSize) throw new Error(`only ${picked.length} test images under ${testDir}; the pool needs ${poolSize}`);
    const poolDir = path.join(svc.dir, 'pool');
    await mkdir(poolDir, { recursive: true });
    const poolFiles: string[] = [];
    for (const [i, src] of picked.entries()) {
      const dst = path.join(poolDir, `p${String(i).padStart(3, '0')}-${path.basename(path.dirname(src))}-${path.basename(src)}`);
      await copyFile(src, dst);
      poolFiles.push(dst);
    }
    const imported = await svc.importImages(poolFiles, 'inspect', 'bench');
    if (imported.errors.length > 0) throw new Error(`pool import failed: ${imported.errors[0]!.message}`);
    const scored = await svc.score(engine);
    if (scored.failed.length > 0) throw new Error(`pool scoring failed: ${scored.failed[0]!.message}`);
    const poolSeconds = (performance.now() - ts) / 1000;
    log(`scored the ${poolSize}-image pool for real in ${poolSeconds.toFixed(1)} s`);
    const pool = listImages(svc.db, { role: 'inspect' });
    const poolScores = new Map(scoresFor(svc.db, model.version).map((s) => [s.imageId, s]));

    // 3. The synthetic rows: images, then scores, in batches.
    const tr = performance.now();
    const { mean, std } = header.stats.imageScore;
    const spread = std > 0 ? std : Math.max(1e-3, Math.abs(mean) * 0.1);
    const truth = new Uint8Array(n); // 1 = a defect (what a reviewer would find)
    const scores = new Float64Array(n);
    const ids = new Int32Array(n);
    const poolOf = new Int32Array(n);
    for (let k = 0; k < poolSize; k++) {
      const s = poolScores.get(pool[k]!.id)!;
      ids[k] = pool[k]!.id;
      scores[k] = s.score;
      poolOf[k] = k;
      truth[k] = pool[k]!.path.includes('-good-') ? 0 : 1;
    }
    for (let start = poolSize; start < n; start += BATCH) {
      const end = Math.min(n, start + BATCH);
      const rows: NewImage[] = [];
      for (let k = start; k < end; k++) {
        const p = k % poolSize;
        poolOf[k] = p;
        const src = pool[p]!;
        rows.push({ path: src.path, sha256: syntheticSha(k), bytes: src.bytes, width: src.width, height: src.height, format: src.format, role: 'inspect' });
        // Mostly good parts around the held-out good mean; 1.5 % defects, most of them well above it.
        const defect = rng.next() < 0.015;
        truth[k] = defect ? 1 : 0;
        const z = rng.normal();
        const s = defect ? mean + spread * (rng.next() < 0.1 ? 1.5 + Math.abs(z) : 3 + 3 * -Math.log(1 - rng.next())) : mean + spread * z;
        scores[k] = Math.max(mean * 0.05, s);
      }
      const added = addImages(svc.db, `scale-${start}`, rows, 'bench');
      const newScores: NewScore[] = [];
      for (let k = start; k < end; k++) {
        const id = added.ids[k - start]!;
        ids[k] = id;
        const ps = poolScores.get(pool[poolOf[k]!]!.id)!;
        newScores.push({ imageId: id, score: scores[k]!, maxPatchScore: scores[k]! * 1.25, mapFile: ps.mapFile });
      }
      putScores(svc.db, model.version, newScores);
    }
    const rowSeconds = (performance.now() - tr) / 1000;
    log(`inserted ${n - poolSize} synthetic parts with scores in ${rowSeconds.toFixed(1)} s`);

    // 4. A threshold that flags about 4 % of the parts (an audited threshold version).
    const sorted = Float64Array.from(scores).sort();
    const threshold = sorted[Math.floor(0.96 * (n - 1))]!;
    setThreshold(svc.db, { modelVersion: model.version, value: threshold, setBy: REVIEWERS[0]!, reason: 'scale bench: 96th percentile of the scores', margin: 0, marginKind: 'absolute' });
    let flagged = 0;
    for (let k = 0; k < n; k++) if (scores[k]! >= threshold) flagged++;

    // 5. Verdicts: most flagged parts (highest first), and some passed ones picked at random.
    const tv = performance.now();
    const want = Math.min(n, opts.reviewed ?? Math.min(5000, Math.max(100, Math.round(0.03 * n))));
    const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => scores[b]! - scores[a]! || a - b);
    const fromFlagged = Math.min(flagged, Math.round(want * 0.85));
    const chosen = order.slice(0, fromFlagged);
    const taken = new Uint8Array(n);
    for (const k of chosen) taken[k] = 1;
    while (chosen.length < want) {
      const k = order[flagged + rng.int(Math.max(1, n - flagged))] ?? order[rng.int(n)]!;
      if (taken[k]) continue;
      taken[k] = 1;
      chosen.push(k);
    }
    let defects = 0;
    let withRegions = 0;
    const pending: NewVerdict[] = [];
    const flush = (): void => {
      if (pending.length > 0) recordVerdicts(svc.db, pending.splice(0));
    };
    for (const [i, k] of chosen.entries()) {
      const src = pool[poolOf[k]!]!;
      const isDefect = truth[k] === 1;
      const v: NewVerdict = {
        imageId: ids[k]!,
        verdict: isDefect ? 'defect' : 'good',
        reviewer: REVIEWERS[i % REVIEWERS.length]!,
        modelVersion: model.version,
        threshold,
        scoreShown: scores[k]!,
      };
      if (isDefect) {
        defects++;
        v.defectType = DEFECT_TYPES[i % DEFECT_TYPES.length]!;
        if (defects % 3 === 0) {
          withRegions++;
          const x = 20 + rng.int(Math.max(1, src.width - 80));
          const y = 20 + rng.int(Math.max(1, src.height - 80));
          v.regions = { width: src.width, height: src.height, regions: [{ kind: 'polygon', points: [x, y, x + 40, y, x + 40, y + 30, x, y + 30] }] };
        }
      }
      pending.push(v);
      if (pending.length >= VERDICT_BATCH) flush();
    }
    flush();
    const verdictSeconds = (performance.now() - tv) / 1000;
    log(`recorded ${chosen.length} verdicts (${defects} defects, ${withRegions} with regions) in ${verdictSeconds.toFixed(1)} s`);

    return {
      dir: svc.dir,
      parts: n,
      modelVersion: model.version,
      threshold,
      flagged,
      reviewed: chosen.length,
      defects,
      goods: chosen.length - defects,
      withRegions,
      pool: pool.map((p) => p.path),
      seconds: { fit: fitSeconds, poolScore: poolSeconds, rows: rowSeconds, verdicts: verdictSeconds, total: (performance.now() - t0) / 1000 },
    };
  } finally {
    svc.close();
    await ownEngine?.terminate();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, parts: { type: 'string', default: '100000' } }, strict: true });
  if (!values.out) {
    console.error('usage: node bin/run-ts.mjs bench/scale-gen.ts --out DIR [--parts N]');
    process.exit(2);
  }
  const r = await generateScaleProject({ dir: path.resolve(values.out), parts: Number(values.parts), log: (l) => console.error(l) });
  console.log(JSON.stringify(r));
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) await main();
