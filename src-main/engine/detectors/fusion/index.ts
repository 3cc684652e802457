/**
 * Fusion: one detector that fits several others on the same good parts (features extracted
 * once) and combines their outputs after normalising each by its own good-part statistics,
 * measured on the held-out calibration parts:
 *
 *   image score  s = (1/K) Σ_k (s_k − mean_k) / std_k          (z-score of each member's image score)
 *   patch score  a = (1/K) Σ_k (a_k − p50_k) / (p99.9_k − p50_k) (each member's map, median → 0, p99.9 → 1)
 *
 * The map normalisation is applied to patch scores before the shared blur; the blur is linear
 * with a kernel that sums to 1, so this equals normalising the blurred maps.
 *
 * Sections: every member's sections under `<member id>/<name>`. State: the members' own
 * state, resolved config and normalisation statistics.
 */
import { KensaError } from '../../errors';
import type { LoadedModel, ModelArrays } from '../../model-file';
import { DETECTOR_IDS, type DetectorId, type GoodStats, type ModelHeader, type ModelHeaderDraft } from '../../model-types';
import type { Patches } from '../../backbone/feature-extractor';
import { calibrate } from '../pipeline';
import type { AnyDetector, Detector, Head, HeadContext, HeadOutput, MapStep } from '../types';

export interface FusionConfig extends Record<string, unknown> {
  members: DetectorId[];
  /** Each member's own settings (default: its defaults). */
  memberConfigs: Partial<Record<DetectorId, Record<string, unknown>>>;
}

/** PatchCore + PaDiM: measured best on image AUROC among the fixed member sets tried (see README, Detectors). */
export const DEFAULT_FUSION: FusionConfig = { members: ['patchcore', 'padim'], memberConfigs: {} };

export interface MemberState {
  id: DetectorId;
  config: Record<string, unknown>;
  state: Record<string, unknown>;
  norm: { imageMean: number; imageStd: number; low: number; span: number };
}

function resolveFusion(partial: Record<string, unknown> = {}): FusionConfig {
  const c = { ...DEFAULT_FUSION, ...partial } as FusionConfig;
  if (!Array.isArray(c.members) || c.members.length < 2) throw new KensaError('INVALID_ARGUMENT', 'fusion needs at least two member detectors');
  for (const m of c.members) {
    if (!(DETECTOR_IDS as readonly string[]).includes(m) || m === 'fusion') {
      throw new KensaError('UNKNOWN_DETECTOR', `fusion member "${String(m)}" is not a detector that can be fused (choose from ${DETECTOR_IDS.filter((d) => d !== 'fusion').join(', ')})`);
    }
  }
  if (new Set(c.members).size !== c.members.length) throw new KensaError('INVALID_ARGUMENT', 'fusion members must be distinct');
  return { members: [...c.members], memberConfigs: { ...c.memberConfigs } };
}

function normOf(stats: GoodStats): MemberState['norm'] {
  return {
    imageMean: stats.imageScore.mean,
    imageStd: stats.imageScore.std > 0 ? stats.imageScore.std : 1,
    low: stats.pixel.p50,
    span: stats.pixel.p999 - stats.pixel.p50 > 0 ? stats.pixel.p999 - stats.pixel.p50 : 1,
  };
}

/** A member's model (its header part and un-prefixed sections) inside a fusion model. */
export function memberModel(fusion: { header: Pick<ModelHeader, 'config' | 'features' | 'backbone' | 'taps'>; arrays: ModelArrays; file: string }, m: MemberState): LoadedModel {
  const prefix = `${m.id}/`;
  const arrays: ModelArrays = {};
  for (const [k, v] of Object.entries(fusion.arrays)) if (k.startsWith(prefix)) arrays[k.slice(prefix.length)] = v;
  const header = { ...fusion.header, detector: m.id, detectorConfig: m.config, state: m.state, sections: [] } as unknown as ModelHeader;
  return { header, arrays, file: `${fusion.file}#${m.id}` };
}

