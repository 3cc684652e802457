/**
 * PatchCore through the detector seam (registry fitModel / refitModel / openScorer), end to end
 * on the tiny backbone (test/helpers/tiny-backbone.ts) and generated images: smooth gradients
 * with noise are "good", the same with a bright square are "defects".
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CORESET } from '../../../../src-main/engine/coreset';
import { KensaError } from '../../../../src-main/engine/errors';
import { loadModel, saveModel } from '../../../../src-main/engine/model-file';
import { inMemory, resolveInput, type FitOptions, type FitResult, type ScoreOutcome, type Scorer } from '../../../../src-main/engine/detectors/pipeline';
import { fitModel, getDetector, openScorer, refitModel } from '../../../../src-main/engine/detectors/registry';
import { DEFAULT_PATCHCORE, resolvePatchCoreConfig } from '../../../../src-main/engine/detectors/patchcore/config';
import type { Progress } from '../../../../src-main/engine/detectors/types';
import { loadBackbone, sha256 } from '../../../../src-main/engine/backbone/backbone';
import { FeatureExtractor } from '../../../../src-main/engine/backbone/feature-extractor';
import { loadImage } from '../../../../src-main/engine/imaging/load';
import { sqDist } from '../../../helpers/reference';
import { encodeV1, toV1Header } from '../../../helpers/model-v1';
import { ort } from '../../../../src-main/engine/ort/session';
import { TINY_TAPS, writeTinyBackbone } from '../../../helpers/tiny-backbone';
import { makePart, writePart } from '../../../helpers/parts';

const SIZE = 96; // files are 96×96, the model input is 64×64 (stretch resize: ×2/3)
const INPUT = 64;
/** Defect squares in file pixels: [x0, y0, side]. */
const DEFECTS: [number, number, number][] = [
  [54, 18, 21],
  [12, 60, 21],
  [40, 40, 18],
  [66, 66, 21],
];

let dir: string;
let tinyPath: string;
let otherPath: string;
let train: string[];
let goodTests: string[];
let defectTests: string[];


const fitOpts = (over: Partial<FitOptions> = {}): FitOptions => ({
  backbone: tinyPath,
  ep: 'cpu',
  input: { embedding: { width: INPUT, height: INPUT } },
  ...over,
});

/** The bank size a PatchCore model records. */
const bankSize = (f: { header: { state: Record<string, unknown> } }): number => f.header.state.bankSize as number;

async function collect(gen: AsyncGenerator<ScoreOutcome>): Promise<ScoreOutcome[]> {
  const out: ScoreOutcome[] = [];
  for await (const o of gen) out.push(o);
  return out;
}

async function scoresOf(scorer: Scorer, files: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const f of files) out.push((await scorer.scoreFile(f)).score);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<KensaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KensaError);
    return e as KensaError;
  }
  throw new Error('expected a rejection');
}

/**
 * Records every ORT session created while installed (wrapping InferenceSession.create), and
 * whether each was released. Sessions of the coreset's process-wide cache are created once per
 * process and kept on purpose; the fit in beforeAll has already created them.
 */
function trackSessions(): { created: { outputs: string; released: boolean }[]; restore: () => void } {
  const created: { outputs: string; released: boolean }[] = [];
  const original = ort.InferenceSession.create.bind(ort.InferenceSession);
  const spy = vi.spyOn(ort.InferenceSession, 'create').mockImplementation((async (...args: Parameters<typeof original>) => {
    const s = await original(...args);
    const rec = { outputs: s.outputNames.join(','), released: false };
    created.push(rec);
    const release = s.release.bind(s);
    s.release = async () => {
      rec.released = true;
      await release();
    };
    return s;
  }) as typeof original);
  return { created, restore: () => spy.mockRestore() };
}

