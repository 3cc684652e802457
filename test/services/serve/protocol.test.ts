/**
 * The Open Inference Protocol codec without HTTP: what parses (JSON flat and nested, binary,
 * several outputs, binary_data_output and its per-output override), what each malformed
 * request is told, and the response layouts (JSON inline, binary after the header).
 */
import { describe, expect, it } from 'vitest';
import type { ModelContract } from '../../../src-main/engine/serving/contract';
import { encodeInferResponse, modelMetadata, OipError, parseInferRequest, type ServedModel } from '../../../src-main/services/serve/protocol';

const contract: ModelContract = {
  name: 'part',
  version: '1',
  platform: 'kensa',
  width: 4,
  height: 2,
  resize: 'stretch',
  parameters: { detector: 'patchcore' },
  source: '/x/part.kensa',
  ep: 'cpu',
};
const model: ServedModel = { name: 'part', contract };
const PX = 4 * 2 * 3;
const limits = { maxBatch: 8 };

function json(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v));
}

function binary(header: unknown, ...data: Uint8Array[]): { body: Uint8Array; hl: string } {
  const h = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([h, ...data]), hl: String(h.length) };
}

const pixels = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n * PX }, (_, i) => (start + i) % 256);

function refused(body: Uint8Array, hl?: string): OipError {
  try {
    parseInferRequest(body, hl, model, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(OipError);
    return e as OipError;
  }
  throw new Error('expected the request to be refused');
}

describe('parseInferRequest', () => {
  it('JSON data, flat or nested, gives the same pixels in a buffer of its own', () => {
    const flat = parseInferRequest(json({ inputs: [{ name: 'images', shape: [2, 2, 4, 3], datatype: 'UINT8', data: Array.from(pixels(2)) }] }), undefined, model, limits);
    expect(flat.n).toBe(2);
    expect(Array.from(flat.rgb)).toEqual(Array.from(pixels(2)));
    expect(flat.rgb.byteOffset).toBe(0);
    expect(flat.rgb.buffer.byteLength).toBe(2 * PX);
    expect(flat.outputs).toEqual([
      { name: 'score', binary: false },
      { name: 'map', binary: false },
    ]);
    const nested: number[][][][] = [];
    const p = pixels(2);
    for (let n = 0; n < 2; n++) {
      nested.push([]);
      for (let y = 0; y < 2; y++) {
        nested[n]!.push([]);
        for (let x = 0; x < 4; x++) nested[n]![y]!.push(Array.from(p.subarray(((n * 2 + y) * 4 + x) * 3, ((n * 2 + y) * 4 + x + 1) * 3)));
      }
    }
    const r = parseInferRequest(json({ inputs: [{ name: 'images', shape: [2, 2, 4, 3], datatype: 'UINT8', data: nested }] }), undefined, model, limits);
    expect(Array.from(r.rgb)).toEqual(Array.from(p));
  });

  it('binary data after the JSON; binary_data_output with a per-output override', () => {
    const { body, hl } = binary(
      { id: 'a', parameters: { binary_data_output: true }, inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', parameters: { binary_data_size: PX } }], outputs: [{ name: 'map', parameters: { binary_data: false } }, { name: 'score' }] },
      pixels(1, 7),
    );
    const r = parseInferRequest(body, hl, model, limits);
    expect(r.id).toBe('a');
    expect(Array.from(r.rgb)).toEqual(Array.from(pixels(1, 7)));
    expect(r.outputs).toEqual([
      { name: 'map', binary: false },
      { name: 'score', binary: true },
    ]);
  });

  it.each([
    ['FP32 pixels', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'FP32', data: [] }] }), undefined, /input "images" must be UINT8 .*got FP32/],
    ['BYTES (an encoded image)', json({ inputs: [{ name: 'images', shape: [1], datatype: 'BYTES', data: ['x'] }] }), undefined, /must be UINT8.*got BYTES/],
    ['no datatype', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], data: [] }] }), undefined, /has no "datatype"/],
    ['a negative dimension', json({ inputs: [{ name: 'images', shape: [1, -2, 4, 3], datatype: 'UINT8', data: [] }] }), undefined, /"shape" must be an array of non-negative integers/],
    ['4 channels', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 4], datatype: 'UINT8', data: [] }] }), undefined, /must have shape \[N, 2, 4, 3\].*got \[1, 2, 4, 4\]/],
    ['a batch over the limit', json({ inputs: [{ name: 'images', shape: [9, 2, 4, 3], datatype: 'UINT8', data: [] }] }), undefined, /a batch of 9 images is over this server's limit of 8 per request/],
    ['too many elements', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: Array(PX + 1).fill(0) }] }), undefined, /"data" has more than the 24 elements/],
    ['a fraction', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: [0.5] }] }), undefined, /element 0 is 0.5, not a UINT8/],
    ['a string element', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: ['1'] }] }), undefined, /element 0 is "1", not a UINT8/],
    ['no data at all', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8' }] }), undefined, /has no data: give "data" or parameters.binary_data_size/],
    ['the input twice', json({ inputs: [0, 1].map(() => ({ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: Array(PX).fill(1) })) }), undefined, /given twice/],
    ['a JSON array body', json([1, 2]), undefined, /must be a JSON object with "inputs"/],
    ['a numeric id', json({ id: 5, inputs: [] }), undefined, /"id" must be a string/],
    ['binary_data_output not a boolean', json({ parameters: { binary_data_output: 'yes' }, inputs: [] }), undefined, /parameter "binary_data_output" must be true or false/],
    ['an output twice', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: Array(PX).fill(1) }], outputs: [{ name: 'score' }, { name: 'score' }] }), undefined, /output "score" is requested twice/],
    ['an empty output list', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: Array(PX).fill(1) }], outputs: [] }), undefined, /"outputs" is empty/],
    ['binary size without the header', json({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', parameters: { binary_data_size: PX } }] }), undefined, /no Inference-Header-Content-Length header/],
    ['a header length that is not a number', json({}), 'ten', /must be a byte count, got "ten"/],
  ] as [string, Uint8Array, string | undefined, RegExp][])('%s → 400 saying so', (_what, body, hl, message) => {
    const e = refused(body, hl);
    expect(e.status).toBe(400);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(message);
  });

  it('binary: data and binary_data_size both, a wrong size, short and long bodies', () => {
    const hdr = (size: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', parameters: { binary_data_size: size }, ...extra }] });
    let b = binary(hdr(PX, { data: [1] }), pixels(1));
    expect(refused(b.body, b.hl).message).toMatch(/has both "data" and binary_data_size/);
    b = binary(hdr(PX - 1), pixels(1));
    expect(refused(b.body, b.hl).message).toMatch(/binary_data_size is 23 bytes but shape \[1, 2, 4, 3\] of UINT8 is 24 bytes/);
    b = binary(hdr(PX), pixels(1).subarray(0, 20));
    expect(refused(b.body, b.hl).message).toMatch(/truncated binary data: input "images" needs bytes 0–24 after the JSON, but the body has only 20 bytes of binary data/);
    b = binary(hdr(PX), pixels(1), new Uint8Array(3));
    expect(refused(b.body, b.hl).message).toMatch(/3 bytes of binary data after the JSON belong to no input \(the inputs declare 24 bytes\)/);
    // JSON data with stray binary bytes after the header is refused too.
    b = binary({ inputs: [{ name: 'images', shape: [1, 2, 4, 3], datatype: 'UINT8', data: Array(PX).fill(1) }] }, new Uint8Array(5));
    expect(refused(b.body, b.hl).message).toMatch(/5 bytes of binary data after the JSON belong to no input/);
  });
});

