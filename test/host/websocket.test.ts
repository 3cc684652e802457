/** The minimal WebSocket framing of src-main/host/websocket.ts (RFC 6455). */
import { describe, expect, it } from 'vitest';
import { acceptKey, encodeFrame } from '../../src-main/host/websocket';

describe('websocket framing', () => {
  it('computes Sec-WebSocket-Accept as in RFC 6455 §1.3', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('encodes unmasked FIN frames with 7-bit, 16-bit and 64-bit lengths', () => {
    const small = encodeFrame(0x1, Buffer.from('Hello'));
    expect([...small]).toEqual([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]); // RFC 6455 §5.7
    const mid = encodeFrame(0x1, Buffer.alloc(256, 0x61));
    expect([...mid.subarray(0, 4)]).toEqual([0x81, 126, 0x01, 0x00]);
    expect(mid.length).toBe(4 + 256);
    const big = encodeFrame(0x1, Buffer.alloc(65536, 0x61));
    expect([...big.subarray(0, 10)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(big.length).toBe(10 + 65536);
    expect([...encodeFrame(0x8, Buffer.from([0x03, 0xe8]))]).toEqual([0x88, 0x02, 0x03, 0xe8]);
  });
});
