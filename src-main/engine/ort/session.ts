/**
 * ONNX Runtime sessions and execution-provider (EP) choice.
 *
 * `auto` tries the GPU providers that `listSupportedBackends()` offers on this platform
 * (CUDA, DirectML, CoreML, WebGPU, in that order) with a tiny probe graph, once per
 * process, and falls back to CPU (MLAS). The provider that actually ran, and why the others
 * were passed over, is reported so the UI and CLI can show it.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { DType, GraphBuilder } from './onnx-builder';

export type ExecutionProvider = 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';
export type EpRequest = 'auto' | ExecutionProvider;

export interface EpChoice {
  ep: ExecutionProvider;
  /** Providers that were tried before and failed, with the reason (first line of the error). */
  skipped: { ep: ExecutionProvider; reason: string }[];
}

// ORT's own log goes to stderr and is fixed when its environment starts (first session). A
// missing GPU provider library is expected while probing, and real failures reach us as
// exceptions, so keep it quiet unless asked (KENSA_ORT_LOG=verbose|info|warning|error).
ort.env.logLevel = (process.env.KENSA_ORT_LOG as typeof ort.env.logLevel | undefined) ?? 'fatal';

const GPU_ORDER: ExecutionProvider[] = ['cuda', 'dml', 'coreml', 'webgpu'];
/**
 * WebGPU on Linux needs a Vulkan driver; without one Dawn prints a warning on every probe, and
 * Linux machines with a GPU have CUDA. So `auto` tries WebGPU on Windows and macOS only;
 * `--ep webgpu` still tries it anywhere.
 */
const AUTO_SKIP: Partial<Record<NodeJS.Platform, ExecutionProvider[]>> = { linux: ['webgpu'] };
const probed = new Map<ExecutionProvider, string | null>(); // null = works, string = why not

function probeGraph(): Uint8Array {
  const g = new GraphBuilder('probe');
  g.input('a', DType.FLOAT, [2]);
  g.op1('Relu', ['a'], {}, 'b');
  g.output('b', DType.FLOAT, [2]);
  return g.toModel();
}

async function probe(ep: ExecutionProvider): Promise<string | null> {
  const cached = probed.get(ep);
  if (cached !== undefined) return cached;
  let result: string | null = null;
  try {
    const s = await ort.InferenceSession.create(probeGraph(), { executionProviders: [ep], logSeverityLevel: 4 });
    await s.run({ a: new ort.Tensor('float32', Float32Array.of(-1, 1), [2]) });
    await s.release();
  } catch (e) {
    result = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 160);
  }
  probed.set(ep, result);
  return result;
}

/** Which EP to use for `request` on this machine (probing GPUs at most once per process). */
export async function chooseExecutionProvider(request: EpRequest = 'auto'): Promise<EpChoice> {
  const offered = new Set(ort.listSupportedBackends().map((b) => b.name));
  const skipped: EpChoice['skipped'] = [];
  const skipAuto = AUTO_SKIP[process.platform] ?? [];
  const candidates = request === 'auto' ? GPU_ORDER.filter((e) => offered.has(e) && !skipAuto.includes(e)) : request === 'cpu' ? [] : [request];
  for (const ep of candidates) {
    const why = await probe(ep);
    if (why === null) return { ep, skipped };
    skipped.push({ ep, reason: why });
  }
  return { ep: 'cpu', skipped };
}

export interface SessionOptions {
  ep: ExecutionProvider;
  /**
   * Intra-op threads. Default: every logical CPU. (ORT's own default counts physical cores,
   * which halves GEMM speed on a 2-vCPU machine that reports one core with two threads.)
   */
  threads?: number;
}

/** Creates a session on `ep` with CPU as the fallback for nodes the EP cannot run. */
export async function createSession(model: Uint8Array, opts: SessionOptions): Promise<ort.InferenceSession> {
  const executionProviders: ExecutionProvider[] = opts.ep === 'cpu' ? ['cpu'] : [opts.ep, 'cpu'];
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4, // failures reach us as exceptions with the same text
    // Several sessions (extractor, NN search, map) run one after another on the same cores:
    // threads that spin-wait after a run steal the CPU from the next session.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  so.intraOpNumThreads = opts.threads ?? defaultThreads();
  return ort.InferenceSession.create(model, so);
}

export function defaultThreads(): number {
  const env = Number(process.env.KENSA_THREADS);
  return Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
}

export { ort };