describe('responses', () => {
  const result = { scores: Float32Array.of(0.25, 1.5), maps: Float32Array.from({ length: 16 }, (_, i) => i / 16) };

  it('JSON outputs inline, in the order asked for', () => {
    const r = encodeInferResponse(model, { id: 'x', n: 2, rgb: new Uint8Array(0), outputs: [{ name: 'score', binary: false }] }, result);
    expect(r.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(r.body.toString())).toEqual({ model_name: 'part', model_version: '1', id: 'x', outputs: [{ name: 'score', shape: [2], datatype: 'FP32', data: [0.25, 1.5] }] });
  });

  it('binary outputs after the JSON, the header giving its length; JSON and binary mixed', () => {
    const r = encodeInferResponse(model, { id: undefined, n: 2, rgb: new Uint8Array(0), outputs: [{ name: 'map', binary: true }, { name: 'score', binary: false }] }, result);
    expect(r.headers['Content-Type']).toBe('application/octet-stream');
    const hl = Number(r.headers['Inference-Header-Content-Length']);
    const head = JSON.parse(r.body.subarray(0, hl).toString());
    expect(typeof head.id).toBe('string');
    expect(head.outputs).toEqual([
      { name: 'map', shape: [2, 2, 4], datatype: 'FP32', parameters: { binary_data_size: 64 } },
      { name: 'score', shape: [2], datatype: 'FP32', data: [0.25, 1.5] },
    ]);
    expect(r.body.length).toBe(hl + 64);
    const maps = new Float32Array(r.body.buffer.slice(r.body.byteOffset + hl, r.body.byteOffset + hl + 64));
    expect(Array.from(maps)).toEqual(Array.from(result.maps));
  });

  it('model metadata: -1 for the batch, the facts as parameters', () => {
    expect(modelMetadata(model)).toEqual({
      name: 'part',
      versions: ['1'],
      platform: 'kensa',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [-1, 2, 4, 3] }],
      outputs: [
        { name: 'score', datatype: 'FP32', shape: [-1] },
        { name: 'map', datatype: 'FP32', shape: [-1, 2, 4] },
      ],
      parameters: { detector: 'patchcore' },
    });
  });
});
