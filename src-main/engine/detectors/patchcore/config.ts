/**
 * PatchCore's own settings (the shared input settings are in ../pipeline.ts): the greedy
 * coreset (ratio, bank size limit, projection) and b, the neighbourhood size of Eq. 7.
 */
import { DEFAULT_CORESET, type CoresetOptions } from '../../coreset';
import { KensaError } from '../../errors';

export interface PatchCoreConfig extends Record<string, unknown> {
  coreset: CoresetOptions;
  /** b of Eq. 7 (neighbours of m* in the bank). */
  neighbours: number;
}

export const DEFAULT_PATCHCORE: PatchCoreConfig = { coreset: DEFAULT_CORESET, neighbours: 9 };

export function resolvePatchCoreConfig(partial: Record<string, unknown> = {}): PatchCoreConfig {
  const p = partial as Partial<{ coreset: Partial<CoresetOptions>; neighbours: number }>;
  for (const k of Object.keys(partial)) {
    if (k !== 'coreset' && k !== 'neighbours') throw new KensaError('INVALID_ARGUMENT', `PatchCore has no setting "${k}" (its settings: coreset, neighbours; input size, blur and seed are shared input settings)`);
  }
  const cfg: PatchCoreConfig = {
    coreset: { ...DEFAULT_PATCHCORE.coreset, ...p.coreset },
    neighbours: p.neighbours ?? DEFAULT_PATCHCORE.neighbours,
  };
  const bad = (m: string): never => {
    throw new KensaError('INVALID_ARGUMENT', m);
  };
  if (!(cfg.coreset.ratio > 0 && cfg.coreset.ratio <= 1)) bad(`coreset ratio must be in (0, 1], got ${cfg.coreset.ratio}`);
  if (!(Number.isInteger(cfg.coreset.maxSize) && cfg.coreset.maxSize >= 1)) bad(`bank size limit must be a positive integer, got ${cfg.coreset.maxSize}`);
  if (!(cfg.neighbours >= 1 && Number.isInteger(cfg.neighbours))) bad(`neighbours must be a positive integer, got ${cfg.neighbours}`);
  return cfg;
}
