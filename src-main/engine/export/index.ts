/**
 * `kensa export`: a fitted model as ONE self-contained ONNX graph (./graph.ts), checked against
 * the engine in a second runtime before it is written (./parity.ts), with what a serving side
 * needs beside it. Writes into `outDir`:
 *
 *   <name>.onnx                          the graph; metadata_props carry the facts of the sidecar
 *   <name>.kensa-export.json             the sidecar (./sidecar.ts): input size and resize policy
 *                                        (the exact sharp call), threshold, review band, colour
 *                                        scale, detector, backbone sha256, model id/version,
 *                                        opset, the parity summary
 *   parity.json                          the full parity report (every part), written even when
 *                                        the export is refused
 *   model_repository/<name>/1/model.onnx  the same graph in Triton's layout (hard link or copy)
 *   model_repository/<name>/config.pbtxt
 *   kserve-inferenceservice.yaml         (./serving.ts)
 *
 * Refused (EXPORT_PARITY, naming the worst part, nothing but parity.json written) when the
 * parity check fails; EXPORT_UNSUPPORTED when the model cannot be expressed in standard ONNX.
 */
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { KensaError } from '../errors';
import { backboneFor } from '../detectors/pipeline';
import type { RunOptions } from '../detectors/types';
import { sharpRecipe } from '../imaging/load';
import { writeFileAtomic, type LoadedModel } from '../model-file';
import type { EpRequest } from '../ort/session';
import { onnx } from '../ort/onnx-builder';
import { KENSA_VERSION } from '../../shared/version';
import { buildExportGraph, EXPORT_IO } from './graph';
import { checkParity, paritySummary, type ParityPart, type ParityReport } from './parity';
import { kserveManifest, tritonConfig, tritonName } from './serving';
import { DECISION_RULE, encodeWithMetadata, graphSha256, metadataProps, SIDECAR_FORMAT, SIDECAR_SUFFIX, SIDECAR_VERSION, type ExportSidecar } from './sidecar';

export interface ExportOptions extends RunOptions {
  outDir: string;
  /** Base name of the files (default: the model file's name without .kensa). */
  name?: string;
  /** Parts the parity check scores with both runtimes. */
  parts: ParityPart[];
  /** Threshold in force (flagged ⇔ score ≥ threshold); null/absent = none (no verdict check). */
  threshold?: number | null;
  reviewUpper?: number | null;
  /** Where the threshold came from ('project', 'option', 'none'): recorded in the sidecar. */
  thresholdSource?: string;
  /** The project's version number of the model, when it came from a project. */
  projectVersion?: number | null;
  /** Backbone path/id override (must have the model's sha256). */
  backbone?: string;
  ep?: EpRequest;
  /** Parity tolerance relative to the model's score scale (./parity.ts). */
  tolerance?: number;
  /** onnxruntime-web threads for the parity run. */
  threads?: number;
}

export interface ExportResult {
  dir: string;
  name: string;
  onnx: string;
  sidecar: string;
  parityFile: string;
  triton: { model: string; config: string };
  kserve: string;
  files: string[];
  info: ExportSidecar;
  parity: ParityReport;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A file-name-safe base name. */
export function exportName(model: LoadedModel, given?: string): string {
  const base = given ?? (model.file.endsWith('.kensa') ? path.basename(model.file, '.kensa') : `kensa-${model.header.detector}-${model.header.id.slice(0, 8)}`);
  const s = base.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._-]+/, '');
  if (s.length === 0) throw new KensaError('INVALID_ARGUMENT', `export name "${base}" has no usable characters (letters, digits, _ . -)`);
  return s;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  await rm(to, { force: true });
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

