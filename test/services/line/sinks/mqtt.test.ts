/**
 * The MQTT sink (src-main/services/line/sinks/mqtt.ts) against a real broker: Debian's
 * mosquitto, started by the test on a free loopback port (config in a temp folder, no
 * persistence), with a separate mqtt.js subscriber. Checked: results arrive in order with the
 * right JSON, topic and retain flag; the retained online/offline status (and the last will);
 * a broker killed with SIGKILL makes deliver reject within its bound, and once the broker is
 * back on the same port the sink and the subscriber reconnect by themselves and the next
 * delivery arrives (nothing was queued in memory meanwhile); a late subscriber gets the
 * retained last result; username/password; start() with no broker does not throw.
 *
 * Skips (loudly) when /usr/sbin/mosquitto is missing: `apt-get install mosquitto`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../../../src-main/shared/errors';
import { MqttSink, statusTopic } from '../../../../src-main/services/line/sinks/index';
import { DEFAULT_LINE_OUTPUTS, type LineOutputSettings, type LineResult } from '../../../../src-main/services/line/types';
import { freePort, lineResult, tempDir, waitFor } from './fixtures';

const MOSQUITTO = '/usr/sbin/mosquitto';
const HAVE_MOSQUITTO = existsSync(MOSQUITTO);
if (!HAVE_MOSQUITTO) {
  console.warn(`\n*** SKIPPING the MQTT sink tests: ${MOSQUITTO} is not installed (apt-get install mosquitto, or run scripts/setup.sh as root) ***\n`);
}

/** A mosquitto process on a fixed loopback port; start() again after kill() reuses the port. */
class Broker {
  private proc: ChildProcess | null = null;
  private stderr = '';
  constructor(
    readonly port: number,
    private readonly conf: string,
    settings: string[] = ['allow_anonymous true'],
  ) {
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...settings, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', ''].join('\n'));
  }

  async start(): Promise<void> {
    this.stderr = '';
    const proc = spawn(MOSQUITTO, ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    let exited = false;
    proc.once('exit', () => (exited = true));
    await waitFor(
      async () => {
        if (exited) throw new Error(`mosquitto exited at start: ${this.stderr}`);
        return accepts(this.port);
      },
      `mosquitto to listen on 127.0.0.1:${this.port}`,
      15_000,
      50,
    );
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the broker: connections stay open, nothing is answered. */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    this.proc?.kill(sig);
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await gone;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** An MQTT 5 subscriber that sees the retain flag as published (rap) and reconnects by itself. */
async function subscriber(port: number, filter: string): Promise<{ client: MqttClient; got: Received[] }> {
  const client = connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 200, connectTimeout: 5000, clientId: `test-sub-${Math.random().toString(16).slice(2)}` });
  const got: Received[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  client.on('error', () => undefined);
  await waitFor(() => client.connected, 'the subscriber to connect');
  await client.subscribeAsync(filter, { qos: 1, rap: true });
  return { client, got };
}

const results = (got: Received[], topic: string) => got.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as LineResult);

let dir: string;
let cleanup: () => void;
let broker: Broker;
const sinks: MqttSink[] = [];
const clients: MqttClient[] = [];

function mqttSettings(port: number, over: Partial<LineOutputSettings['mqtt']> = {}): LineOutputSettings['mqtt'] {
  return { ...DEFAULT_LINE_OUTPUTS.mqtt, enabled: true, url: `mqtt://127.0.0.1:${port}`, ...over };
}

async function startedSink(station: string, settings: LineOutputSettings['mqtt'], deliverTimeoutMs?: number): Promise<MqttSink> {
  const sink = new MqttSink({ station, settings, ...(deliverTimeoutMs ? { deliverTimeoutMs } : {}) });
  sinks.push(sink);
  await sink.start();
  return sink;
}

describe.skipIf(!HAVE_MOSQUITTO)('mqtt sink against mosquitto', () => {
  beforeEach(async () => {
    ({ dir, cleanup } = tempDir('kensa-mqtt-'));
    broker = new Broker(await freePort(), path.join(dir, 'mosquitto.conf'));
    await broker.start();
  });

  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.close().catch(() => undefined);
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
    await broker.kill();
    cleanup();
  });

