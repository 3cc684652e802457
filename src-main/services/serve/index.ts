/**
 * `kensa serve` as a use-case: a model file or export folder served over the Open Inference
 * Protocol. The model runs in a worker thread (jobs/runner-client.ts) behind the HTTP server
 * (./server.ts), so health probes and metadata answer while an inference computes.
 *
 *   const s = await serveModel('part.kensa', { port: 0 });
 *   s.url, s.name, s.contract          // http://127.0.0.1:PORT, "part", input size, facts
 *   await s.close();                   // drains running requests, then releases the model
 *
 * Bind, token and name are checked before the model is loaded (INVALID_ARGUMENT saying what
 * to do); model problems are the runner's KensaErrors naming the file.
 */
import type { ModelContract, RunnerOptions } from '../../engine/serving/contract';
import { RunnerClient } from '../../jobs/runner-client';
import { checkServeOptions, startOipServer, type OipServer, type OipServerOptions } from './server';

export interface ServeModelOptions extends Omit<OipServerOptions, 'runner'>, RunnerOptions {}

export interface ServedModelHandle extends OipServer {
  contract: ModelContract;
}

export async function serveModel(target: string, opts: ServeModelOptions = {}): Promise<ServedModelHandle> {
  checkServeOptions(opts);
  const runner = await RunnerClient.open(target, { ...(opts.backbone === undefined ? {} : { backbone: opts.backbone }), ...(opts.ep === undefined ? {} : { ep: opts.ep }) });
  let server: OipServer;
  try {
    server = await startOipServer({ ...opts, runner });
  } catch (e) {
    await runner.release();
    throw e;
  }
  return {
    ...server,
    contract: runner.contract,
    async close(): Promise<void> {
      await server.close();
      await runner.release();
    },
  };
}

export { startOipServer, checkServeOptions, isLoopback, DEFAULT_PORT, DEFAULT_MAX_BODY_BYTES } from './server';
