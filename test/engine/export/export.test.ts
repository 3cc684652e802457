/**
 * engine/export end to end on the shared MobileNetV2 and real MVTec bottle images: a fitted
 * model → one ONNX graph (uint8 images → score, map) that reproduces the engine in BOTH
 * onnxruntime-node and onnxruntime-web (wasm), passes onnx.checker (Debian's python3-onnx),
 * is refused when tampered with, keeps the threshold out of the graph (a consumer reading the
 * sidecar follows a retune without a new export), and exports every detector and a review head.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inMemory, type FitResult } from '../../../src-main/engine/detectors/pipeline';
import { fitModel, learnModel, openScorer } from '../../../src-main/engine/detectors/registry';
import { ExportedModel } from '../../../src-main/engine/export/consumer';
import { checkParity, exportModel, readMetadata, readSidecar, runExported, type ParityPart } from '../../../src-main/engine/export';
import { loadImage } from '../../../src-main/engine/imaging/load';
import { decodeModel, onnx } from '../../../src-main/engine/ort/onnx-builder';
import { createSession } from '../../../src-main/engine/ort/session';
import type { LoadedModel } from '../../../src-main/engine/model-file';

const repo = path.resolve(import.meta.dirname, '../../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const backbone = path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx');
const haveData = existsSync(bottle) && existsSync(backbone);
if (!haveData) console.warn(`SKIPPING export tests: ${bottle} or ${backbone} missing (set KENSA_SHARED)`);

/** A Python that has Debian's python3-onnx (the pyenv python on PATH may not). */
function pythonWithOnnx(): string | null {
  for (const py of [process.env.KENSA_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p))) {
    try {
      execFileSync(py, ['-c', 'import onnx.checker'], { stdio: 'ignore' });
      return py;
    } catch {
      // next
    }
  }
  return null;
}
const python = haveData ? pythonWithOnnx() : null;
if (haveData && !python) console.warn('SKIPPING onnx.checker tests: no python3 with the onnx module (apt-get install python3-onnx)');

/**
 * onnx.checker.check_model(full_check=True) on the loaded model. (Given a PATH, onnx 1.12's
 * full check runs infer_shapes_path, which writes the inferred shapes back INTO the file.)
 */
