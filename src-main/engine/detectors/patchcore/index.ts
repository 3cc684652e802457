/**
 * PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022)
 * as a Kensa detector: a greedy-coreset memory bank of good patch features, nearest-neighbour
 * patch distances (Eq. 6) and the Eq. 7 image score. Refits extend the bank with reviewed
 * false alarms.
 */
import { f32Section, i32Section } from '../../model-file';
import type { Detector } from '../types';
import { resolvePatchCoreConfig, type PatchCoreConfig } from './config';
import { fitPatchCoreBank } from './fit';
import { PatchCoreHead } from './head';
import { refitPatchCoreBank } from './refit';

export const patchcore: Detector<PatchCoreConfig> = {
  id: 'patchcore',
  title: 'PatchCore',
  summary: 'memory bank of good patch features (greedy coreset), nearest-neighbour distance',
  trains: false,
  canRefit: true,
  needsPixels: false,
  resolveConfig: resolvePatchCoreConfig,
  fit: fitPatchCoreBank,
  refit: refitPatchCoreBank,
  async openHead(model, ctx) {
    const h = model.header;
    const cfg = h.detectorConfig as PatchCoreConfig;
    const size = Number(h.state.bankSize);
    const bank = f32Section(model, 'bank', size * h.features.dim);
    const neighbours = i32Section(model, 'bankNeighbours', size * cfg.neighbours);
    return PatchCoreHead.create(bank, neighbours, h.features.dim, cfg.neighbours, ctx.ep);
  },
  facts(h) {
    const cfg = h.detectorConfig as PatchCoreConfig;
    return [
      { key: 'bankSize', label: 'Memory bank', value: Number(h.state.bankSize), unit: 'patches' },
      { key: 'coreset', label: 'Coreset', value: `${Math.round(cfg.coreset.ratio * 1000) / 10} %` },
      { key: 'dim', label: 'Feature dims', value: h.features.dim },
    ];
  },
};

export type { PatchCoreConfig };
