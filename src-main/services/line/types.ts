/**
 * The line: parts that arrive from the production line (hot folders), are scored as they
 * arrive, and whose results go back to the line (result files, a CSV log, MQTT, OPC UA).
 *
 * A result leaves Kensa only after it is in the database: the scorer writes the score and
 * an outbox row in one transaction, a verdict writes its outbox row in the verdict's own
 * transaction (a trigger), and the publisher reads the outbox in order and hands each row
 * to every enabled sink. A sink's cursor moves only after the sink says the result is
 * delivered, so a sink that is down (a broker restart) gets every result once it is back,
 * in order (at least once: a result may be delivered twice around a crash, never lost).
 *
 * The data types live in src-main/shared/line.ts (the API and the renderer use them too).
 */
import type { LineResult, SinkName, SinkStatus } from '../../shared/line';

export type { Disposition, LineResult, SinkName, SinkStatus, LineOutputSettings } from '../../shared/line';
export { DEFAULT_LINE_OUTPUTS, LINE_RESULT_FIELDS } from '../../shared/line';

/**
 * One way results go back to the line. The publisher calls `deliver` one result at a
 * time, in seq order, and only moves this sink's cursor when it resolves: resolve only
 * once the result is durable on the other side (file written and renamed into place /
 * fsynced, MQTT PUBACK at QoS 1, OPC UA variables updated). Throw (a KensaError with a
 * specific message) when it is not: the same result is offered again later.
 */
export interface ResultSink {
  readonly name: SinkName;
  /** Opens connections / listeners. May be called again after close(). Must not throw when the far side is down: report it in status() and keep trying. */
  start(): Promise<void>;
  deliver(result: LineResult): Promise<void>;
  status(): SinkStatus;
  close(): Promise<void>;
}

