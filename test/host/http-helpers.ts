/**
 * Test helpers for the loopback host: raw HTTP requests (node:http, so Host, Origin and the
 * path go out exactly as written: no URL normalisation) and a minimal WebSocket client on
 * node:net (Node 20 has no global WebSocket).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Every reply seen, so a test can check headers across all of them. */
export const seen: Reply[] = [];

export function request(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; host?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: { Host: `127.0.0.1:${port}`, ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const reply = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
          seen.push(reply);
          resolve(reply);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface WsClient {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  /** Text messages received so far. */
  messages: string[];
  /** Other frames received so far (pong, close), with their payloads. */
  control: { opcode: number; payload: Buffer }[];
  /** Sends raw bytes (e.g. a clientFrame). */
  send(data: Buffer): void;
  /** Resolves when the server has closed the TCP connection. */
  closed: Promise<void>;
  /** Resolves with the first message (received from now on or already) matching `pred`. */
  waitFor(pred: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** Opens a WebSocket handshake; resolves once the response head is in (any status). */
export function openWs(port: number, path: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = randomBytes(16).toString('base64');
    const all: Record<string, string> = {
      Host: `127.0.0.1:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
      ...headers,
    };
    socket.write(`GET ${path} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    let buf = Buffer.alloc(0);
    let client: WsClient | null = null;
    const waiters: { pred: (t: string) => boolean; resolve: (t: string) => void }[] = [];
    let ended: () => void = () => {};
    const endedP = new Promise<void>((r) => (ended = r));
    socket.on('close', () => ended());
    socket.on('error', (e) => {
      if (!client) reject(e);
    });
    const deliver = (text: string): void => {
      client!.messages.push(text);
      for (const w of waiters.splice(0)) {
        if (w.pred(text)) w.resolve(text);
        else waiters.push(w);
      }
    };
    const parseFrames = (): void => {
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (opcode === 0x1) deliver(payload.toString('utf8'));
        else client!.control.push({ opcode, payload: Buffer.from(payload) });
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!client) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        buf = buf.subarray(end + 4);
        const statusLine = lines[0];
        const hdrs: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        client = {
          status: Number(statusLine.split(' ')[1]),
          statusLine,
          headers: hdrs,
          messages: [],
          control: [],
          send: (data) => socket.write(data),
          closed: endedP,
          waitFor(pred, timeoutMs = 10_000) {
            const hit = client!.messages.find(pred);
            if (hit !== undefined) return Promise.resolve(hit);
            return new Promise((res, rej) => {
              const t = setTimeout(() => rej(new Error('no matching WebSocket message')), timeoutMs);
              waiters.push({ pred, resolve: (x) => (clearTimeout(t), res(x)) });
            });
          },
          async close() {
            if (!socket.destroyed) {
              // Masked close frame, status 1000.
              const mask = randomBytes(4);
              const payload = Buffer.from([0x03 ^ mask[0], 0xe8 ^ mask[1]]);
              socket.write(Buffer.concat([Buffer.from([0x88, 0x80 | 2]), mask, payload]));
            }
            await Promise.race([endedP, new Promise((r) => setTimeout(r, 2000))]);
            socket.destroy();
          },
        };
        resolve(client);
        if (client.status === 101) parseFrames();
        return;
      }
      if (client.status === 101) parseFrames();
    });
  });
}

/** A masked client frame (for protocol tests). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, mask, masked]);
}
