/**
 * `kensa serve MODEL.kensa|EXPORT_DIR [--port N] [--host H] [--token T] [--name NAME]
 * [--max-body-mb M]`: one model over the Open Inference Protocol (KServe v2 REST, as Triton
 * and KServe speak it), until Ctrl-C or SIGTERM (services/serve).
 *
 * Prints the model and its URLs on stdout (`--json`: one JSON object), then serves. Binds
 * 127.0.0.1 by default; `--host` anything else needs `--token` (or KENSA_SERVE_TOKEN, which
 * keeps the token out of the process list). The first Ctrl-C stops gracefully (running
 * requests finish, exit 0); a second one ends the process at once. Usage errors exit 2 with
 * one line; a model that cannot be loaded or a port in use exit 1 (`kensa: error: …`).
 */
import type { ParseArgsConfig } from 'node:util';
import { isKensaError } from '../engine/errors';
import type { EpRequest } from '../engine/ort/session';
import { checkServeOptions, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, serveModel } from '../services/serve';
import { modelMetadata } from '../services/serve/protocol';

export const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  token: { type: 'string' },
  name: { type: 'string' },
  'max-body-mb': { type: 'string' },
} satisfies ParseArgsConfig['options'];

export const SERVE_HELP = `  kensa serve model.kensa|export-dir [--port ${DEFAULT_PORT}] [--host 127.0.0.1] [--token T] [--name NAME] [--max-body-mb ${DEFAULT_MAX_BODY_BYTES / 1024 ** 2}]
                                                           serve one model over the Open Inference Protocol (KServe v2 REST):
                                                           images UINT8 [N,H,W,3] → score FP32 [N], map FP32 [N,H,W]; a host
                                                           other than loopback needs --token (or KENSA_SERVE_TOKEN);
                                                           --ep and --backbone as for score; --json prints the URLs as JSON
`;

export interface ServeValues {
  port?: string;
  host?: string;
  token?: string;
  name?: string;
  'max-body-mb'?: string;
  backbone?: string;
  ep?: string;
  json?: boolean;
}

function usage(message: string): number {
  process.stderr.write(`kensa: ${message}\n`);
  return 2;
}

/** Waits for SIGINT or SIGTERM (once); a second signal gets Node's default (exit at once). */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => (): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

export async function cmdServe(args: string[], v: ServeValues): Promise<number> {
  if (args.length !== 1) return usage('usage: kensa serve model.kensa|export-dir [--port N] [--host H] [--token T] [--name NAME] [--max-body-mb M]');
  let port = DEFAULT_PORT;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!/^\d+$/.test(v.port) || port > 65535) return usage(`--port must be an integer 0–65535 (0 picks a free port), got "${v.port}"`);
  }
  let maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  if (v['max-body-mb'] !== undefined) {
    const mb = Number(v['max-body-mb']);
    if (!(Number.isFinite(mb) && mb >= 0.001 && mb <= 4096)) return usage(`--max-body-mb must be a number of MiB from 0.001 to 4096, got "${v['max-body-mb']}"`);
    maxBodyBytes = Math.round(mb * 1024 * 1024);
  }
  const ep = v.ep as EpRequest | undefined;
  if (ep !== undefined && !['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'].includes(ep)) return usage(`--ep must be one of auto, cpu, cuda, dml, coreml, webgpu, got "${ep}"`);
  const token = v.token ?? (process.env.KENSA_SERVE_TOKEN || undefined);
  const opts = {
    port,
    maxBodyBytes,
    ...(v.host === undefined ? {} : { host: v.host }),
    ...(token === undefined ? {} : { token }),
    ...(v.name === undefined ? {} : { name: v.name }),
    ...(v.backbone === undefined ? {} : { backbone: v.backbone }),
    ...(ep === undefined ? {} : { ep }),
  };
  try {
    checkServeOptions(opts);
  } catch (e) {
    if (isKensaError(e)) return usage(e.message);
    throw e;
  }

  const served = await serveModel(args[0]!, { ...opts, onError: (line) => process.stderr.write(`kensa serve: ${line}\n`) });
  const stopped = untilSignal();
  const c = served.contract;
  const modelUrl = `${served.url}/v2/models/${served.name}`;
  if (v.json) {
    const meta = modelMetadata({ name: served.name, contract: c });
    process.stdout.write(`${JSON.stringify({ url: served.url, model: served.name, modelUrl, inferUrl: `${modelUrl}/infer`, version: c.version, ep: c.ep, source: c.source, token: token !== undefined, ...meta })}\n`);
  } else {
    const what = c.platform === 'kensa' ? `${String(c.parameters.detector ?? 'kensa')} model` : 'ONNX export';
    process.stdout.write(
      `serving ${what} "${served.name}" (version ${c.version}) from ${c.source} on ${c.ep}\n` +
        `  images UINT8 [N, ${c.height}, ${c.width}, 3] (RGB, resize ${c.resize}) → score FP32 [N], map FP32 [N, ${c.height}, ${c.width}]\n` +
        `  ${served.url}   (health: /v2/health/ready)\n` +
        `  POST ${modelUrl}/infer${token !== undefined ? '   (Authorization: Bearer <token>)' : ''}\n` +
        'Ctrl-C stops (running requests finish first)\n',
    );
  }
  const sig = await stopped;
  process.stderr.write(`kensa serve: ${sig}: stopping, letting running requests finish…\n`);
  await served.close();
  process.stderr.write('kensa serve: stopped\n');
  return 0;
}
