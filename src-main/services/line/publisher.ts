/**
 * The publisher: reads the outbox (store/line.ts) in seq order and hands each result to every
 * enabled sink, each sink on its own loop with its own cursor, so a broker that is down holds
 * back MQTT only, never the CSV log. A cursor moves only after the sink's `deliver` resolved
 * (the result is durable on the other side); a delivery that fails is retried with backoff
 * (0.25 s doubling to 5 s) until it succeeds. Nothing is ever read from anywhere but the
 * database, so no result can leave before it is committed. Delivery is at least once: after a
 * crash, results delivered but not yet recorded in the cursor go out again (same seq).
 */
import type { Db } from '../../store/index';
import { advanceSinkCursor, lastOutboxSeq, outboxAfter, sinkCursor, startSinkAtEnd } from '../../store/index';
import type { SinkState } from '../../shared/line';
import type { LineResult, ResultSink, SinkName } from './types';

export type { SinkState };

interface Loop {
  sink: ResultSink;
  cursor: number;
  delivered: number;
  running: boolean;
  wake: (() => void) | null;
  timer: NodeJS.Timeout | null;
  lastError: string | null;
}

export class Publisher {
  private readonly loops: Loop[] = [];
  private stopped = false;
  private lastSeq = 0;

  constructor(
    private readonly db: Db,
    private readonly station: string,
    sinks: ResultSink[],
  ) {
    for (const sink of sinks) this.loops.push({ sink, cursor: 0, delivered: 0, running: false, wake: null, timer: null, lastError: null });
  }

  async start(): Promise<void> {
    this.lastSeq = lastOutboxSeq(this.db);
    for (const l of this.loops) {
      startSinkAtEnd(this.db, l.sink.name); // a sink switched on now does not replay the past
      l.cursor = sinkCursor(this.db, l.sink.name);
      await l.sink.start();
      void this.run(l);
    }
  }

  /** New rows are in the outbox: wake every loop that is waiting for work. */
  kick(seq?: number): void {
    if (seq !== undefined) this.lastSeq = Math.max(this.lastSeq, seq);
    for (const l of this.loops) {
      if (l.wake && l.timer === null) {
        const w = l.wake;
        l.wake = null;
        w();
      }
    }
  }

  private async run(l: Loop): Promise<void> {
    l.running = true;
    let backoff = 250;
    while (!this.stopped) {
      const batch = outboxAfter(this.db, l.cursor, 100);
      if (batch.length === 0) {
        // Woken by kick(); also every second, for rows another connection wrote (a verdict).
        await new Promise<void>((r) => {
          const t = setTimeout(r, 1000);
          l.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        l.wake = null;
        continue;
      }
      let moved = false;
      for (const row of batch) {
        if (this.stopped) break;
        const result: LineResult = { ...row, station: this.station };
        try {
          await l.sink.deliver(result);
        } catch (e) {
          l.lastError = e instanceof Error ? e.message : String(e);
          break;
        }
        l.cursor = row.seq;
        l.delivered += 1;
        l.lastError = null;
        moved = true;
        backoff = 250;
      }
      if (moved) advanceSinkCursor(this.db, l.sink.name, l.cursor);
      if (l.lastError !== null && !this.stopped) {
        await new Promise<void>((r) => {
          l.timer = setTimeout(() => {
            l.timer = null;
            r();
          }, backoff);
        });
        backoff = Math.min(5000, backoff * 2);
      }
    }
    l.running = false;
  }

  status(): SinkState[] {
    return this.loops.map((l) => {
      const s = l.sink.status();
      return { ...s, lastError: l.lastError ?? s.lastError, cursor: l.cursor, pending: Math.max(0, this.lastSeq - l.cursor), delivered: l.delivered };
    });
  }

  /** Waits until every sink has delivered up to `seq` (tests and benches), or the timeout. */
  async drained(seq: number, timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.loops.every((l) => l.cursor >= seq)) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  sinkNames(): SinkName[] {
    return this.loops.map((l) => l.sink.name);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const l of this.loops) {
      if (l.timer) clearTimeout(l.timer);
      l.timer = null;
      l.wake?.();
      l.wake = null;
    }
    await Promise.all(this.loops.map((l) => l.sink.close().catch(() => undefined)));
  }
}
