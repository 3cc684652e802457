/**
 * A reference consumer of an export, as a serving side would be written: it reads the sidecar
 * (`<name>.kensa-export.json`), loads the graph it names, prepares images with the sidecar's
 * resize policy (the engine's sharp pipeline), runs the graph and applies the sidecar's decision
 * values to the raw `score`. Nothing about the decision is in the graph, so editing the
 * sidecar's threshold or review band changes the verdicts without a new export.
 *
 * The graph file is checked against the sidecar by its GraphProto sha256 (the computation), not
 * the file's, so a retune that rewrites the metadata still matches.
 *
 * Layouts: images uint8 [n, H, W, 3]; maps [n·H·W] float32.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KensaError } from '../errors';
import { loadImage } from '../imaging/load';
import { createSession, type ort } from '../ort/session';
import { openWebSession, runExported } from './parity';
import { decide, graphSha256, readSidecar, type ExportSidecar, type Verdict } from './sidecar';
import type * as ortWeb from 'onnxruntime-web';

export interface Inspection {
  file: string;
  score: number;
  /** null without a threshold in the sidecar. */
  verdict: Verdict | null;
  /** [H·W] raw anomaly map. */
  map: Float32Array;
}

export class ExportedModel {
  private constructor(
    readonly sidecar: ExportSidecar,
    readonly onnxFile: string,
    private readonly session: ortWeb.InferenceSession | ort.InferenceSession,
  ) {}

  /** Opens an export by its sidecar file; `runtime` 'web' (onnxruntime-web wasm, default) or 'node'. */
  static async open(sidecarFile: string, runtime: 'web' | 'node' = 'web'): Promise<ExportedModel> {
    const sidecar = await readSidecar(sidecarFile);
    const onnxFile = path.resolve(path.dirname(sidecarFile), sidecar.onnx.file);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(onnxFile);
    } catch (e) {
      throw new KensaError('MODEL_NOT_FOUND', `the export's graph ${onnxFile} (named by ${sidecarFile}) cannot be read: ${(e as Error).message}`, { file: onnxFile, cause: e });
    }
    const actual = graphSha256(bytes);
    if (actual !== sidecar.onnx.graphSha256) {
      throw new KensaError('MODEL_INVALID', `${onnxFile} is not the graph ${sidecarFile} was written for (graph sha256 ${actual.slice(0, 12)}…, sidecar says ${sidecar.onnx.graphSha256.slice(0, 12)}…)`, { file: onnxFile });
    }
    const session = runtime === 'web' ? await openWebSession(bytes) : await createSession(bytes, { ep: 'cpu' });
    return new ExportedModel(sidecar, onnxFile, session);
  }

  /** Raw outputs for n prepared images [n, H, W, 3]. */
  async run(rgb: Uint8Array, n: number): Promise<{ score: Float32Array; map: Float32Array }> {
    return runExported(this.session, rgb, n, this.sidecar.input.height, this.sidecar.input.width);
  }

  /** Prepares image files as the sidecar says, runs them and decides (sidecar threshold / review band). */
  async inspect(files: string[]): Promise<Inspection[]> {
    const { width, height, resize } = this.sidecar.input;
    const px = width * height * 3;
    const rgb = new Uint8Array(files.length * px);
    for (const [i, f] of files.entries()) rgb.set((await loadImage(f, { width, height, resize })).rgb, i * px);
    const out = await this.run(rgb, files.length);
    const decision = { threshold: this.sidecar.decision.threshold, reviewUpper: this.sidecar.decision.reviewUpper ?? null };
    return files.map((file, i) => ({
      file,
      score: out.score[i]!,
      verdict: decide(out.score[i]!, decision),
      map: out.map.slice(i * width * height, (i + 1) * width * height),
    }));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