let fit: FitResult;
let scorer: Scorer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-patchcore-'));
  tinyPath = writeTinyBackbone(dir, 1);
  otherPath = writeTinyBackbone(dir, 2);
  await fs.mkdir(path.join(dir, 'train', 'good'), { recursive: true });
  await fs.mkdir(path.join(dir, 'test'), { recursive: true });
  train = await Promise.all(Array.from({ length: 12 }, (_, i) => writePart(path.join(dir, 'train', 'good', `${String(i).padStart(3, '0')}.png`), makePart(100 + i))));
  goodTests = await Promise.all(Array.from({ length: 4 }, (_, i) => writePart(path.join(dir, 'test', `good_${i}.png`), makePart(500 + i))));
  defectTests = await Promise.all(DEFECTS.map((d, i) => writePart(path.join(dir, 'test', `defect_${i}.png`), makePart(600 + i, d))));
  fit = await fitModel(train, fitOpts());
  scorer = await openScorer(inMemory(fit), { backbone: tinyPath, ep: 'cpu' });
});

afterAll(async () => {
  await scorer?.release();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('fitModel (PatchCore, the default detector)', () => {
  it('bank of the expected size and layout', () => {
    // 12 images ≥ 5 → round(12 · 0.1) = 1 held out for calibration → 11 images × (64/8)² = 704
    // patches → coreset of round(0.1 · 704) = 70 entries of D = 16 + 24 = 40 channels.
    const h = fit.header;
    expect(h.fit.images).toBe(12);
    expect(h.fit.calibrationImages).toBe(1);
    expect(h.stats.images).toBe(1);
    expect(h.detector).toBe('patchcore');
    expect(h.features).toEqual({ dim: 40, grid: [8, 8] });
    expect(h.state).toEqual({ bankSize: 70, patchesBeforeCoreset: 704 });
    expect(h.detectorConfig).toEqual(DEFAULT_PATCHCORE);
    expect(h.parentId).toBeNull();
    expect(h.refit).toBeNull();
    expect(Object.keys(fit.arrays).sort()).toEqual(['bank', 'bankNeighbours']);
    expect(fit.arrays.bank).toBeInstanceOf(Float32Array);
    expect(fit.arrays.bankNeighbours).toBeInstanceOf(Int32Array);
    expect(fit.arrays.bank!.length).toBe(70 * 40);
    expect(fit.arrays.bankNeighbours!.length).toBe(70 * 9);
    expect(fit.skipped).toEqual([]);
    expect(h.taps.map((t) => t.name)).toEqual([TINY_TAPS.s8, TINY_TAPS.s16]);
    expect(h.config.taps).toEqual([TINY_TAPS.s8, TINY_TAPS.s16]);
    expect(h.config.embedding.width).toBe(64);
    expect(h.config.seed).toBe(0);
    expect(h.fit.ep).toBe('cpu');
  });

  it('the detector states its facts from the header (bank size, coreset, feature dims)', () => {
    const facts = getDetector('patchcore').facts({ ...fit.header, sections: [] });
    expect(Object.fromEntries(facts.map((f) => [f.key, f.value]))).toEqual({ bankSize: 70, coreset: '10 %', dim: 40 });
    expect(facts.find((f) => f.key === 'bankSize')).toMatchObject({ label: 'Memory bank', unit: 'patches' });
  });

  it('fitModel with detector "patchcore" is the default; an unknown detector id → UNKNOWN_DETECTOR', async () => {
    const named = await fitModel(train, { ...fitOpts(), detector: 'patchcore' });
    expect(Buffer.from(named.arrays.bank!.buffer).equals(Buffer.from(fit.arrays.bank!.buffer))).toBe(true);
    const e = await rejection(fitModel(train, { ...fitOpts(), detector: 'patchcorez' }));
    expect(e.code).toBe('UNKNOWN_DETECTOR');
    expect(e.message).toMatch(/patchcorez/);
  });

  it('records the backbone and the training images (relative names, content hashes)', async () => {
    const h = fit.header;
    expect(h.backbone.file).toBe(path.basename(tinyPath));
    expect(h.backbone.sha256).toBe(sha256(await fs.readFile(tinyPath)));
    expect(h.fit.trainImages.map((t) => t.name)).toEqual(train.map((f) => path.basename(f)));
    expect(h.fit.trainImages[3]!.sha256).toBe(sha256(await fs.readFile(train[3]!)));
  });

  it('bank rows are rows of the training embeddings with their own index first in 𝒩_b', () => {
    const bank = fit.arrays.bank as Float32Array;
    const bankNeighbours = fit.arrays.bankNeighbours as Int32Array;
    const B = bankSize(fit);
    const b = 9;
    for (let i = 0; i < B; i++) {
      expect(bankNeighbours[i * b]).toBe(i);
      const row = Array.from(bankNeighbours.subarray(i * b, (i + 1) * b));
      expect(new Set(row).size).toBe(b);
      for (const m of row) expect(m >= 0 && m < B).toBe(true);
      // Neighbours are ordered by distance from entry i.
      const d = row.map((m) => {
        let s = 0;
        for (let k = 0; k < 40; k++) s += (bank[i * 40 + k]! - bank[m * 40 + k]!) ** 2;
        return s;
      });
      for (let j = 2; j < b; j++) expect(d[j]!).toBeGreaterThanOrEqual(d[j - 1]! * (1 - 1e-4) - 1e-5);
    }
  });

  it('the same seed gives an identical bank (reproducible)', async () => {
    const again = await fitModel(train, fitOpts());
    expect(Buffer.from(again.arrays.bank!.buffer).equals(Buffer.from(fit.arrays.bank!.buffer))).toBe(true);
    expect(Array.from(again.arrays.bankNeighbours!)).toEqual(Array.from(fit.arrays.bankNeighbours!));
    expect(again.header.stats.imageScores).toEqual(fit.header.stats.imageScores);
    // Another seed (a shared input setting now): another start (and calibration pick) → a different bank.
    const other = await fitModel(train, fitOpts({ input: { embedding: { width: INPUT, height: INPUT }, seed: 7 } }));
    expect(other.header.config.seed).toBe(7);
    expect(Buffer.from(other.arrays.bank!.buffer).equals(Buffer.from(fit.arrays.bank!.buffer))).toBe(false);
  });

  it('reports progress through every phase, in order', async () => {
    const phases: Progress['phase'][] = [];
    await fitModel(train, fitOpts({ onProgress: (p) => phases.push(p.phase) }));
    const order = phases.filter((p, i) => i === 0 || phases[i - 1] !== p);
    expect(order).toEqual(['features', 'coreset', 'neighbours', 'calibrate']);
  });

  it('unreadable training images are skipped with their reason; the rest are used', async () => {
    const broken = path.join(dir, 'train-broken.png');
    await fs.writeFile(broken, 'not an image');
    const r = await fitModel([...train.slice(0, 6), broken], fitOpts());
    expect(r.header.fit.images).toBe(6);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]!.file).toBe(broken);
    expect(r.skipped[0]!.error.code).toBe('IMAGE_UNSUPPORTED_FORMAT');
  });

  it('no readable image → NO_IMAGES; no files → NO_IMAGES', async () => {
    expect((await rejection(fitModel([path.join(dir, 'missing.png')], fitOpts()))).code).toBe('NO_IMAGES');
    expect((await rejection(fitModel([], fitOpts()))).code).toBe('NO_IMAGES');
  });

  it('an aborted signal rejects with CANCELLED; so does aborting mid-fit', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(fitModel(train, fitOpts({ signal: ac.signal })))).code).toBe('CANCELLED');
    for (const phase of ['features', 'coreset', 'neighbours'] as const) {
      const mid = new AbortController();
      const e = await rejection(
        fitModel(
          train,
          fitOpts({
            signal: mid.signal,
            onProgress: (p) => {
              if (p.phase === phase) mid.abort();
            },
          }),
        ),
      );
      expect(e.code, phase).toBe('CANCELLED');
    }
  });

  it('a finished fit releases every ORT session it created (besides the cached coreset sessions)', async () => {
    const { created, restore } = trackSessions();
    try {
      await fitModel(train, fitOpts());
    } finally {
      restore();
    }
    expect(created.length).toBeGreaterThanOrEqual(4); // probe, extractor, top-k, NN, map
    expect(created.filter((s) => !s.released).map((s) => s.outputs)).toEqual([]);
  });

  // Regression (a bug of the pre-seam fitPatchCore): sessions created after the extractor must be
  // released when the fit throws. Cancelling after the neighbours phase throws CANCELLED from the
  // calibration loop (pipeline.ts calibrate) while the PatchCore head (NN session with the whole
  // bank baked in as initializers) and the map session are alive; the TopK session of
  // patchcore/bank.ts bankNeighbours() likewise when cancelled mid-loop. A leak costs native
  // memory on every cancelled fit (for a 20 000 × 1 536 bank, ~120 MB).
  it('a cancelled fit releases its ORT sessions too', async () => {
    const { created, restore } = trackSessions();
    const ac = new AbortController();
    try {
      const e = await rejection(
        fitModel(
          train,
          fitOpts({
            signal: ac.signal,
            onProgress: (p) => {
              if (p.phase === 'neighbours') ac.abort();
            },
          }),
        ),
      );
      expect(e.code).toBe('CANCELLED');
    } finally {
      restore();
    }
    expect(created.filter((s) => !s.released).map((s) => s.outputs)).toEqual([]);
  });

  it('bad config values are INVALID_ARGUMENT (PatchCore settings and shared input settings)', async () => {
    expect(() => resolvePatchCoreConfig({ coreset: { ratio: 0 } })).toThrow(KensaError);
    expect(() => resolvePatchCoreConfig({ coreset: { maxSize: 0 } })).toThrow(/bank size/);
    expect(() => resolvePatchCoreConfig({ neighbours: 0 })).toThrow(/neighbours/);
    expect(() => resolvePatchCoreConfig({ neighbours: 2.5 })).toThrow(/neighbours/);
    expect(resolvePatchCoreConfig({ coreset: { ratio: 0.25 } })).toEqual({ coreset: { ...DEFAULT_CORESET, ratio: 0.25 }, neighbours: 9 });
    expect(() => resolveInput({ embedding: { width: 16 } })).toThrow(/32/);
    expect(() => resolveInput({ seed: -1 })).toThrow(/seed/);
    expect((await rejection(fitModel(train, fitOpts({ input: { blurSigma: 0 } })))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(fitModel(train, fitOpts({ config: { neighbours: 0 } })))).code).toBe('INVALID_ARGUMENT');
  });

  // Regression (a bug of the pre-seam fitPatchCore): with calibrationShare 1 (or 0.95 on 6 images:
  // round(5.7) = 6) every image was held out, the coreset got 0 patches and the fit died inside
  // ONNX Runtime with a raw Error instead of a KensaError. Now resolveInput requires
  // 0 ≤ calibrationShare < 1 and pipeline.ts calibrationSplit keeps at least one image for fitting.
  it('calibrationShare 1 is refused (INVALID_ARGUMENT) or still leaves images for the bank', async () => {
    const r = await fitModel(train.slice(0, 6), fitOpts({ input: { embedding: { width: INPUT, height: INPUT }, calibrationShare: 1 } })).then(
      (ok) => ok,
      (e: unknown) => e,
    );
    // The old failure: a raw Error from ONNX Runtime, not a KensaError.
    expect(r instanceof Error && !(r instanceof KensaError), `not a KensaError: ${String(r)}`).toBe(false);
    if (r instanceof KensaError) expect(r.code).toBe('INVALID_ARGUMENT');
    else expect(bankSize(r as FitResult)).toBeGreaterThan(0);
    // 0.95 on 6 images would hold out round(5.7) = 6: capped so one image is left to fit on.
    const most = await fitModel(train.slice(0, 6), fitOpts({ input: { embedding: { width: INPUT, height: INPUT }, calibrationShare: 0.95 } }));
    expect(most.header.fit.calibrationImages).toBe(5);
    expect(most.header.state.patchesBeforeCoreset).toBe(64);
    expect(bankSize(most)).toBeGreaterThan(0);
  });
});