export async function exportModel(model: LoadedModel, opts: ExportOptions): Promise<ExportResult> {
  const h = model.header;
  const name = exportName(model, opts.name);
  const dir = path.resolve(opts.outDir);
  const threshold = opts.threshold ?? null;
  const reviewUpper = opts.reviewUpper ?? null;
  if (threshold !== null && !Number.isFinite(threshold)) throw new KensaError('INVALID_ARGUMENT', `threshold must be a finite number, got ${threshold}`);
  if (reviewUpper !== null && (threshold === null || !(reviewUpper >= threshold))) {
    throw new KensaError('INVALID_ARGUMENT', `review band upper ${reviewUpper} needs a threshold at or below it (threshold ${String(threshold)})`);
  }
  const backbone = await backboneFor(h, model.file, opts.backbone);
  const graph = buildExportGraph(model, backbone);
  const plain = onnx.ModelProto.encode(graph.model).finish();
  const parity = await checkParity(plain, model, opts.parts, {
    threshold,
    ...(opts.tolerance === undefined ? {} : { tolerance: opts.tolerance }),
    ...(opts.backbone === undefined ? {} : { backbone: opts.backbone }),
    ...(opts.ep === undefined ? {} : { ep: opts.ep }),
    ...(opts.threads === undefined ? {} : { threads: opts.threads }),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  await mkdir(dir, { recursive: true });
  const parityFile = path.join(dir, 'parity.json');
  await writeFileAtomic(parityFile, Buffer.from(`${JSON.stringify({ model: model.file, name, graphSha256: graphSha256(plain), ...parity }, null, 2)}\n`));
  if (!parity.ok) {
    const more = parity.reasons.length > 1 ? ` (and ${parity.reasons.length - 1} more reason${parity.reasons.length > 2 ? 's' : ''})` : '';
    throw new KensaError('EXPORT_PARITY', `export refused: ${parity.reasons[0]}${more}; report: ${parityFile}`, { file: parity.worst?.file ?? model.file });
  }

  const { width: W, height: H } = h.config.embedding;
  const info: ExportSidecar = {
    format: SIDECAR_FORMAT,
    formatVersion: SIDECAR_VERSION,
    name,
    createdAt: new Date().toISOString(),
    kensaVersion: KENSA_VERSION,
    model: {
      id: h.id,
      parentId: h.parentId,
      version: opts.projectVersion ?? null,
      detector: h.detector,
      file: path.basename(model.file),
      createdAt: h.createdAt,
      kensaVersion: h.kensaVersion,
      reviewHead: Boolean(h.review),
    },
    backbone: { id: backbone.id, file: path.basename(backbone.file), sha256: backbone.sha256, taps: h.taps.map((t) => t.name) },
    onnx: { file: `${name}.onnx`, sha256: '', graphSha256: graphSha256(plain), opset: graph.opset, irVersion: Number(graph.model.irVersion), nodes: graph.nodes, weightBytes: graph.weightBytes },
    input: {
      name: EXPORT_IO.images,
      dtype: 'uint8',
      layout: 'NHWC',
      shape: [-1, H, W, 3],
      channels: 'RGB',
      width: W,
      height: H,
      resize: h.config.resize,
      sharp: sharpRecipe(W, H, h.config.resize),
      note: 'any batch size; 8-bit sRGB, alpha flattened onto black, 16-bit samples scaled to 8 bits, grey replicated to RGB (the sharp call does all of it); BMP is decoded by Kensa itself and enters sharp as raw pixels',
    },
    outputs: {
      score: { name: EXPORT_IO.score, dtype: 'float32', shape: [-1], meaning: `raw image score of the ${h.detector} model (as kensa score prints it)` },
      map: { name: EXPORT_IO.map, dtype: 'float32', shape: [-1, H, W], meaning: 'raw anomaly map at the input size, upsampled and blurred, before any colour scale' },
    },
    decision: { threshold, reviewUpper, source: threshold === null ? 'none' : (opts.thresholdSource ?? 'option'), rule: DECISION_RULE },
    colourScale: { low: h.stats.colourScale.low, high: h.stats.colourScale.high },
    goodStats: { images: h.stats.images, imageScoreMean: h.stats.imageScore.mean, imageScoreStd: h.stats.imageScore.std, imageScoreMax: h.stats.imageScore.max },
    parity: paritySummary(parity),
  };
  const doc = `Kensa ${h.detector} model ${h.id}: images uint8 [N,${H},${W},3] RGB -> score [N], map [N,${H},${W}]. Decision values are in metadata_props and ${name}${SIDECAR_SUFFIX}, not in the graph.`;
  const bytes = encodeWithMetadata(graph.model, metadataProps(info), opts.projectVersion ?? null, doc);
  info.onnx.sha256 = sha256(bytes);
  if (graphSha256(bytes) !== info.onnx.graphSha256) throw new Error('export: adding the metadata changed the graph bytes');

  const onnxFile = path.join(dir, `${name}.onnx`);
  const sidecarFile = path.join(dir, `${name}${SIDECAR_SUFFIX}`);
  const tname = tritonName(name);
  const tritonDir = path.join(dir, 'model_repository', tname);
  const tritonModel = path.join(tritonDir, '1', 'model.onnx');
  const tritonCfg = path.join(tritonDir, 'config.pbtxt');
  const kserve = path.join(dir, 'kserve-inferenceservice.yaml');
  await writeFileAtomic(onnxFile, bytes);
  await writeFileAtomic(sidecarFile, Buffer.from(`${JSON.stringify(info, null, 2)}\n`));
  await mkdir(path.dirname(tritonModel), { recursive: true });
  await linkOrCopy(onnxFile, tritonModel);
  await writeFileAtomic(tritonCfg, Buffer.from(tritonConfig(info)));
  await writeFileAtomic(kserve, Buffer.from(kserveManifest(info)));
  return {
    dir,
    name,
    onnx: onnxFile,
    sidecar: sidecarFile,
    parityFile,
    triton: { model: tritonModel, config: tritonCfg },
    kserve,
    files: [onnxFile, sidecarFile, parityFile, tritonModel, tritonCfg, kserve],
    info,
    parity,
  };
}

export { buildExportGraph, EXPORT_IO } from './graph';
export { checkParity, openWebSession, runExported, scoreScale, DEFAULT_PARITY_TOLERANCE, type ParityPart, type ParityReport, type ParitySummary } from './parity';
export { decide, readMetadata, readSidecar, SIDECAR_SUFFIX, type ExportSidecar, type Verdict } from './sidecar';
export { EXPORT_OPSET } from './backbone-graph';