function resolver(ctx: { resolve?: (id: string) => AnyDetector }): (id: string) => AnyDetector {
  if (!ctx.resolve) throw new Error('fusion needs the detector registry in its context');
  return ctx.resolve;
}

class FusionHead implements Head {
  constructor(
    private readonly heads: Head[],
    private readonly norms: MemberState['norm'][],
    private readonly mapStep: MapStep,
  ) {}

  async score(p: Patches, rgb: Uint8Array, i: number): Promise<HeadOutput> {
    let image = 0;
    let patch: Float32Array | null = null;
    for (let k = 0; k < this.heads.length; k++) {
      const out = await this.heads[k]!.score(p, rgb, i);
      const n = this.norms[k]!;
      let s = out.imageScore;
      if (s === undefined) {
        const map = await this.mapStep.map(out.patch);
        s = -Infinity;
        for (let j = 0; j < map.length; j++) if (map[j]! > s) s = map[j]!;
      }
      image += (s - n.imageMean) / n.imageStd;
      patch ??= new Float32Array(out.patch.length);
      for (let j = 0; j < patch.length; j++) patch[j] = patch[j]! + (out.patch[j]! - n.low) / n.span;
    }
    const K = this.heads.length;
    for (let j = 0; j < patch!.length; j++) patch![j] = patch![j]! / K;
    return { patch: patch!, imageScore: image / K };
  }

  async release(): Promise<void> {
    await Promise.all(this.heads.map((h) => h.release()));
  }
}

export const fusion: Detector<FusionConfig> = {
  id: 'fusion',
  title: 'Fusion',
  summary: 'fits several detectors on the same parts and averages their scores, each normalised by its good-part statistics',
  trains: true,
  canRefit: false,
  needsPixels: true,
  resolveConfig: resolveFusion,
  async fit(data, cfg, ctx) {
    const resolve = resolver(ctx);
    const arrays: ModelArrays = {};
    const members: MemberState[] = [];
    for (const [k, id] of cfg.members.entries()) {
      const det = resolve(id);
      const mcfg = det.resolveConfig(cfg.memberConfigs[id] ?? {});
      const onProgress = ctx.onProgress;
      const fitted = await det.fit(data, mcfg, { ...ctx, onProgress: (p) => onProgress?.({ ...p, phase: `${id} ${p.phase} (${k + 1}/${cfg.members.length})` }) });
      const draft = {
        detector: id,
        config: ctx.input,
        detectorConfig: mcfg,
        features: { dim: data.train.dim, grid: data.train.grid },
        state: fitted.state,
      } as unknown as ModelHeaderDraft;
      const stats = await calibrate(det, { header: draft, arrays: fitted.arrays }, data.calibration ?? data.train, ctx.ep, { resolve }, {
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onProgress: (p) => onProgress?.({ ...p, phase: `${id} calibrate (${k + 1}/${cfg.members.length})` }),
      });
      for (const [name, a] of Object.entries(fitted.arrays)) arrays[`${id}/${name}`] = a;
      members.push({ id, config: mcfg, state: fitted.state, norm: normOf(stats) });
    }
    return { arrays, state: { members } as unknown as Record<string, unknown> };
  },
  async openHead(model, ctx: HeadContext) {
    const resolve = resolver(ctx);
    const members = (model.header.state.members ?? []) as MemberState[];
    const heads: Head[] = [];
    try {
      for (const m of members) heads.push(await resolve(m.id).openHead(memberModel(model, m), ctx));
    } catch (e) {
      await Promise.all(heads.map((h) => h.release()));
      throw e;
    }
    return new FusionHead(heads, members.map((m) => m.norm), ctx.mapStep);
  },
  facts(h) {
    const members = (h.state.members ?? []) as MemberState[];
    return [{ key: 'members', label: 'Members', value: members.map((m) => m.id).join(' + ') }];
  },
};