describe('Scorer (openScorer on a PatchCore model)', () => {
  it('defective images score higher than good ones', async () => {
    const good = await scoresOf(scorer, goodTests);
    const bad = await scoresOf(scorer, defectTests);
    for (const s of [...good, ...bad]) expect(Number.isFinite(s) && s > 0).toBe(true);
    expect(Math.min(...bad)).toBeGreaterThan(Math.max(...good));
    // Training-like good parts sit near the calibration statistics; defects well above them.
    expect(Math.min(...bad)).toBeGreaterThan(fit.header.stats.imageScore.max);
  });

  it('the score is Eq. 6–7 recomputed in JS from the bank (brute-force NN, b = 9 softmax weight)', async () => {
    const bb = await loadBackbone(tinyPath);
    const ex = await FeatureExtractor.create(bb, fit.header.config.embedding, 'cpu', fit.header.taps.map((t) => t.name));
    try {
      const bank = fit.arrays.bank as Float32Array;
      const bankNeighbours = fit.arrays.bankNeighbours as Int32Array;
      const D = fit.header.features.dim;
      const B = bankSize(fit);
      const b = (fit.header.detectorConfig as { neighbours: number }).neighbours;
      expect(b).toBe(9);
      for (const file of [goodTests[1]!, defectTests[1]!]) {
        const img = await loadImage(file, { width: INPUT, height: INPUT });
        const p = await ex.extract(img.rgb, 1);
        const P = p.h * p.w;
        // Eq. 6: s* = max_patch min_bank ‖q − m‖, m* its nearest bank entry.
        let sStar = -1;
        let qStar = -1;
        let mStar = -1;
        for (let q = 0; q < P; q++) {
          let best = Infinity;
          let arg = -1;
          for (let m = 0; m < B; m++) {
            const d = sqDist(p.data, q, bank, m, D);
            if (d < best) {
              best = d;
              arg = m;
            }
          }
          if (Math.sqrt(best) > sStar) {
            sStar = Math.sqrt(best);
            qStar = q;
            mStar = arg;
          }
        }
        // Eq. 7: w = 1 − exp(s*) / Σ_{m ∈ 𝒩_b(m*)} exp‖q* − m‖ (the first term being m* itself).
        const dists = Array.from(bankNeighbours.subarray(mStar * b, (mStar + 1) * b), (m) => Math.sqrt(sqDist(p.data, qStar, bank, m, D)));
        expect(dists[0]).toBeCloseTo(sStar, 6);
        const mx = Math.max(...dists);
        const w = 1 - Math.exp(sStar - mx) / dists.reduce((s, d) => s + Math.exp(d - mx), 0);
        const r = await scorer.scoreFile(file);
        expect(r.maxPatchScore).toBeCloseTo(sStar, 3);
        expect(Math.abs(r.score - w * sStar) / (w * sStar)).toBeLessThan(1e-3);
        expect(r.score).toBeLessThan(r.maxPatchScore); // b ≥ 2: the weight is < 1
      }
    } finally {
      await ex.release();
    }
  });

  it('scoring twice gives identical scores and maps', async () => {
    const a = await scorer.scoreFile(defectTests[0]!);
    const b = await scorer.scoreFile(defectTests[0]!);
    expect(b.score).toBe(a.score);
    expect(b.maxPatchScore).toBe(a.maxPatchScore);
    expect(Buffer.from(b.map.buffer, b.map.byteOffset, b.map.byteLength).equals(Buffer.from(a.map.buffer, a.map.byteOffset, a.map.byteLength))).toBe(true);
  });

  it('result fields: map of width × height, original size, file hash, score ≤ max patch score', async () => {
    const r = await scorer.scoreFile(goodTests[0]!);
    expect(r.width).toBe(INPUT);
    expect(r.height).toBe(INPUT);
    expect(r.map.length).toBe(INPUT * INPUT);
    expect(r.imageWidth).toBe(SIZE);
    expect(r.imageHeight).toBe(SIZE);
    expect(r.file).toBe(goodTests[0]);
    expect(r.sha256).toBe(sha256(await fs.readFile(goodTests[0]!)));
    expect(r.score).toBeGreaterThan(0);
    expect(r.score).toBeLessThanOrEqual(r.maxPatchScore);
    for (const v of r.map) expect(Number.isFinite(v)).toBe(true);
    // Where the time went: decode, backbone, the PatchCore head (NN search), the map step.
    const t = r.timing;
    expect(Object.keys(t).sort()).toEqual(['backboneMs', 'decodeMs', 'headMs', 'mapMs']);
    for (const v of Object.values(t)) expect(Number.isFinite(v) && v >= 0).toBe(true);
    expect(t.backboneMs + t.headMs + t.mapMs).toBeGreaterThan(0);
  });

  it('the map is higher around the defect than far from it', async () => {
    for (const [i, [x0, y0, s]] of DEFECTS.entries()) {
      const r = await scorer.scoreFile(defectTests[i]!);
      const k = INPUT / SIZE;
      // Mean inside the (scaled) square vs mean over map pixels ≥ 20 px (in model input) away from it.
      const inside: number[] = [];
      const far: number[] = [];
      const cx0 = x0 * k;
      const cy0 = y0 * k;
      const cs = s * k;
      for (let y = 0; y < INPUT; y++)
        for (let x = 0; x < INPUT; x++) {
          const v = r.map[y * INPUT + x]!;
          const dx = Math.max(cx0 - x, 0, x - (cx0 + cs));
          const dy = Math.max(cy0 - y, 0, y - (cy0 + cs));
          if (dx === 0 && dy === 0) inside.push(v);
          else if (Math.hypot(dx, dy) >= 20) far.push(v);
        }
      const mean = (a: number[]): number => a.reduce((p, c) => p + c, 0) / a.length;
      expect(inside.length).toBeGreaterThan(50);
      expect(far.length).toBeGreaterThan(200);
      expect(mean(inside), `defect ${i}`).toBeGreaterThan(2 * mean(far));
      // The map's hottest pixel is at (or next to) the defect.
      let arg = 0;
      for (let p = 1; p < r.map.length; p++) if (r.map[p]! > r.map[arg]!) arg = p;
      const ax = arg % INPUT;
      const ay = Math.floor(arg / INPUT);
      expect(Math.max(cx0 - ax, 0, ax - (cx0 + cs)), `hot x of defect ${i}`).toBeLessThanOrEqual(8);
      expect(Math.max(cy0 - ay, 0, ay - (cy0 + cs)), `hot y of defect ${i}`).toBeLessThanOrEqual(8);
    }
  });

  it('save + load the model, score again: the same scores', async () => {
    const file = path.join(dir, 'model.kensa');
    await saveModel(file, fit.header, fit.arrays);
    const loaded = await loadModel(file);
    expect(loaded.header.detector).toBe('patchcore');
    expect(loaded.header.state).toEqual(fit.header.state);
    const s2 = await openScorer(loaded, { backbone: tinyPath, ep: 'cpu' });
    try {
      const files = [...goodTests, ...defectTests];
      expect(await scoresOf(s2, files)).toEqual(await scoresOf(scorer, files));
    } finally {
      await s2.release();
    }
  });

  it('a different backbone file (tiny backbone with another seed) → MODEL_BACKBONE_MISMATCH', async () => {
    const e = await rejection(openScorer(inMemory(fit), { backbone: otherPath, ep: 'cpu' }));
    expect(e.code).toBe('MODEL_BACKBONE_MISMATCH');
    expect(e.message).toContain(otherPath);
  });

  it('the model’s backbone id that cannot be found → BACKBONE_NOT_FOUND naming the model and its backbone', async () => {
    const model = inMemory(fit);
    const e = await rejection(openScorer({ ...model, header: { ...model.header, backbone: { ...model.header.backbone, id: 'no-such-backbone' } } }, { ep: 'cpu' }));
    expect(e.code).toBe('BACKBONE_NOT_FOUND');
    expect(e.message).toContain('(in memory)');
  });

  it('scoreFiles: good, missing, 0-byte .png, text named .png, good → 2 results and 3 named errors, in order', async () => {
    const missing = path.join(dir, 'test', 'missing.png');
    const empty = path.join(dir, 'test', 'empty.png');
    const text = path.join(dir, 'test', 'notes.png');
    await fs.writeFile(empty, '');
    await fs.writeFile(text, 'these are notes, not pixels\n');
    const files = [goodTests[0]!, missing, empty, text, goodTests[1]!];
    const progress: number[] = [];
    const out = await collect(scorer.scoreFiles(files, { onProgress: (p) => progress.push(p.done) }));
    expect(out.map((o) => o.ok)).toEqual([true, false, false, false, true]);
    const errs = out.filter((o): o is Extract<ScoreOutcome, { ok: false }> => !o.ok);
    expect(errs.map((e) => e.error.code)).toEqual(['IMAGE_NOT_FOUND', 'IMAGE_EMPTY', 'IMAGE_UNSUPPORTED_FORMAT']);
    errs.forEach((e, i) => {
      const f = [missing, empty, text][i]!;
      expect(e.file).toBe(f);
      expect(e.error.file).toBe(f);
      expect(e.error.message).toContain(f);
    });
    const oks = out.filter((o): o is Extract<ScoreOutcome, { ok: true }> => o.ok);
    expect(oks.map((o) => o.result.file)).toEqual([goodTests[0], goodTests[1]]);
    // Same scores as scoring the files one by one.
    expect(oks.map((o) => o.result.score)).toEqual(await scoresOf(scorer, [goodTests[0]!, goodTests[1]!]));
    expect(progress).toEqual([1, 2, 3, 4, 5]);
  });

  it('scoreFiles with an aborted signal stops with CANCELLED', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await rejection(collect(scorer.scoreFiles(goodTests, { signal: ac.signal })));
    expect(e.code).toBe('CANCELLED');
  });

  it('scoreFile on a missing file throws IMAGE_NOT_FOUND', async () => {
    const e = await rejection(scorer.scoreFile(path.join(dir, 'nope.png')));
    expect(e.code).toBe('IMAGE_NOT_FOUND');
  });
});

