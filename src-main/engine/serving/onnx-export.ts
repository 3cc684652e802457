/**
 * The serving contract (./contract.ts) over an exported model (engine/export/): an ONNX graph
 * that takes `images` uint8 [N, H, W, 3] and gives `score` float32 [N] and `map` float32
 * [N, H, W], run in onnxruntime-node, found by the `<name>.kensa-export.json` sidecar the
 * exporter writes beside it (read and checked by engine/export/sidecar.ts `readSidecar`).
 *
 * Where things are looked for (first found wins):
 *   sidecar  the file given; else the one `*.kensa-export.json` in the folder given, else in
 *            its `model_repository/<name>/` folders (several → an error naming them)
 *   graph    the sidecar's `onnx.file` (relative to the sidecar); `<dir>/<name>.onnx`;
 *            `<dir>/model_repository/<name>/<v>/model.onnx`; `<dir>/<v>/model.onnx` (v = the
 *            highest numeric version folder, which becomes the served version; else "1")
 *   size     the graph's `images` dims when they are numbers (they must agree with the
 *            sidecar's input.width/height), else the sidecar's
 * The graph must be the one the sidecar was written for (its GraphProto sha256, as
 * engine/export/consumer.ts checks it), so a retuned sidecar still matches and a swapped
 * graph does not.
 * Metadata parameters come from the sidecar: detector, model id/version, Kensa version,
 * backbone, input size and resize, threshold and review band upper (when set: retunable in
 * the sidecar without a new export), colour scale, good-part statistics, graph sha256.
 *
 * A graph with a fixed batch dimension b runs in chunks of b (the last one zero-padded). A
 * graph whose inputs/outputs are not the contract's is MODEL_INVALID, saying what it has.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { KensaError } from '../errors';
import { graphSha256, readSidecar, SIDECAR_SUFFIX, type ExportSidecar } from '../export/sidecar';
import { chooseExecutionProvider, createSession, ort } from '../ort/session';
import { INPUT_NAME, MAP_OUTPUT, SCORE_OUTPUT, servingName, type ModelContract, type ModelRunner, type ParameterValue, type RunnerOptions, type RunnerOutput } from './contract';

export { SIDECAR_SUFFIX };

export interface ExportFiles {
  name: string;
  sidecar: string;
  onnx: string;
  version: string;
  meta: ExportSidecar;
}

const exists = async (p: string): Promise<boolean> => stat(p).then(
  (s) => s.isFile(),
  () => false,
);

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function findSidecar(target: string): Promise<string> {
  if (target.endsWith(SIDECAR_SUFFIX)) return target;
  let found = (await listDir(target)).filter((f) => f.endsWith(SIDECAR_SUFFIX)).map((f) => path.join(target, f));
  if (found.length === 0) {
    const repo = path.join(target, 'model_repository');
    for (const m of await listDir(repo)) {
      found.push(...(await listDir(path.join(repo, m))).filter((f) => f.endsWith(SIDECAR_SUFFIX)).map((f) => path.join(repo, m, f)));
    }
  }
  found = [...new Set(found)];
  if (found.length === 0) {
    throw new KensaError(
      'MODEL_NOT_FOUND',
      `${target} is not an export folder: it holds no *${SIDECAR_SUFFIX} sidecar (an export is <name>.onnx or model_repository/<name>/1/model.onnx beside <name>${SIDECAR_SUFFIX})`,
      { file: target },
    );
  }
  if (found.length > 1) {
    throw new KensaError('MODEL_INVALID', `${target} holds ${found.length} exports (${found.map((f) => path.relative(target, f)).join(', ')}): serve one of them by giving its sidecar file`, { file: target });
  }
  return found[0]!;
}

/** Numeric version folders of `dir` that hold a model.onnx, highest first. */
async function versionFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const v of await listDir(dir)) if (/^\d+$/.test(v) && (await exists(path.join(dir, v, 'model.onnx')))) out.push(v);
  return out.sort((a, b) => Number(b) - Number(a));
}

/** The version folder a graph sits in (`…/<name>/<v>/model.onnx`), else "1". */
function versionOf(onnxFile: string): string {
  const v = path.basename(path.dirname(onnxFile));
  return path.basename(onnxFile) === 'model.onnx' && /^\d+$/.test(v) ? v : '1';
}