  it('publishes each result as JSON at QoS 1, in order, to the station topic, retained per settings', async () => {
    const sub = await subscriber(broker.port, 'kensa/#');
    clients.push(sub.client);
    const sink = await startedSink('line 1/a+b#', mqttSettings(broker.port));
    await waitFor(() => sink.status().ready, 'the sink to connect');
    expect(sink.status()).toMatchObject({ name: 'mqtt', ready: true, lastError: null, target: `mqtt://127.0.0.1:${broker.port} kensa/{station}/result` });

    const sent = [1, 2, 3, 4, 5].map((seq) => lineResult({ seq, partId: 100 + seq, station: 'line 1/a+b#', score: seq / 10, file: `p${seq}.png` }));
    for (const r of sent) await sink.deliver(r);
    const topic = 'kensa/line 1_a_b_/result';
    await waitFor(() => results(sub.got, topic).length >= 5, 'five results at the subscriber');
    expect(results(sub.got, topic)).toEqual(sent);
    expect(sub.got.filter((m) => m.topic === topic).every((m) => m.retain)).toBe(true);
    // The retained status, next to the results.
    expect(sink.statusTopic).toBe('kensa/line 1_a_b_/status');
    await waitFor(() => sub.got.some((m) => m.topic === sink.statusTopic && m.payload === 'online' && m.retain), 'the retained online status');

    // Not retained, topic per event.
    const plain = await startedSink('st2', mqttSettings(broker.port, { topic: 'kensa/{station}/{event}', retain: false }));
    const scored = lineResult({ seq: 6, station: 'st2' });
    const verdict = lineResult({ seq: 7, station: 'st2', event: 'verdict', verdict: 'good', reviewer: 'k' });
    await plain.deliver(scored);
    await plain.deliver(verdict);
    await waitFor(() => results(sub.got, 'kensa/st2/verdict').length === 1, 'the verdict on its own topic');
    expect(results(sub.got, 'kensa/st2/scored')).toEqual([scored]);
    expect(results(sub.got, 'kensa/st2/verdict')).toEqual([verdict]);
    expect(sub.got.filter((m) => m.topic.startsWith('kensa/st2/') && m.topic !== plain.statusTopic).every((m) => !m.retain)).toBe(true);
    expect(plain.statusTopic).toBe('kensa/st2/status');
  });

  it('broker killed: deliver rejects within its bound; broker back on the same port: the next delivery arrives', async () => {
    const sub = await subscriber(broker.port, 'kensa/#');
    clients.push(sub.client);
    const sink = await startedSink('st-1', mqttSettings(broker.port));
    await waitFor(() => sink.status().ready, 'the sink to connect');
    await sink.deliver(lineResult({ seq: 1 }));
    await waitFor(() => results(sub.got, 'kensa/st-1/result').length === 1, 'seq 1 at the subscriber');

    await broker.kill();
    await waitFor(() => !sink.status().ready, 'the sink to notice the broker is gone');
    const t0 = Date.now();
    const err = await sink.deliver(lineResult({ seq: 2 })).then(
      () => null,
      (e: unknown) => e,
    );
    const waited = Date.now() - t0;
    expect(err).toBeInstanceOf(KensaError);
    expect((err as KensaError).code).toBe('LINE_OUTPUT');
    expect((err as KensaError).message).toMatch(/not connected to the broker at mqtt:\/\/127\.0\.0\.1/);
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(waited).toBeLessThan(5000);
    expect(sink.status()).toMatchObject({ ready: false, lastError: (err as KensaError).message });

    const mark = sub.got.length;
    await broker.start();
    await waitFor(() => sink.status().ready, 'the sink to reconnect by itself', 20_000);
    // The subscriber is back and subscribed once it sees the sink's new "online".
    await waitFor(() => sub.got.slice(mark).some((m) => m.topic === sink.statusTopic && m.payload === 'online'), 'the subscriber to reconnect and resubscribe', 20_000);

    // The publisher offers seq 2 again, then seq 3.
    await sink.deliver(lineResult({ seq: 2 }));
    await sink.deliver(lineResult({ seq: 3 }));
    expect(sink.status()).toMatchObject({ ready: true, lastError: null });
    await waitFor(() => results(sub.got.slice(mark), 'kensa/st-1/result').length >= 2, 'seq 2 and 3 after the restart');
    // Exactly these: the failed attempt was not queued and resent behind the publisher's back.
    expect(results(sub.got.slice(mark), 'kensa/st-1/result').map((r) => r.seq)).toEqual([2, 3]);
  }, 60_000);