describe('refitModel (PatchCore: reviewed good parts join the bank)', () => {
  let extra: string[];
  beforeAll(async () => {
    await fs.mkdir(path.join(dir, 'reviewed'), { recursive: true });
    extra = await Promise.all(Array.from({ length: 3 }, (_, i) => writePart(path.join(dir, 'reviewed', `fa_${i}.png`), makePart(700 + i))));
  });
  // tinyPath is set in beforeAll: read it when a test runs.
  const refitOpts = (): { backbone: string; ep: 'cpu' } => ({ backbone: tinyPath, ep: 'cpu' });

  it('extends the parent bank: parent rows first, new rows from the new parts, lineage recorded, statistics kept', async () => {
    const r = await refitModel(inMemory(fit), extra, refitOpts());
    const h = r.header;
    const size = bankSize(r);
    // 3 images × 64 patches = 192 new patches → up to round(0.1 · 192) = 19 new bank entries.
    expect(h.refit).not.toBeNull();
    expect(h.refit!.parentSize).toBe(70);
    expect(h.refit!.added).toBeGreaterThan(0);
    expect(h.refit!.added).toBeLessThanOrEqual(19);
    expect(size).toBe(70 + h.refit!.added);
    expect(h.state).toEqual({ bankSize: size, patchesBeforeCoreset: 704 + 192 });
    expect(h.refit!.images.map((i) => i.name)).toEqual(extra.map((f) => path.basename(f)));
    expect(h.refit!.images[1]!.sha256).toBe(sha256(await fs.readFile(extra[1]!)));
    expect(h.refit!.seconds).toBeGreaterThan(0);
    expect(h.parentId).toBe(fit.header.id);
    expect(h.id).not.toBe(fit.header.id);
    expect(h.detector).toBe('patchcore');
    // What makes versions comparable is the parent's: input settings, PatchCore settings,
    // features, good-part statistics and colour scale, training record.
    for (const k of ['config', 'detectorConfig', 'features', 'stats', 'backbone', 'taps'] as const) expect(h[k], k).toEqual(fit.header[k]);
    expect(h.fit.trainImages).toEqual(fit.header.fit.trainImages);
    expect(r.skipped).toEqual([]);

    const bank = r.arrays.bank as Float32Array;
    const nb = r.arrays.bankNeighbours as Int32Array;
    expect(bank.length).toBe(size * 40);
    expect(nb.length).toBe(size * 9);
    // Below the size limit nothing is dropped: the parent's bank is the first 70 rows, unchanged.
    expect(Buffer.from(bank.buffer, 0, 70 * 40 * 4).equals(Buffer.from((fit.arrays.bank as Float32Array).buffer))).toBe(true);
    // The new rows are not copies of parent rows, and every entry's neighbours start with itself.
    const parentRows = new Set(Array.from({ length: 70 }, (_, i) => Buffer.from(bank.buffer, i * 160, 160).toString('hex')));
    for (let i = 70; i < size; i++) expect(parentRows.has(Buffer.from(bank.buffer, i * 160, 160).toString('hex'))).toBe(false);
    for (let i = 0; i < size; i++) {
      expect(nb[i * 9]).toBe(i);
      for (let j = 0; j < 9; j++) expect(nb[i * 9 + j]! >= 0 && nb[i * 9 + j]! < size).toBe(true);
    }

    // The reviewed parts now look more normal; defects still stand out above every good part.
    const s2 = await openScorer(inMemory(r), refitOpts());
    try {
      const before = await scoresOf(scorer, extra);
      const after = await scoresOf(s2, extra);
      after.forEach((a, i) => expect(a, path.basename(extra[i]!)).toBeLessThan(before[i]!));
      const good = await scoresOf(s2, goodTests);
      const bad = await scoresOf(s2, defectTests);
      expect(Math.min(...bad)).toBeGreaterThan(Math.max(...good, ...after));
    } finally {
      await s2.release();
    }
  });

  it('at the bank size limit the most redundant old entries make room: the size stays at the limit', async () => {
    const capped = await fitModel(train, fitOpts({ config: { coreset: { maxSize: 70 } } }));
    expect(bankSize(capped)).toBe(70);
    const r = await refitModel(inMemory(capped), extra, refitOpts());
    expect(bankSize(r)).toBe(70);
    expect(r.header.refit!.parentSize).toBe(70);
    const added = r.header.refit!.added;
    expect(added).toBeGreaterThan(0);
    // The kept old rows are parent rows in their old order; the last `added` rows are new.
    const bank = r.arrays.bank as Float32Array;
    const parent = capped.arrays.bank as Float32Array;
    const rowOf = (a: Float32Array, i: number): string => Buffer.from(a.buffer, a.byteOffset + i * 160, 160).toString('hex');
    const parentIndex = new Map(Array.from({ length: 70 }, (_, i) => [rowOf(parent, i), i] as const));
    let last = -1;
    for (let i = 0; i < 70 - added; i++) {
      const at = parentIndex.get(rowOf(bank, i));
      expect(at, `row ${i} is a parent row`).toBeDefined();
      expect(at!).toBeGreaterThan(last);
      last = at!;
    }
    for (let i = 70 - added; i < 70; i++) expect(parentIndex.has(rowOf(bank, i)), `row ${i} is new`).toBe(false);
  });

  it('no new images → NO_IMAGES; another backbone → MODEL_BACKBONE_MISMATCH; an aborted signal → CANCELLED', async () => {
    expect((await rejection(refitModel(inMemory(fit), [], refitOpts()))).code).toBe('NO_IMAGES');
    expect((await rejection(refitModel(inMemory(fit), extra, { ...refitOpts(), backbone: otherPath }))).code).toBe('MODEL_BACKBONE_MISMATCH');
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(refitModel(inMemory(fit), extra, { ...refitOpts(), signal: ac.signal }))).code).toBe('CANCELLED');
  });
});

