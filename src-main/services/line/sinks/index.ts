/**
 * The sinks: the ways a line result goes back to the production line (a JSON file per part,
 * a CSV log, MQTT, an OPC UA server). createSinks makes the ones a project's settings enable;
 * the publisher starts them, hands each result to each in seq order and closes them.
 *
 * Creating a sink only checks its settings (a malformed URL, topic, port or a 'folder' mode
 * without a folder throws INVALID_ARGUMENT here, naming the setting); it opens nothing. Each
 * sink's own module says what it guarantees and how it fails.
 */
import type { LineOutputSettings, ResultSink } from '../types';
import { createCsvSink } from './csv';
import { createJsonSink } from './json';
import { createMqttSink } from './mqtt';
import { createOpcuaSink } from './opcua';

export interface CreateSinksOptions {
  projectDir: string;
  /** This workstation's station name. */
  station: string;
  settings: LineOutputSettings;
}

/** The enabled sinks, in a fixed order: json, csv, mqtt, opcua. */
export function createSinks(options: CreateSinksOptions): ResultSink[] {
  const { projectDir, station, settings } = options;
  const sinks: ResultSink[] = [];
  if (settings.json.enabled) sinks.push(createJsonSink({ projectDir, settings: settings.json }));
  if (settings.csv.enabled) sinks.push(createCsvSink({ projectDir, settings: settings.csv }));
  if (settings.mqtt.enabled) sinks.push(createMqttSink({ station, settings: settings.mqtt }));
  if (settings.opcua.enabled) sinks.push(createOpcuaSink({ projectDir, station, settings: settings.opcua }));
  return sinks;
}

export { CsvSink, createCsvSink, csvField, csvRow, CSV_HEADER, type CsvSinkOptions } from './csv';
export { JsonSink, createJsonSink, jsonResultPath, writeFileAtomic, type JsonSinkOptions } from './json';
export { MqttSink, createMqttSink, resultTopic, statusTopic, topicLevel, type MqttSinkOptions } from './mqtt';
export { OpcuaSink, createOpcuaSink, opcuaNodeId, opcuaStationKey, isLoopbackHost, OPCUA_NAMESPACE_URI, type OpcuaSinkOptions } from './opcua';
