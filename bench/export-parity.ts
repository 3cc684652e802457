/**
 * Export parity on real data: for every category under $KENSA_SHARED/data (or the datasets
 * given) and every detector (plus PatchCore with a review head), fit on good training parts,
 * build the export graph (engine/export), check it with onnx.checker when python3-onnx is
 * there, and score the test parts with the engine (onnxruntime-node) and the exported graph
 * (onnxruntime-web, wasm). Prints max |Δscore| and |Δmap| (absolute and relative to the model's
 * score scale) and, at the threshold the product would propose on those parts (zero-miss on
 * the engine's scores minus 0.1 of the good-score spread, services/threshold), whether any
 * verdict changes and whether any defect would pass in the export. One JSON line per row.
 *
 *   npm run bench:export-parity [-- DATASET ...] [--train 60] [--max-parts 150] [--detectors a,b]
 *
 * Bounds (2-core budget): the first `--train` training images evenly spaced over the sorted
 * list, and at most `--max-parts` test parts per dataset, stratified by folder (evenly spaced in
 * each). Default detector settings. Results under bench/tmp/export-parity/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { inMemory } from '../src-main/engine/detectors/pipeline';
import { fitModel, learnModel } from '../src-main/engine/detectors/registry';
import { loadBackbone } from '../src-main/engine/backbone/backbone';
import { buildExportGraph } from '../src-main/engine/export/graph';
import { checkParity, rejudge, type ParityPart } from '../src-main/engine/export/parity';
import { isImageFileName } from '../src-main/engine/imaging/load';
import type { LoadedModel } from '../src-main/engine/model-file';
import { onnx } from '../src-main/engine/ort/onnx-builder';
import { zeroMissThreshold } from '../src-main/services/threshold';

const { values: v, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { train: { type: 'string' }, 'max-parts': { type: 'string' }, detectors: { type: 'string' }, threads: { type: 'string' } },
});
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(import.meta.dirname, '..', '..', 'shared'));
const backbone = path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx');
const nTrain = Number(v.train ?? 60);
const maxParts = Number(v['max-parts'] ?? 150);
const threads = Number(v.threads ?? 2);
const DETECTORS = (v.detectors ?? 'patchcore,padim,student-teacher,autoencoder,fusion,patchcore+review').split(',');
const out = path.join(import.meta.dirname, 'tmp', 'export-parity');
mkdirSync(out, { recursive: true });

function datasets(): string[] {
  if (positionals.length > 0) return positionals.map((p) => path.resolve(p));
  const root = path.join(shared, 'data');
  const found: string[] = [];
  const walk = (d: string): void => {
    if (existsSync(path.join(d, 'train', 'good')) && existsSync(path.join(d, 'test'))) found.push(d);
    else for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(root);
  return found.sort();
}

const images = (d: string): string[] => readdirSync(d).filter(isImageFileName).sort().map((f) => path.join(d, f));
const spaced = <T>(a: T[], n: number): T[] => (a.length <= n ? a : Array.from({ length: n }, (_, i) => a[Math.floor((i * a.length) / n)]!));

function testParts(dataset: string): ParityPart[] {
  const types = readdirSync(path.join(dataset, 'test')).sort();
  const all = types.map((t) => images(path.join(dataset, 'test', t)).map((file) => ({ file, label: t === 'good' ? ('good' as const) : ('defect' as const) })));
  const total = all.reduce((s, a) => s + a.length, 0);
  if (total <= maxParts) return all.flat();
  return all.flatMap((a) => spaced(a, Math.max(1, Math.round((a.length * maxParts) / total))));
}

function python(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-c', 'import onnx.checker'], { stdio: 'ignore' });
      return py;
    } catch {
      // next
    }
  }
  return null;
}
const py = python();

const bb = await loadBackbone(backbone);
const rows: Record<string, unknown>[] = [];
const e = (x: number): string => x.toExponential(1);
console.log(`export parity: engine (onnxruntime-node) vs exported graph (onnxruntime-web wasm); train ≤ ${nTrain}, parts ≤ ${maxParts} per dataset; onnx.checker ${py ? 'on' : 'MISSING (apt-get install python3-onnx)'}`);
console.log(['dataset', 'detector', 'parts', 'max|Δscore|', 'rel', 'max|Δmap|', 'rel', 'threshold', 'flips', 'defects passing', 'checker', 'ok'].join('\t'));
for (const dataset of datasets()) {
  const name = path.relative(path.join(shared, 'data'), dataset) || path.basename(dataset);
  const train = spaced(images(path.join(dataset, 'train', 'good')), nTrain);
  const parts = testParts(dataset);
  let patchcore: LoadedModel | null = null;
  for (const det of DETECTORS) {
    const t0 = performance.now();
    let model: LoadedModel;
    if (det === 'patchcore+review') {
      patchcore ??= inMemory(await fitModel(train, { backbone, ep: 'cpu' }), `${name}-patchcore`);
      const goods = parts.filter((p) => p.label === 'good');
      const defects = parts.filter((p) => p.label === 'defect');
      const k = Math.max(1, Math.min(5, goods.length - 1, defects.length - 1));
      const reviewed = [...spaced(goods, k).map((p, i) => ({ id: i, file: p.file, label: 0 as const, defectType: null, mask: null })), ...spaced(defects, k).map((p, i) => ({ id: 100 + i, file: p.file, label: 1 as const, defectType: path.basename(path.dirname(p.file)), mask: null }))];
      model = inMemory(await learnModel(patchcore, reviewed, { ep: 'cpu', backbone }), `${name}-patchcore-review`);
    } else {
      model = inMemory(await fitModel(train, { detector: det, backbone, ep: 'cpu' }), `${name}-${det}`);
      if (det === 'patchcore') patchcore = model;
    }
    const fitS = (performance.now() - t0) / 1000;
    const graph = buildExportGraph(model, bb);
    const bytes = onnx.ModelProto.encode(graph.model).finish();
    const file = path.join(out, `${name.replace(/\//g, '_')}-${det.replace('+', '_')}.onnx`);
    writeFileSync(file, bytes);
    let checker = 'skipped';
    if (py) {
      try {
        execFileSync(py, ['-c', 'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { stdio: 'pipe' });
        checker = 'ok';
      } catch (err) {
        checker = `FAILED: ${String((err as { stderr?: Buffer }).stderr ?? err).split('\n').filter(Boolean).pop()}`;
      }
    }
    const t1 = performance.now();
    const raw = await checkParity(bytes, model, parts, { threshold: null, ep: 'cpu', backbone, threads });
    const paritySeconds = (performance.now() - t1) / 1000;
    const goodScores = raw.items.filter((p) => p.label === 'good').map((p) => p.engineScore);
    const defectScores = raw.items.filter((p) => p.label === 'defect').map((p) => p.engineScore);
    const zm = zeroMissThreshold(defectScores, goodScores, { kind: 'spread', value: 0.1 });
    const threshold = zm.status === 'ok' ? zm.threshold : null;
    const r = rejudge(raw, threshold);
    const row = {
      dataset: name,
      detector: det,
      parts: r.scored,
      maxAbsDeltaScore: r.maxAbsDeltaScore,
      maxRelDeltaScore: r.maxRelDeltaScore,
      maxAbsDeltaMap: r.maxAbsDeltaMap,
      maxRelDeltaMap: r.maxRelDeltaMap,
      scoreScale: r.tolerance.scale,
      threshold,
      verdictChanges: r.verdictChanges,
      defectsPassing: r.defectsPassing,
      engineDefectsPassing: r.items.filter((p) => p.label === 'defect' && p.engineFlagged === false).length,
      checker,
      ok: r.ok,
      reasons: r.reasons,
      worst: r.worst,
      nodes: graph.nodes,
      opset: graph.opset,
      weightMb: Number((graph.weightBytes / 1e6).toFixed(1)),
      fitSeconds: Number(fitS.toFixed(1)),
      paritySeconds: Number(paritySeconds.toFixed(1)),
    };
    rows.push(row);
    console.log([name, det, r.scored, e(r.maxAbsDeltaScore), e(r.maxRelDeltaScore), e(r.maxAbsDeltaMap), e(r.maxRelDeltaMap), threshold === null ? 'n/a' : threshold.toPrecision(5), r.verdictChanges, r.defectsPassing, checker, r.ok ? 'ok' : `REFUSED: ${r.reasons[0]}`].join('\t'));
    console.log(JSON.stringify(row));
  }
}
writeFileSync(path.join(out, 'results.json'), JSON.stringify(rows, null, 2));