describe('format-1 model files (written before the detector seam)', () => {
  it('a fit written in the old layout loads, scores identically and refits', async () => {
    const file = path.join(dir, 'old-format.kensa');
    await fs.writeFile(file, encodeV1(toV1Header(fit.header), fit.arrays.bank as Float32Array, fit.arrays.bankNeighbours as Int32Array));
    const old = await loadModel(file);
    expect(old.header.formatVersion).toBe(1);
    expect(old.header.detector).toBe('patchcore');
    expect(old.header.state).toEqual(fit.header.state);
    expect(old.header.detectorConfig).toEqual(fit.header.detectorConfig);
    expect(old.header.config).toEqual(fit.header.config);
    const s1 = await openScorer(old, { backbone: tinyPath, ep: 'cpu' });
    try {
      const files = [...goodTests, ...defectTests];
      expect(await scoresOf(s1, files)).toEqual(await scoresOf(scorer, files));
    } finally {
      await s1.release();
    }
    const r = await refitModel(old, [goodTests[0]!], { backbone: tinyPath, ep: 'cpu' });
    expect(r.header.parentId).toBe(fit.header.id);
    expect(r.header.refit!.parentSize).toBe(70);
    expect(bankSize(r)).toBe(70 + r.header.refit!.added);
    const out = path.join(dir, 'old-format-refit.kensa');
    await saveModel(out, r.header, r.arrays);
    const again = await loadModel(out);
    expect((await fs.readFile(out)).readUInt32LE(8)).toBe(2);
    expect(again.header.formatVersion).toBe(2);
    expect(again.header.state).toEqual(r.header.state);
  });
});