function onnxCheck(file: string): void {
  execFileSync(python!, ['-c', 'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { stdio: 'pipe' });
}

const list = (d: string, n: number, from = 0): string[] =>
  readdirSync(path.join(bottle, d))
    .sort()
    .slice(from, from + n)
    .map((f) => path.join(bottle, d, f));

let tmp: string;
let train: string[];
let parts: ParityPart[];
let patchcore: LoadedModel;
let threshold: number;

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

async function engineScores(model: LoadedModel, files: string[]): Promise<number[]> {
  const s = await openScorer(model, { backbone, ep: 'cpu' });
  try {
    const out: number[] = [];
    for (const f of files) out.push((await s.scoreFile(f)).score);
    return out;
  } finally {
    await s.release();
  }
}

const asModel = (fit: FitResult, name: string): LoadedModel => inMemory(fit, path.join(tmp, `${name}.kensa`));

beforeAll(async () => {
  if (!haveData) return;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-export-'));
  train = list('train/good', 10);
  parts = [...list('test/good', 3).map((file) => ({ file, label: 'good' as const })), ...list('test/broken_large', 3).map((file) => ({ file, label: 'defect' as const }))];
  patchcore = asModel(await fitModel(train, { backbone, ep: 'cpu' }), 'bottle-patchcore');
  // The threshold in force: midway between the good parts and the weakest defect (the engine's scores).
  const s = await engineScores(patchcore, parts.map((p) => p.file));
  const good = Math.max(...s.slice(0, 3));
  const weakest = Math.min(...s.slice(3));
  expect(weakest).toBeGreaterThan(good);
  threshold = (good + weakest) / 2;
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveData)('export: PatchCore on bottle', () => {
  let dir: string;
  let result: Awaited<ReturnType<typeof exportModel>>;

  beforeAll(async () => {
    dir = path.join(tmp, 'patchcore');
    result = await exportModel(patchcore, { outDir: dir, parts, threshold, ep: 'cpu', backbone });
  });

  it('reproduces the engine in onnxruntime-web (the parity check) and in onnxruntime-node', async () => {
    const p = result.parity;
    console.log(`patchcore parity: max |Δscore| ${p.maxAbsDeltaScore.toExponential(2)} (rel ${p.maxRelDeltaScore.toExponential(2)}), max |Δmap| ${p.maxAbsDeltaMap.toExponential(2)}`);
    expect(p.ok).toBe(true);
    expect(p.scored).toBe(6);
    expect(p.runtime).toMatch(/^onnxruntime-web .*wasm/);
    expect(p.maxAbsDeltaScore).toBeLessThanOrEqual(p.tolerance.absolute);
    expect(p.maxAbsDeltaMap).toBeLessThanOrEqual(p.tolerance.map);
    expect(p.verdictChanges).toBe(0);
    expect(p.defectsPassing).toBe(0);

    // The written file in onnxruntime-node, all six parts in ONE batch (any batch size).
    const { width: W, height: H } = patchcore.header.config.embedding;
    const session = await createSession(readFileSync(result.onnx), { ep: 'cpu' });
    const scorer = await openScorer(patchcore, { backbone, ep: 'cpu' });
    try {
      const engine = [];
      const rgb = new Uint8Array(parts.length * W * H * 3);
      for (const [i, part] of parts.entries()) {
        const img = await loadImage(part.file, { width: W, height: H, resize: patchcore.header.config.resize });
        rgb.set(img.rgb, i * W * H * 3);
        engine.push(await scorer.scoreFile(part.file));
      }
      const out = await runExported(session, rgb, parts.length, H, W);
      expect(out.score).toHaveLength(parts.length);
      expect(out.map).toHaveLength(parts.length * H * W);
      for (const [i, e] of engine.entries()) {
        expect(Math.abs(out.score[i]! - e.score)).toBeLessThanOrEqual(p.tolerance.absolute);
        let dm = 0;
        for (let k = 0; k < H * W; k++) dm = Math.max(dm, Math.abs(out.map[i * H * W + k]! - e.map[k]!));
        expect(dm).toBeLessThanOrEqual(p.tolerance.map);
      }
    } finally {
      await Promise.all([session.release(), scorer.release()]);
    }
  });

  it('writes the graph, sidecar, parity report, Triton repository and KServe manifest', () => {
    for (const f of result.files) expect(statSync(f).size).toBeGreaterThan(0);
    expect(sha(result.triton.model)).toBe(sha(result.onnx));
    const cfg = readFileSync(result.triton.config, 'utf8');
    expect(cfg).toContain('platform: "onnxruntime_onnx"');
    expect(cfg).toMatch(/name: "images"\s+data_type: TYPE_UINT8\s+dims: \[ -1, 224, 224, 3 \]/);
    expect(cfg).toMatch(/name: "score"\s+data_type: TYPE_FP32\s+dims: \[ -1 \]/);
    expect(cfg).toMatch(/name: "map"\s+data_type: TYPE_FP32\s+dims: \[ -1, 224, 224 \]/);
    const ks = readFileSync(result.kserve, 'utf8');
    expect(ks).toContain('kind: InferenceService');
    expect(ks).toMatch(/modelFormat:\s+name: onnx/);
    expect(ks).toContain('storageUri:');
    const report = JSON.parse(readFileSync(result.parityFile, 'utf8'));
    expect(report.items).toHaveLength(6);
    expect(report.ok).toBe(true);
    // The graph: standard ops only, opset 13, NHWC uint8 in, score [N] + map [N, H, W] out.
    const m = decodeModel(readFileSync(result.onnx));
    expect(m.opsetImport.map((o) => [o.domain ?? '', Number(o.version)])).toEqual([['', 13]]);
    expect(m.graph!.node!.every((n) => !n.domain)).toBe(true);
    expect(m.graph!.input!.map((i) => i.name)).toEqual(['images']);
    expect(m.graph!.output!.map((o) => o.name)).toEqual(['score', 'map']);
    // Eq. 7 is in the graph.
    const ops = new Set(m.graph!.node!.map((n) => n.opType));
    for (const op of ['ArgMax', 'GatherND', 'GatherElements', 'Gather', 'Softmax', 'TopK']) expect(ops.has(op)).toBe(true);
  });

  it.skipIf(!python)('passes onnx.checker with full_check', () => {
    onnxCheck(result.onnx);
  });

  it('keeps the threshold out of the graph: a consumer follows a sidecar retune without a new export', async () => {
    const sidecar = await readSidecar(result.sidecar);
    expect(sidecar.decision).toMatchObject({ threshold, reviewUpper: null, source: 'option' });
    expect(sidecar.model).toMatchObject({ id: patchcore.header.id, detector: 'patchcore' });
    expect(sidecar.backbone.sha256).toBe(patchcore.header.backbone.sha256);
    expect(sidecar.input).toMatchObject({ width: 224, height: 224, resize: 'stretch' });
    expect(sidecar.input.sharp).toContain(".resize(224, 224, { fit: 'fill', kernel: 'lanczos3'");
    expect(sidecar.parity.ok).toBe(true);
    const meta = readMetadata(readFileSync(result.onnx));
    expect(Number(meta['kensa.threshold'])).toBe(threshold);
    expect(meta['kensa.backbone.sha256']).toBe(patchcore.header.backbone.sha256);
    expect(meta['kensa.detector']).toBe('patchcore');
    expect(JSON.parse(meta['kensa.parity']!).ok).toBe(true);
    // No scalar constant of the graph is the threshold.
    const t32 = Math.fround(threshold);
    for (const init of decodeModel(readFileSync(result.onnx)).graph!.initializer!) {
      if (init.dataType !== onnx.TensorProto.DataType.FLOAT || (init.dims ?? []).reduce((a: number, b) => a * Number(b), 1) !== 1) continue;
      const raw = init.rawData!;
      expect(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + 4))[0]).not.toBe(t32);
    }

    const files = parts.map((p) => p.file);
    const graphBefore = sha(result.onnx);
    let consumer = await ExportedModel.open(result.sidecar);
    const before = await consumer.inspect(files);
    await consumer.release();
    expect(before.map((r) => r.verdict)).toEqual(['pass', 'pass', 'pass', 'review', 'review', 'review']);
    before.forEach((r, i) => expect(Math.abs(r.score - result.parity.items[i]!.exportScore)).toBeLessThan(1e-5));

    // Retune: a higher threshold and a review band, in the sidecar only.
    const scores = before.map((r) => r.score).sort((a, b) => a - b);
    const edited = { ...sidecar, decision: { ...sidecar.decision, threshold: (scores[3]! + scores[4]!) / 2, reviewUpper: (scores[4]! + scores[5]!) / 2 } };
    writeFileSync(result.sidecar, JSON.stringify(edited, null, 2));
    consumer = await ExportedModel.open(result.sidecar);
    const after = await consumer.inspect(files);
    await consumer.release();
    const verdicts = new Map(after.map((r) => [r.score, r.verdict]));
    expect(verdicts.get(scores[3]!)).toBe('pass');
    expect(verdicts.get(scores[4]!)).toBe('review');
    expect(verdicts.get(scores[5]!)).toBe('reject');
    expect(after.map((r) => r.score)).toEqual(before.map((r) => r.score));
    expect(sha(result.onnx)).toBe(graphBefore);
  });

  it("the sidecar's sharp call reproduces the engine's input pixels exactly (colour and grey PNGs)", async () => {
    const sidecar = await readSidecar(result.sidecar);
    const { width, height, resize } = sidecar.input;
    // The recipe is source text for a consumer; run it as written.
    const recipe = new Function('sharp', 'fileBytes', `return ${sidecar.input.sharp};`) as (s: typeof sharp, b: Buffer) => Promise<Buffer>;
    const grey = path.join(shared, 'data', 'magnetic_tile', 'test', 'good');
    const samples = [parts[0]!.file, parts[3]!.file, ...(existsSync(grey) ? [path.join(grey, readdirSync(grey).sort()[0]!)] : [])];
    for (const f of samples) {
      const theirs = await recipe(sharp, readFileSync(f));
      const engine = await loadImage(f, { width, height, resize });
      expect(theirs.length).toBe(width * height * 3);
      expect(Buffer.compare(theirs, Buffer.from(engine.rgb))).toBe(0);
    }
  });

  it('refuses a tampered graph (one weight changed), naming the worst part', async () => {
    const m = decodeModel(readFileSync(result.onnx));
    const conv = m.graph!.node!.find((n) => n.opType === 'Conv' && n.name?.startsWith('backbone/'))!;
    const w = m.graph!.initializer!.find((t) => t.name === conv.input![1])!;
    const raw = new Uint8Array(w.rawData!);
    const f = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    f[0] = f[0]! + 1; // one weight of the backbone's first convolution
    w.rawData = raw;
    const tampered = onnx.ModelProto.encode(m).finish();
    const r = await checkParity(tampered, patchcore, parts, { threshold, ep: 'cpu', backbone });
    expect(r.ok).toBe(false);
    expect(r.maxAbsDeltaScore).toBeGreaterThan(r.tolerance.absolute);
    expect(r.reasons[0]).toContain(r.worst!.file);
    expect(r.reasons[0]).toMatch(/score differs by .* on .*bottle\/test\/(good|broken_large)\/\d+\.png/);
  });

  it('refuses when a reviewed defect would pass at the threshold in force; writes only the parity report', async () => {
    const out = path.join(tmp, 'refused');
    const e = await exportModel(patchcore, { outDir: out, parts, threshold: 1e6, ep: 'cpu', backbone }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'EXPORT_PARITY' });
    expect((e as Error).message).toMatch(/reviewed defect .*broken_large\/000\.png would pass at the threshold in force/);
    expect(readdirSync(out)).toEqual(['parity.json']);
    expect(JSON.parse(readFileSync(path.join(out, 'parity.json'), 'utf8')).defectsPassing).toBe(3);
  });
});

