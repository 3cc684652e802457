/**
 * MQTT: each result is published as JSON (the LineResult, one object) at QoS 1 to the
 * configured topic, retained when the settings say so (a PLC or dashboard that subscribes
 * late gets the station's last result at once).
 *
 * Topics: `{station}` in the topic becomes the station name with the characters MQTT gives a
 * meaning to (`+`, `#`, `/`, NUL) replaced by `_`; `{event}` becomes 'scored' or 'verdict'.
 * Beside the results, a retained status topic holds "online" while this client is connected
 * and "offline" after it goes (the broker publishes "offline" itself, as the connection's
 * last will, when Kensa dies or the network drops). The status topic is the result topic with
 * `{event}` → `status` when the topic has `{event}`; otherwise the topic with its last level
 * replaced by `status` (`kensa/{station}/result` → `kensa/<station>/status`), or with
 * `/status` added when that level is the only one or holds `{station}` (`kensa/{station}` →
 * `kensa/<station>/status`). It is never one of the result topics.
 *
 * Guarantees: deliver resolves on the broker's PUBACK, i.e. once the broker has the message
 * (at QoS 1 the broker then owns delivery to subscribers). Results are published one at a
 * time in the order delivered, so subscribers see them in seq order; a result may arrive
 * twice around a reconnect (at least once), never be skipped.
 *
 * Failure: nothing is queued in memory. When the broker is not connected, deliver waits for
 * the connection until its bound (deliverTimeoutMs, 2 s by default, for connection and
 * PUBACK together) and then throws LINE_OUTPUT; the publisher offers the same result again
 * later. When a PUBACK does not come in time the connection is dropped and opened afresh, so
 * the unacknowledged message is not resent behind the publisher's back. start() never throws
 * because the broker is down: the client reconnects by itself (every 500 ms) and status()
 * reports the connection error meanwhile. A malformed URL or topic is refused when the sink
 * is created (INVALID_ARGUMENT).
 */
import { randomBytes } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { KensaError } from '../../../shared/errors';
import type { LineOutputSettings, LineResult, ResultSink, SinkStatus } from '../types';
import { errorText, outputError, serialiser } from './common';

export interface MqttSinkOptions {
  /** This workstation's station name (for the status topic and the default client id). */
  station: string;
  settings: LineOutputSettings['mqtt'];
  /** How long deliver waits for the broker (connection and PUBACK together) before it throws. Default 2000 ms. */
  deliverTimeoutMs?: number;
  /** Pause between reconnection attempts. Default 500 ms. */
  reconnectPeriodMs?: number;
}

const PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:']);