  it('broker frozen mid-publish: no PUBACK → rejects within its bound; after it thaws the retry arrives, in order (at least once)', async () => {
    const sub = await subscriber(broker.port, 'kensa/st-1/result');
    clients.push(sub.client);
    const sink = await startedSink('st-1', mqttSettings(broker.port));
    await waitFor(() => sink.status().ready, 'the sink to connect');
    await sink.deliver(lineResult({ seq: 1 }));

    broker.signal('SIGSTOP');
    const t0 = Date.now();
    const err = await sink.deliver(lineResult({ seq: 2 })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toMatchObject({ code: 'LINE_OUTPUT', message: expect.stringMatching(/no PUBACK .* for seq 2/) });
    broker.signal('SIGCONT');

    // The publisher offers seq 2 again (the sink has dropped the stalled connection and made a new one).
    await waitFor(() => sink.status().ready, 'the sink to reconnect after the thaw', 20_000);
    await sink.deliver(lineResult({ seq: 2 }));
    await sink.deliver(lineResult({ seq: 3 }));
    await waitFor(() => results(sub.got, 'kensa/st-1/result').some((r) => r.seq === 3), 'seq 3 at the subscriber', 20_000);
    const seqs = results(sub.got, 'kensa/st-1/result').map((r) => r.seq);
    // The frozen broker may still pass on the stalled copy of seq 2 when it thaws: never out of order, nothing lost.
    expect(seqs[0]).toBe(1);
    expect(seqs.at(-1)).toBe(3);
    expect(new Set(seqs)).toEqual(new Set([1, 2, 3]));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThanOrEqual(seqs[i - 1]!);
  }, 60_000);

  it('a late subscriber gets the retained last result; close() leaves "offline" retained', async () => {
    const sink = await startedSink('st-1', mqttSettings(broker.port));
    await waitFor(() => sink.status().ready, 'the sink to connect');
    for (const seq of [1, 2, 3]) await sink.deliver(lineResult({ seq, partId: seq }));
    const late = await subscriber(broker.port, 'kensa/st-1/result');
    clients.push(late.client);
    await waitFor(() => late.got.length >= 1, 'the retained result');
    expect(late.got).toHaveLength(1);
    expect(late.got[0]!.retain).toBe(true);
    expect((JSON.parse(late.got[0]!.payload) as LineResult).seq).toBe(3);

    await sink.close();
    expect(sink.status().ready).toBe(false);
    const after = await subscriber(broker.port, statusTopic('kensa/{station}/result', 'st-1'));
    clients.push(after.client);
    await waitFor(() => after.got.length >= 1, 'the retained status');
    expect(after.got[0]).toMatchObject({ topic: 'kensa/st-1/status', payload: 'offline', retain: true });
  });

  it('the broker publishes the last will "offline" when the connection drops, and "online" returns on reconnect', async () => {
    const sink = await startedSink('st-9', mqttSettings(broker.port, { clientId: 'kensa-test-will' }));
    await waitFor(() => sink.status().ready, 'the sink to connect');
    const sub = await subscriber(broker.port, sink.statusTopic);
    clients.push(sub.client);
    await waitFor(() => sub.got.some((m) => m.payload === 'online'), 'online');
    // Cut the TCP connection under the client, as a network failure would.
    (sink as unknown as { client: MqttClient }).client.stream.destroy();
    await waitFor(() => sub.got.some((m) => m.payload === 'offline'), 'the last will');
    await waitFor(() => sub.got.at(-1)?.payload === 'online' && sink.status().ready, 'online again after the reconnect', 20_000);
  }, 60_000);

  it('logs in with the username and password from the settings; a refusal shows in status()', async () => {
    await broker.kill();
    // mosquitto run as root reads the password file after dropping to its own user.
    chmodSync(dir, 0o755);
    const pw = path.join(dir, 'passwords');
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', '-c', pw, 'line', 's3cret']);
    chmodSync(pw, 0o644);
    broker = new Broker(broker.port, path.join(dir, 'auth.conf'), ['allow_anonymous false', `password_file ${pw}`]);
    await broker.start();

    const wrong = await startedSink('st-1', mqttSettings(broker.port, { username: 'line', password: 'nope' }), 800);
    await waitFor(() => /not authori[sz]ed|bad user name or password/i.test(wrong.status().lastError ?? ''), 'the refusal in status()');
    await expect(wrong.deliver(lineResult({ seq: 1 }))).rejects.toMatchObject({ code: 'LINE_OUTPUT' });

    const right = await startedSink('st-1', mqttSettings(broker.port, { username: 'line', password: 's3cret', clientId: 'kensa-auth-test' }));
    await waitFor(() => right.status().ready, 'the sink with the right password to connect');
    await right.deliver(lineResult({ seq: 1 }));
    expect(right.status().lastError).toBeNull();
  }, 60_000);

  it('start() with no broker does not throw; deliver rejects in time; it connects when the broker comes', async () => {
    await broker.kill();
    const sink = await startedSink('st-1', mqttSettings(broker.port), 800);
    await waitFor(() => sink.status().lastError?.includes('ECONNREFUSED'), 'the connection error in status()');
    expect(sink.status().ready).toBe(false);
    const t0 = Date.now();
    await expect(sink.deliver(lineResult({ seq: 1 }))).rejects.toMatchObject({ code: 'LINE_OUTPUT', message: expect.stringContaining('ECONNREFUSED') });
    expect(Date.now() - t0).toBeLessThan(4000);
    await broker.start();
    await waitFor(() => sink.status().ready, 'the sink to connect once the broker is up', 20_000);
    await sink.deliver(lineResult({ seq: 1 }));
    expect(sink.status().lastError).toBeNull();
  }, 60_000);
});

describe('mqtt topics', () => {
  it('station names are made safe for topics; the status topic sits beside the results', () => {
    expect(statusTopic('kensa/{station}/result', 'a/b')).toBe('kensa/a_b/status');
    expect(statusTopic('line/{station}/{event}', 'x')).toBe('line/x/status');
    expect(statusTopic('kensa/{station}', 'x')).toBe('kensa/x/status');
    expect(statusTopic('results', 'x')).toBe('results/status');
    expect(statusTopic('kensa/{station}/status', 'x')).toBe('kensa/x/status/status');
  });
});