/** Small settings: each detector fits in seconds on 10 images. */
const OTHERS: Record<string, Record<string, unknown>> = {
  padim: {},
  'student-teacher': { students: 3, hidden: 64, epochs: 2, batchSize: 256, rowsPerEpoch: 4000 },
  autoencoder: { hidden: 64, bottleneck: 8, epochs: 2, batchSize: 256, rowsPerEpoch: 4000, projection: { steps: 6, stepSize: 0.05, lambda: 0.1, maxStep: 0.25 } },
  fusion: {},
};

describe.skipIf(!haveData)('export: every other detector passes parity', () => {
  const few = (): ParityPart[] => [parts[0]!, parts[1]!, parts[3]!, parts[4]!];

  for (const [id, config] of Object.entries(OTHERS)) {
    it(id, async () => {
      const model = asModel(await fitModel(train, { detector: id, config, backbone, ep: 'cpu' }), `bottle-${id}`);
      const r = await exportModel(model, { outDir: path.join(tmp, id), parts: few(), ep: 'cpu', backbone });
      const p = r.parity;
      console.log(`${id} parity: max |Δscore| ${p.maxAbsDeltaScore.toExponential(2)} (rel ${p.maxRelDeltaScore.toExponential(2)}), max |Δmap| ${p.maxAbsDeltaMap.toExponential(2)} (rel ${p.maxRelDeltaMap.toExponential(2)})`);
      expect(p.ok).toBe(true);
      expect(p.scored).toBe(4);
      expect(r.info.model.detector).toBe(id);
      if (python) onnxCheck(r.onnx);
    });
  }

  it('a model with a review head (learning step on PatchCore): the evidence is in the graph', async () => {
    const reviewed = [
      ...list('test/good', 3, 10).map((file, i) => ({ id: i, file, label: 0 as const, defectType: null, mask: null })),
      ...list('test/contamination', 3).map((file, i) => ({ id: 10 + i, file, label: 1 as const, defectType: 'contamination', mask: null })),
    ];
    const learned = asModel(await learnModel(patchcore, reviewed, { ep: 'cpu', backbone, config: { epochs: 4, gain: 2, topK: 2 } }), 'bottle-learned');
    const check = [...few(), ...list('test/contamination', 2, 3).map((file) => ({ file, label: 'defect' as const }))];
    const r = await exportModel(learned, { outDir: path.join(tmp, 'learned'), parts: check, ep: 'cpu', backbone });
    expect(r.parity.ok).toBe(true);
    expect(r.info.model.reviewHead).toBe(true);
    // The head changes what the base detector says, and the export carries that change.
    const base = await engineScores(patchcore, check.map((p) => p.file));
    const moved = r.parity.items.filter((it, i) => Math.abs(it.exportScore - base[i]!) > 10 * r.parity.tolerance.absolute);
    expect(moved.length).toBeGreaterThan(0);
    if (python) onnxCheck(r.onnx);
  });
});
