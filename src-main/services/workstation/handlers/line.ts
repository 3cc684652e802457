/** `line.*`: the line's status, its settings, and changing them (which restarts the line). */
import type { LineOutputSettings, LineSettings } from '../../../shared/line';
import { KensaError } from '../../../shared/errors';
import type { NamespaceHandlers, WorkstationContext } from '../context';

/** A patch over the stored settings; `outputs` merge per sink, so one sink can change alone. */
function merge(cur: LineSettings, patch: Partial<LineSettings>): LineSettings {
  const outputs = patch.outputs as Partial<LineOutputSettings> | undefined;
  return {
    ...cur,
    ...patch,
    outputs: outputs
      ? {
          json: { ...cur.outputs.json, ...outputs.json },
          csv: { ...cur.outputs.csv, ...outputs.csv },
          mqtt: { ...cur.outputs.mqtt, ...outputs.mqtt },
          opcua: { ...cur.outputs.opcua, ...outputs.opcua },
        }
      : cur.outputs,
  };
}

export function lineHandlers(ctx: WorkstationContext): NamespaceHandlers<'line'> {
  return {
    'line.status': async () => (ctx.project ? ctx.lineStatus() : null),
    'line.settings': async () => ctx.need().settings().line,
    'line.configure': async ({ settings }) => {
      const p = ctx.need();
      const next = merge(p.settings().line, settings);
      if (next.enabled && next.folders.length === 0) throw new KensaError('INVALID_ARGUMENT', 'add a watched folder before switching the line on');
      await ctx.stopLine();
      p.updateSettings({ line: next }, ctx.authorize('line'));
      await ctx.startLine();
      return ctx.lineStatus();
    },
  };
}