/** Finds an export's sidecar and graph (see the module comment for the search order). */
export async function findExport(target: string): Promise<ExportFiles> {
  const sidecar = await findSidecar(target);
  const dir = path.dirname(sidecar);
  const name = path.basename(sidecar).slice(0, -SIDECAR_SUFFIX.length);
  const meta = await readSidecar(sidecar);
  const tried: string[] = [];
  const named = meta.onnx?.file;
  if (typeof named === 'string' && named !== '') {
    const p = path.resolve(dir, named);
    tried.push(p);
    if (await exists(p)) return { name, sidecar, onnx: p, version: versionOf(p), meta };
  }
  const flat = path.join(dir, `${name}.onnx`);
  tried.push(flat);
  if (await exists(flat)) return { name, sidecar, onnx: flat, version: '1', meta };
  for (const repo of [path.join(dir, 'model_repository', name), dir]) {
    const [v] = await versionFolders(repo);
    tried.push(path.join(repo, '<version>', 'model.onnx'));
    if (v !== undefined) return { name, sidecar, onnx: path.join(repo, v, 'model.onnx'), version: v, meta };
  }
  throw new KensaError('MODEL_NOT_FOUND', `export ${sidecar}: its ONNX graph is not there (looked for ${tried.join(', ')})`, { file: sidecar });
}

/** The sidecar's facts as protocol parameters (scalars only; absent facts are left out). */
export function sidecarParameters(s: ExportSidecar): Record<string, ParameterValue> {
  const p: Record<string, ParameterValue | null | undefined> = {
    detector: s.model?.detector,
    model_id: s.model?.id,
    model_version: s.model?.version,
    kensa_version: s.model?.kensaVersion ?? s.kensaVersion,
    exported_at: s.createdAt,
    backbone: s.backbone?.id,
    threshold: s.decision?.threshold,
    review_upper: s.decision?.reviewUpper,
    decision_rule: s.decision?.rule,
    colour_scale_low: s.colourScale?.low,
    colour_scale_high: s.colourScale?.high,
    good_images: s.goodStats?.images,
    good_score_mean: s.goodStats?.imageScoreMean,
    good_score_std: s.goodStats?.imageScoreStd,
    good_score_max: s.goodStats?.imageScoreMax,
    graph_sha256: s.onnx?.graphSha256,
  };
  const out: Record<string, ParameterValue> = {};
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
  }
  return out;
}

type Dim = number | string;

function describeIo(list: readonly ort.InferenceSession.ValueMetadata[]): string {
  return list.map((m) => (m.isTensor ? `${m.name} ${m.type} [${m.shape.join(', ')}]` : `${m.name} (not a tensor)`)).join(', ') || 'none';
}