/** A station name as one MQTT topic level: no wildcards, no level separator, never empty. */
export function topicLevel(station: string): string {
  const s = station.replace(/[+#/]/g, '_').replaceAll('\u0000', '_');
  return s === '' ? '_' : s;
}

/** The topic a result is published to. */
export function resultTopic(template: string, station: string, event: LineResult['event']): string {
  return template.replaceAll('{station}', topicLevel(station)).replaceAll('{event}', event);
}

/** The retained online/offline topic of a station (see the module comment). */
export function statusTopic(template: string, station: string): string {
  let t: string;
  if (template.includes('{event}')) {
    t = template.replaceAll('{event}', 'status');
  } else {
    const levels = template.split('/');
    const last = levels[levels.length - 1]!;
    if (levels.length > 1 && !last.includes('{station}')) levels[levels.length - 1] = 'status';
    else levels.push('status');
    t = levels.join('/');
  }
  const topic = t.replaceAll('{station}', topicLevel(station));
  // Never the same topic as the results (a template whose last level is already 'status').
  return topic === resultTopic(template, station, 'scored') || topic === resultTopic(template, station, 'verdict') ? `${topic}/status` : topic;
}

/** The broker URL without user:password, for status() and messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

export class MqttSink implements ResultSink {
  readonly name = 'mqtt' as const;
  readonly statusTopic: string;
  private readonly settings: LineOutputSettings['mqtt'];
  private readonly deliverTimeoutMs: number;
  private readonly reconnectPeriodMs: number;
  private readonly clientId: string;
  private readonly serial = serialiser();
  private client: MqttClient | null = null;
  /** The last connection problem (cleared on connect). */
  private connError: string | null = null;
  /** The last delivery error (cleared by the next delivery). */
  private deliverError: string | null = null;

  constructor(options: MqttSinkOptions) {
    const { settings, station } = options;
    let url: URL;
    try {
      url = new URL(settings.url);
    } catch {
      throw new KensaError('INVALID_ARGUMENT', `MQTT: ${JSON.stringify(settings.url)} is not a broker URL (e.g. mqtt://127.0.0.1:1883)`);
    }
    if (!PROTOCOLS.has(url.protocol) || !url.hostname) {
      throw new KensaError('INVALID_ARGUMENT', `MQTT: ${JSON.stringify(redactUrl(settings.url))} is not a broker URL (mqtt://, mqtts://, ws:// or wss:// with a host)`);
    }
    const template = settings.topic?.trim() ?? '';
    if (!template || /[+#]/.test(template) || template.includes('\u0000')) {
      throw new KensaError('INVALID_ARGUMENT', `MQTT: the topic ${JSON.stringify(settings.topic)} must be non-empty and may not contain + or # (use {station} and {event})`);
    }
    this.settings = { ...settings, topic: template };
    this.statusTopic = statusTopic(template, station);
    this.deliverTimeoutMs = options.deliverTimeoutMs ?? 2000;
    this.reconnectPeriodMs = options.reconnectPeriodMs ?? 500;
    this.clientId = settings.clientId?.trim() || `kensa-${topicLevel(station).slice(0, 32)}-${randomBytes(4).toString('hex')}`;
  }

  async start(): Promise<void> {
    if (this.client) return;
    this.client = this.open();
  }

  private open(): MqttClient {
    const s = this.settings;
    const options: IClientOptions = {
      clientId: this.clientId,
      clean: true,
      reconnectPeriod: this.reconnectPeriodMs,
      // A refusal (bad credentials, broker not ready) is reported in status() and retried too.
      reconnectOnConnackError: true,
      connectTimeout: Math.max(this.deliverTimeoutMs, 5000),
      queueQoSZero: false,
      resubscribe: false,
      will: { topic: this.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
    };
    if (s.username != null) options.username = s.username;
    if (s.password != null) options.password = s.password;
    const client = connect(s.url, options);
    client.on('connect', () => {
      this.connError = null;
      client.publish(this.statusTopic, 'online', { qos: 1, retain: true }, () => undefined);
    });
    client.on('error', (e) => {
      this.connError = errorText(e);
    });
    client.on('close', () => {
      if (!this.connError && this.client === client) this.connError = 'connection closed';
    });
    return client;
  }

  /** Waits until `client` is connected, or throws at the deadline. */
  private async waitConnected(client: MqttClient, deadline: number): Promise<void> {
    if (client.connected) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('end', onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      const onEnd = () => done(new Error('the client was closed'));
      const timer = setTimeout(() => done(new Error('timeout')), Math.max(0, deadline - Date.now()));
      client.on('connect', onConnect);
      client.on('end', onEnd);
    }).catch(() => {
      throw outputError('mqtt', `not connected to the broker at ${redactUrl(this.settings.url)} (${this.connError ?? 'connecting'}); waited ${this.deliverTimeoutMs} ms`);
    });
  }

  deliver(result: LineResult): Promise<void> {
    return this.serial(async () => {
      const client = this.client;
      if (!client) throw outputError('mqtt', 'deliver before start()');
      const deadline = Date.now() + this.deliverTimeoutMs;
      try {
        await this.waitConnected(client, deadline);
        const topic = resultTopic(this.settings.topic, result.station, result.event);
        const published = client.publishAsync(topic, JSON.stringify(result), { qos: 1, retain: this.settings.retain });
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
        });
        let outcome: unknown;
        try {
          outcome = await Promise.race([published, timedOut]);
        } catch (e) {
          throw outputError('mqtt', `publishing seq ${result.seq} to ${topic} failed: ${errorText(e)}`, { cause: e });
        } finally {
          clearTimeout(timer);
        }
        if (outcome === 'timeout') {
          published.catch(() => undefined);
          // Drop the connection and its in-memory store: the unacknowledged message must not be
          // resent on reconnect behind the publisher's back (it offers the result again itself).
          this.reopen(client);
          throw outputError('mqtt', `no PUBACK from ${redactUrl(this.settings.url)} for seq ${result.seq} on ${topic} within ${this.deliverTimeoutMs} ms`);
        }
      } catch (e) {
        const err = e instanceof KensaError ? e : outputError('mqtt', errorText(e), { cause: e });
        this.deliverError = err.message;
        throw err;
      }
      this.deliverError = null;
    });
  }

  private reopen(old: MqttClient): void {
    if (this.client !== old) return;
    old.removeAllListeners('connect');
    old.end(true);
    old.on('error', () => undefined);
    this.connError = 'reconnecting after a missing PUBACK';
    this.client = this.open();
  }

  status(): SinkStatus {
    const connected = this.client?.connected ?? false;
    const connProblem = this.client && !connected ? (this.connError ?? 'connecting') : null;
    return {
      name: 'mqtt',
      ready: connected,
      lastError: this.deliverError ?? connProblem,
      target: `${redactUrl(this.settings.url)} ${this.settings.topic}`,
    };
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    if (client.connected) {
      // Say "offline" ourselves; if that does not get through, the broker's last will says it.
      await Promise.race([
        client.publishAsync(this.statusTopic, 'offline', { qos: 1, retain: true }).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 1000)),
      ]);
    }
    await new Promise<void>((resolve) => client.end(true, () => resolve()));
    client.removeAllListeners();
    client.on('error', () => undefined);
    this.connError = null;
  }
}

export function createMqttSink(options: MqttSinkOptions): MqttSink {
  return new MqttSink(options);
}
