/**
 * The model-runner worker thread: hosts one ModelRunner (engine/serving) so the thread that
 * answers HTTP never blocks while ONNX Runtime computes (onnxruntime-node's run is
 * synchronous on the calling thread).
 *
 * Protocol (./runner-client.ts is the other end): `open` once → `opened` with the contract,
 * or `error`; then `infer` messages, run strictly one after another in arrival order, each
 * answered by `result` (scores and maps transferred, not copied) or `error` with its id;
 * `close` releases the runner and answers `closed`. Errors travel as SerializedKensaError.
 */
import { parentPort } from 'node:worker_threads';
import { toSerializedError } from '../engine/errors';
import type { ModelRunner } from '../engine/serving/contract';
import { openRunner } from '../engine/serving/open';
import type { FromRunner, ToRunner } from './runner-protocol';

const port = parentPort;
if (!port) throw new Error('runner-worker must run in a worker thread');

let runner: ModelRunner | null = null;
/** Every message's work, in order: infers never overlap, close waits for them. */
let chain: Promise<void> = Promise.resolve();

function post(msg: FromRunner, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

async function handle(msg: ToRunner): Promise<void> {
  switch (msg.type) {
    case 'open':
      try {
        runner = await openRunner(msg.target, msg.options);
        post({ type: 'opened', contract: runner.contract });
      } catch (e) {
        post({ type: 'error', id: null, error: toSerializedError(e) });
      }
      return;
    case 'infer':
      try {
        if (!runner) throw new Error('no model is open');
        const out = await runner.infer(msg.rgb, msg.n);
        post({ type: 'result', id: msg.id, scores: out.scores, maps: out.maps }, [out.scores.buffer as ArrayBuffer, out.maps.buffer as ArrayBuffer]);
      } catch (e) {
        post({ type: 'error', id: msg.id, error: toSerializedError(e) });
      }
      return;
    case 'close':
      await runner?.release().catch(() => undefined);
      runner = null;
      post({ type: 'closed' });
      return;
  }
}

port.on('message', (msg: ToRunner) => {
  chain = chain.then(() => handle(msg));
});
