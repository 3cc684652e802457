/**
 * A minimal RFC 6455 WebSocket server endpoint on a raw socket from node:http's 'upgrade'
 * event, for the host's one-way event stream (server → client text frames).
 *
 * What it implements: the opening handshake (Sec-WebSocket-Accept), unmasked server text
 * frames of any length (7-bit, 16-bit and 64-bit lengths), ping (answered with pong),
 * close (echoed, then the socket ends), and a server-side close. Client data frames are
 * parsed (masked, possibly fragmented across TCP reads) only to be skipped: the stream is
 * one-way. A client frame that breaks the protocol (unmasked, oversized, reserved bits or
 * opcodes) closes the connection with 1002 / 1009, as §7.4.1 says.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Largest client frame payload accepted (the client has nothing to say but control frames). */
const MAX_CLIENT_PAYLOAD = 64 * 1024;
/** A client that lets this much unsent data pile up is dropped rather than buffered forever. */
const MAX_BUFFERED = 32 * 1024 * 1024;

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** The `Sec-WebSocket-Accept` value for a client key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** True when `req` is a well-formed WebSocket version 13 opening handshake. */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  const connection = (req.headers.connection ?? '').toLowerCase();
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    upgrade === 'websocket' &&
    connection.split(',').some((t) => t.trim() === 'upgrade') &&
    req.headers['sec-websocket-version'] === '13' &&
    typeof key === 'string' &&
    Buffer.from(key, 'base64').length === 16
  );
}

/** One frame header + payload, server → client (never masked, always FIN). */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, len]);
  } else if (len < 0x10000) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]);
}

function closePayload(code: number, reason = ''): Buffer {
  const r = Buffer.from(reason, 'utf8');
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** An accepted WebSocket connection that the server pushes text messages to. */
export class WebSocketConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private closing = false;
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];

  /**
   * Completes the handshake on `socket` (the caller has already checked the request) and
   * starts reading client frames; `head` is what node:http read past the request headers.
   */
  constructor(
    req: IncomingMessage,
    private readonly socket: Duplex,
    head: Buffer,
  ) {
    const key = String(req.headers['sec-websocket-key']);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
        'Cache-Control: no-store\r\n' +
        '\r\n',
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.markClosed());
    socket.on('end', () => this.destroy());
    if (head.length > 0) this.onData(head);
  }

  get isOpen(): boolean {
    return !this.closing && !this.closed;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Sends one text message; dropped silently once the connection is closing. */
  sendText(text: string): void {
    if (!this.isOpen) return;
    if (this.socket.writableLength > MAX_BUFFERED) {
      // A reader this far behind is gone or stuck: close rather than buffer without bound.
      this.close(1008, 'client too slow');
      return;
    }
    this.socket.write(encodeFrame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  /** Starts the closing handshake; the socket is destroyed if the client does not answer. */
  close(code = 1000, reason = ''): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.socket.write(encodeFrame(OP_CLOSE, closePayload(code, reason)));
    this.socket.end();
    setTimeout(() => this.destroy(), 1000).unref();
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.closeListeners.splice(0)) l();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const frame = this.nextFrame();
      if (frame === null) return;
      if (frame === 'error') return;
      this.handleFrame(frame.opcode, frame.payload);
      if (this.closed) return;
    }
  }

  /** Parses one complete client frame off the buffer; null when more bytes are needed. */
  private nextFrame(): { opcode: number; payload: Buffer } | null | 'error' {
    const b = this.buffer;
    if (b.length < 2) return null;
    const rsv = b[0] & 0x70;
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let offset = 2;
    if (rsv !== 0 || !masked || ![OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG].includes(opcode)) {
      this.fail(1002, 'protocol error');
      return 'error';
    }
    if (len === 126) {
      if (b.length < 4) return null;
      len = b.readUInt16BE(2);
      offset = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_CLIENT_PAYLOAD)) {
        this.fail(1009, 'message too big');
        return 'error';
      }
      len = Number(big);
      offset = 10;
    }
    if (len > MAX_CLIENT_PAYLOAD || (opcode >= OP_CLOSE && len > 125)) {
      this.fail(len > MAX_CLIENT_PAYLOAD ? 1009 : 1002, 'bad frame length');
      return 'error';
    }
    if (b.length < offset + 4 + len) return null;
    const mask = b.subarray(offset, offset + 4);
    const payload = Buffer.from(b.subarray(offset + 4, offset + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    this.buffer = b.subarray(offset + 4 + len);
    return { opcode, payload };
  }

  private handleFrame(opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        if (this.isOpen) this.socket.write(encodeFrame(OP_PONG, payload));
        return;
      case OP_CLOSE: {
        // Echo the client's status code (§5.5.1), then end the connection.
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
        if (!this.closing) {
          this.closing = true;
          this.socket.write(encodeFrame(OP_CLOSE, payload.length >= 2 ? closePayload(code) : Buffer.alloc(0)));
          this.socket.end();
        }
        setTimeout(() => this.destroy(), 1000).unref();
        return;
      }
      default:
        // Text, binary, continuation, pong: the event stream is one-way; ignore.
        return;
    }
  }

  private fail(code: number, reason: string): void {
    this.buffer = Buffer.alloc(0);
    this.close(code, reason);
  }
}
