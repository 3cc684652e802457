/**
 * Evaluation on a dataset in MVTec AD layout:
 *   <dir>/train/good/*            good images to fit on
 *   <dir>/test/good/*             good test images
 *   <dir>/test/<defect>/*         defective test images
 *   <dir>/ground_truth/<defect>/<name>_mask.png   pixel masks (nonzero = defect)
 *
 * Fits a detector (default PatchCore) on train/good, scores every test image and reports image AUROC, pixel
 * AUROC, PRO (to FPR 0.3), F1-max and PG0, with one row per image (path relative to the
 * dataset, label, defect type, raw score).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { KensaError, type SerializedKensaError } from './errors';
import { listImages } from './imaging/load';
import { loadMask } from './imaging/mask';
import { auroc, f1Max, PixelMetricsAccumulator, zeroMiss } from './core/metrics';
import { fitModel, getDetector, openScorer } from './detectors/registry';
import { inMemory, type FitOptions, type FitResult } from './detectors/pipeline';
import type { DetectorFact, DetectorId } from './model-types';

export interface EvalImage {
  path: string;
  label: 'good' | 'defect';
  defectType: string | null;
  score: number;
}

export interface EvalReport {
  dataset: string;
  detector: DetectorId;
  backbone: { id: string; sha256: string };
  ep: string;
  /** The detector's facts about the fitted model (bank size, epochs, …). */
  facts: DetectorFact[];
  features: { dim: number; grid: [number, number] };
  images: EvalImage[];
  errors: { path: string; error: SerializedKensaError }[];
  metrics: {
    imageAuroc: number;
    pixelAuroc: number | null;
    pro: number | null;
    f1Max: number;
    pg0: number | null;
    /** The zero-miss threshold PG0 was measured at (min defect score). */
    zeroMissThreshold: number | null;
  };
  counts: { train: number; good: number; defect: number; masks: number };
  timing: { fitSeconds: number; scoreSeconds: number; scoreMsPerImage: number; totalSeconds: number };
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function evaluateDataset(dataset: string, opts: FitOptions & { detector?: string; onFit?: (fit: FitResult) => Promise<void> } = {}): Promise<EvalReport> {
  const t0 = performance.now();
  const root = path.resolve(dataset);
  const trainDir = path.join(root, 'train', 'good');
  const testDir = path.join(root, 'test');
  if (!(await isDir(trainDir)) || !(await isDir(testDir))) {
    throw new KensaError('DATASET_INVALID', `${root} is not in MVTec layout: it needs train/good/ and test/<type>/ folders`, { file: root });
  }
  const train = await listImages(trainDir);
  const types = (await readdir(testDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const tests: { file: string; type: string }[] = [];
  for (const type of types) {
    for (const file of await listImages(path.join(testDir, type)).catch(() => [])) tests.push({ file, type });
  }
  if (tests.length === 0) throw new KensaError('NO_IMAGES', `no test images under ${testDir}`, { file: testDir });

  const detector = getDetector(opts.detector ?? 'patchcore'); // an unknown id fails before any work
  const fit = await fitModel(train, { ...opts, detector: detector.id, baseDir: root });
  await opts.onFit?.(fit);
  const fitSeconds = (performance.now() - t0) / 1000;
  const model = inMemory(fit);
  const scorer = await openScorer(model, { ...(opts.backbone === undefined ? {} : { backbone: opts.backbone }), ...(opts.ep === undefined ? {} : { ep: opts.ep }) });

  const t1 = performance.now();
  const images: EvalImage[] = [];
  const errors: EvalReport['errors'] = [];
  const maps: { map: Float32Array; mask: Uint8Array | null }[] = [];
  const { width, height } = fit.header.config.embedding;
  let masks = 0;
  let i = 0;
  try {
    for await (const o of scorer.scoreFiles(tests.map((t) => t.file), { ...(opts.signal ? { signal: opts.signal } : {}) })) {
      const t = tests[i++]!;
      const rel = path.relative(root, t.file).split(path.sep).join('/');
      opts.onProgress?.({ phase: 'score', done: i, total: tests.length });
      if (!o.ok) {
        errors.push({ path: rel, error: o.error });
        continue;
      }
      const good = t.type === 'good';
      images.push({ path: rel, label: good ? 'good' : 'defect', defectType: good ? null : t.type, score: o.result.score });
      let mask: Uint8Array | null = null;
      if (!good) {
        const base = path.basename(t.file, path.extname(t.file));
        const maskFile = path.join(root, 'ground_truth', t.type, `${base}_mask.png`);
        try {
          mask = await loadMask(maskFile, width, height);
          masks += 1;
        } catch {
          mask = null; // no mask: the image counts for image metrics only
        }
        if (mask === null) continue;
      }
      maps.push({ map: o.result.map, mask });
    }
  } finally {
    await scorer.release();
  }
  const scoreSeconds = (performance.now() - t1) / 1000;

  const scores = images.map((im) => im.score);
  const labels = images.map((im) => (im.label === 'defect' ? 1 : 0));
  let lo = Infinity;
  let hi = -Infinity;
  for (const { map } of maps) for (let k = 0; k < map.length; k++) {
    const v = map[k]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let pixelAuroc: number | null = null;
  let pro: number | null = null;
  if (masks > 0 && maps.length > 0) {
    const acc = new PixelMetricsAccumulator({ min: lo, max: hi, bins: 1 << 16 });
    for (const { map, mask } of maps) acc.add(map, mask, width, height);
    pixelAuroc = acc.pixelAuroc();
    pro = acc.pro(0.3);
  }
  const zm = zeroMiss(scores, labels);
  return {
    dataset: root,
    detector: detector.id,
    backbone: { id: fit.header.backbone.id, sha256: fit.header.backbone.sha256 },
    ep: fit.header.fit.ep,
    facts: detector.facts({ ...fit.header, sections: [] }),
    features: fit.header.features,
    images,
    errors,
    metrics: {
      imageAuroc: auroc(scores, labels),
      pixelAuroc,
      pro,
      f1Max: f1Max(scores, labels).f1,
      pg0: zm?.pg0 ?? null,
      zeroMissThreshold: zm?.threshold ?? null,
    },
    counts: { train: fit.header.fit.images, good: labels.filter((l) => l === 0).length, defect: labels.filter((l) => l === 1).length, masks },
    timing: { fitSeconds, scoreSeconds, scoreMsPerImage: (scoreSeconds * 1000) / Math.max(1, images.length), totalSeconds: (performance.now() - t0) / 1000 },
  };
}
