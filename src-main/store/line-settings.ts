/**
 * Checks for the project's line and retention settings (stored in project.settings, audited
 * like every settings change). `checkLineSettings` / `checkRetention` are strict: a bad value
 * is an INVALID_ARGUMENT naming the field. `readLineSettings` / `readRetention` are lenient:
 * what is stored is read over the defaults, and a value of the wrong type falls back to the
 * default (a settings file from a newer Kensa must not stop an older one from opening).
 */
import {
  DEFAULT_LINE_OUTPUTS,
  DEFAULT_LINE_SETTINGS,
  DEFAULT_RETENTION,
  type LineOutputSettings,
  type LineScorer,
  type LineSettings,
  type RetentionSettings,
  type WatchedFolder,
} from '../shared/line';
import { integer, invalid, oneOf, optionalText, personName, text } from './checks';

type Obj = Record<string, unknown>;

function obj(v: unknown, field: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${field} must be an object`);
  return v as Obj;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw invalid(`${field} must be true or false`);
  return v;
}

function onlyKeys(o: Obj, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(`unknown setting '${field}.${k}'`);
}

function folder(v: unknown, i: number): WatchedFolder {
  const f = `line.folders[${i}]`;
  const o = obj(v, f);
  onlyKeys(o, ['path', 'completion', 'stableMs'], f);
  const stableMs = o.stableMs === undefined ? 500 : integer(o.stableMs, `${f}.stableMs`, 50);
  if (stableMs > 60_000) throw invalid(`${f}.stableMs must be at most 60000 (one minute)`);
  return { path: text(o.path, `${f}.path`, 4096), completion: oneOf(o.completion ?? 'stable', ['stable', 'rename'], `${f}.completion`), stableMs };
}

function outputs(v: unknown): LineOutputSettings {
  const o = obj(v, 'line.outputs');
  onlyKeys(o, ['json', 'csv', 'mqtt', 'opcua'], 'line.outputs');
  const d = DEFAULT_LINE_OUTPUTS;
  const json = obj(o.json ?? d.json, 'line.outputs.json');
  const csv = obj(o.csv ?? d.csv, 'line.outputs.csv');
  const mqtt = obj(o.mqtt ?? d.mqtt, 'line.outputs.mqtt');
  const opcua = obj(o.opcua ?? d.opcua, 'line.outputs.opcua');
  onlyKeys(json, ['enabled', 'mode', 'dir'], 'line.outputs.json');
  onlyKeys(csv, ['enabled', 'file'], 'line.outputs.csv');
  onlyKeys(mqtt, ['enabled', 'url', 'topic', 'retain', 'username', 'password', 'clientId'], 'line.outputs.mqtt');
  onlyKeys(opcua, ['enabled', 'host', 'port'], 'line.outputs.opcua');
  const jsonMode = oneOf(json.mode ?? d.json.mode, ['beside', 'folder'], 'line.outputs.json.mode');
  const jsonDir = optionalText(json.dir, 'line.outputs.json.dir', 4096);
  if (jsonMode === 'folder' && jsonDir === null && json.enabled === true) throw invalid(`line.outputs.json.dir is needed when results go to a folder`);
  const url = text(mqtt.url ?? d.mqtt.url, 'line.outputs.mqtt.url', 2048);
  if (!/^(mqtts?|wss?|tcp):\/\/[^\s]+$/.test(url)) throw invalid(`line.outputs.mqtt.url must look like mqtt://host:1883 (got ${url})`);
  const topic = text(mqtt.topic ?? d.mqtt.topic, 'line.outputs.mqtt.topic', 512);
  if (/[#+]/.test(topic.replace(/\{station\}|\{event\}/g, ''))) throw invalid('line.outputs.mqtt.topic must not contain MQTT wildcards (+ or #)');
  const port = integer(opcua.port ?? d.opcua.port, 'line.outputs.opcua.port', 1);
  if (port > 65535) throw invalid('line.outputs.opcua.port must be at most 65535');
  return {
    json: { enabled: bool(json.enabled ?? false, 'line.outputs.json.enabled'), mode: jsonMode, dir: jsonDir },
    csv: { enabled: bool(csv.enabled ?? false, 'line.outputs.csv.enabled'), file: text(csv.file ?? d.csv.file, 'line.outputs.csv.file', 4096) },
    mqtt: {
      enabled: bool(mqtt.enabled ?? false, 'line.outputs.mqtt.enabled'),
      url,
      topic,
      retain: bool(mqtt.retain ?? d.mqtt.retain, 'line.outputs.mqtt.retain'),
      username: optionalText(mqtt.username, 'line.outputs.mqtt.username', 256),
      password: mqtt.password === undefined || mqtt.password === null ? null : text(mqtt.password, 'line.outputs.mqtt.password', 256),
      clientId: optionalText(mqtt.clientId, 'line.outputs.mqtt.clientId', 128),
    },
    opcua: { enabled: bool(opcua.enabled ?? false, 'line.outputs.opcua.enabled'), host: text(opcua.host ?? d.opcua.host, 'line.outputs.opcua.host', 255), port },
  };
}

/** The whole line settings object, checked (missing keys take the defaults). */
export function checkLineSettings(v: unknown): LineSettings {
  const o = obj(v, 'line');
  onlyKeys(o, ['station', 'enabled', 'folders', 'quarantineDir', 'maxInFlight', 'outputs', 'scorer'], 'line');
  const d = DEFAULT_LINE_SETTINGS;
  const station = personName(o.station ?? d.station, 'line.station');
  if (/[/#+]/.test(station)) throw invalid('line.station must not contain / # or + (it names MQTT topics and OPC UA nodes)');
  const folders = o.folders ?? d.folders;
  if (!Array.isArray(folders)) throw invalid('line.folders must be a list');
  if (folders.length > 16) throw invalid('line.folders: at most 16 watched folders');
  const maxInFlight = integer(o.maxInFlight ?? d.maxInFlight, 'line.maxInFlight', 1);
  if (maxInFlight > 10_000) throw invalid('line.maxInFlight must be at most 10000');
  return {
    station,
    enabled: bool(o.enabled ?? d.enabled, 'line.enabled'),
    folders: folders.map(folder),
    quarantineDir: text(o.quarantineDir ?? d.quarantineDir, 'line.quarantineDir', 4096),
    maxInFlight,
    outputs: outputs(o.outputs ?? d.outputs),
    scorer: scorer(o.scorer ?? d.scorer),
  };
}

function scorer(v: unknown): LineScorer {
  const o = obj(v, 'line.scorer');
  const kind = oneOf(o.kind, ['local', 'oip'], 'line.scorer.kind');
  if (kind === 'local') {
    onlyKeys(o, ['kind'], 'line.scorer');
    return { kind };
  }
  onlyKeys(o, ['kind', 'url', 'model', 'token'], 'line.scorer');
  const url = text(o.url, 'line.scorer.url', 2048);
  if (!/^https?:\/\/[^\s/]+/.test(url)) throw invalid(`line.scorer.url must be an http(s) address of an Open Inference Protocol server (got ${url})`);
  const model = text(o.model, 'line.scorer.model', 128);
  const token = o.token === undefined || o.token === null ? null : text(o.token, 'line.scorer.token', 512);
  return { kind, url, model, token };
}

export function checkRetention(v: unknown): RetentionSettings {
  const o = obj(v, 'retention');
  onlyKeys(o, ['passedMapDays', 'passedMapAction', 'budgetMb'], 'retention');
  const days = o.passedMapDays === undefined || o.passedMapDays === null ? null : integer(o.passedMapDays, 'retention.passedMapDays', 0);
  const budget = o.budgetMb === undefined || o.budgetMb === null ? null : integer(o.budgetMb, 'retention.budgetMb', 1);
  return { passedMapDays: days, passedMapAction: oneOf(o.passedMapAction ?? DEFAULT_RETENTION.passedMapAction, ['downsample', 'drop'], 'retention.passedMapAction'), budgetMb: budget };
}

function lenient<T>(check: (v: unknown) => T, v: unknown, fallback: T): T {
  if (v === undefined) return fallback;
  try {
    return check(v);
  } catch {
    return fallback;
  }
}

export function readLineSettings(v: unknown): LineSettings {
  return lenient(checkLineSettings, v, DEFAULT_LINE_SETTINGS);
}

export function readRetention(v: unknown): RetentionSettings {
  return lenient(checkRetention, v, DEFAULT_RETENTION);
}