export class OnnxExportRunner implements ModelRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly contract: ModelContract,
    /** The graph's fixed batch size, or null when N is symbolic. */
    private readonly fixedBatch: number | null,
  ) {}

  static async open(target: string, opts: RunnerOptions = {}): Promise<OnnxExportRunner> {
    const files = await findExport(target);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(files.onnx);
    } catch (e) {
      throw new KensaError('MODEL_NOT_FOUND', `${files.onnx} (named by ${files.sidecar}) cannot be read: ${(e as Error).message}`, { file: files.onnx, cause: e });
    }
    // The sidecar was written for one computation: a graph that is not it (another export's,
    // an edited one) is refused, whatever its file name. A retune only edits metadata, which
    // this hash leaves out.
    const expected = files.meta.onnx?.graphSha256;
    if (typeof expected === 'string' && expected !== '') {
      let actual: string;
      try {
        actual = graphSha256(bytes);
      } catch (e) {
        throw new KensaError('MODEL_INVALID', `${files.onnx} is not an ONNX model: ${(e as Error).message.split('\n')[0]}`, { file: files.onnx, cause: e });
      }
      if (actual !== expected) {
        throw new KensaError('MODEL_INVALID', `${files.onnx} is not the graph ${files.sidecar} was written for (graph sha256 ${actual.slice(0, 12)}…, the sidecar says ${expected.slice(0, 12)}…)`, { file: files.onnx });
      }
    }
    const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
    let session: ort.InferenceSession;
    try {
      session = await createSession(bytes, { ep });
    } catch (e) {
      throw new KensaError('MODEL_INVALID', `${files.onnx}: ONNX Runtime cannot load this graph: ${(e as Error).message.split('\n')[0]}`, { file: files.onnx, cause: e });
    }
    try {
      const bad = (why: string): never => {
        throw new KensaError(
          'MODEL_INVALID',
          `${files.onnx} is not a Kensa export: ${why} (inputs: ${describeIo(session.inputMetadata)}; outputs: ${describeIo(session.outputMetadata)}; expected images uint8 [N, H, W, 3] → score float32 [N], map float32 [N, H, W])`,
          { file: files.onnx },
        );
      };
      const input = session.inputMetadata.find((m) => m.name === INPUT_NAME);
      if (!input || !input.isTensor) bad(`it has no tensor input "${INPUT_NAME}"`);
      if (session.inputMetadata.length !== 1) bad('it takes more inputs than "images"');
      const shape = (input as { shape: readonly Dim[] }).shape;
      if ((input as { type: string }).type !== 'uint8' || shape.length !== 4 || (typeof shape[3] === 'number' && shape[3] !== 3)) bad(`"${INPUT_NAME}" must be uint8 [N, H, W, 3]`);
      for (const name of [SCORE_OUTPUT, MAP_OUTPUT]) {
        const o = session.outputMetadata.find((m) => m.name === name);
        if (!o || !o.isTensor || o.type !== 'float32') bad(`it has no float32 output "${name}"`);
      }
      const params = sidecarParameters(files.meta);
      const sw = files.meta.input?.width;
      const sh = files.meta.input?.height;
      const fromSidecar = Number.isInteger(sw) && Number.isInteger(sh) && sw! > 0 && sh! > 0 ? { width: sw!, height: sh! } : null;
      const [n, h, w] = shape as Dim[];
      let size: { width: number; height: number };
      if (typeof h === 'number' && typeof w === 'number') {
        size = { width: w, height: h };
        if (fromSidecar && (fromSidecar.width !== w || fromSidecar.height !== h)) {
          bad(`the graph takes ${w}×${h} images but ${files.sidecar} says ${fromSidecar.width}×${fromSidecar.height}`);
        }
      } else if (fromSidecar) size = fromSidecar;
      else size = bad(`the graph's image size is symbolic and ${files.sidecar} gives no input.width/height`);
      const r = files.meta.input?.resize;
      const resize = r === 'crop' || r === 'pad' ? r : 'stretch';
      const contract: ModelContract = {
        name: servingName(files.name),
        version: files.version,
        platform: 'onnxruntime_onnx',
        width: size.width,
        height: size.height,
        resize,
        parameters: { ...params, input_width: size.width, input_height: size.height, resize, onnx_file: path.basename(files.onnx) },
        source: files.onnx,
        ep,
      };
      return new OnnxExportRunner(session, contract, typeof n === 'number' && n > 0 ? n : null);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  async infer(rgb: Uint8Array, n: number): Promise<RunnerOutput> {
    const { width, height } = this.contract;
    const px = width * height;
    const scores = new Float32Array(n);
    const maps = new Float32Array(n * px);
    const step = this.fixedBatch ?? n;
    for (let i = 0; i < n; i += step) {
      const k = Math.min(step, n - i);
      let chunk = rgb.subarray(i * px * 3, (i + k) * px * 3);
      if (k < step) {
        const padded = new Uint8Array(step * px * 3);
        padded.set(chunk);
        chunk = padded;
      }
      const out = await this.session.run({ [INPUT_NAME]: new ort.Tensor('uint8', chunk, [step, height, width, 3]) }, [SCORE_OUTPUT, MAP_OUTPUT]);
      const score = out[SCORE_OUTPUT]!.data as Float32Array;
      const map = out[MAP_OUTPUT]!.data as Float32Array;
      if (score.length !== step || map.length !== step * px) {
        throw new KensaError(
          'MODEL_INVALID',
          `${this.contract.source}: for ${step} image(s) the graph gave score [${out[SCORE_OUTPUT]!.dims.join(', ')}] and map [${out[MAP_OUTPUT]!.dims.join(', ')}], expected [${step}] and [${step}, ${height}, ${width}]`,
          { file: this.contract.source },
        );
      }
      scores.set(score.subarray(0, k), i);
      maps.set(map.subarray(0, k * px), i * px);
    }
    return { scores, maps };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
