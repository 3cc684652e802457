/**
 * Defect-region marking on the review screen ("Mark defect" mode, R): polygons (click points,
 * Enter / double-click closes) and brush strokes (drag), in the IMAGE's own pixel coordinates
 * (x right, y down, origin at the top-left corner of the top-left pixel) of the original image,
 * whatever size the viewer shows it at. The regions belong to one part; they are sent with the
 * Defect verdict and cleared afterwards (or when another part is opened).
 */
import type { PartDetail, RegionSetData, VerdictRecord } from '../../../src-main/shared/api';

export type RegionTool = 'polygon' | 'brush';
export type DrawnRegion = RegionSetData['regions'][number];

export const MIN_RADIUS = 1;
export const MAX_RADIUS = 200;

/** The regions of the part's current verdict (the history replayed: set pushes, undo pops). */
export function currentRegions(detail: PartDetail | null): RegionSetData | null {
  if (!detail) return null;
  const stack: VerdictRecord[] = [];
  for (const h of detail.history) {
    if (h.action === 'set') stack.push(h);
    else stack.pop();
  }
  const top = stack[stack.length - 1];
  return top && top.verdict === 'defect' && top.regions && top.regions.regions.length > 0 ? top.regions : null;
}

export class RegionsState {
  /** "Mark defect" mode is on: left clicks / drags draw instead of panning. */
  active = $state(false);
  tool = $state<RegionTool>('polygon');
  /** Brush radius in image pixels. */
  radius = $state(12);
  /** Show the saved regions of the part's current verdict. */
  showSaved = $state(true);
  /** Finished regions, not yet saved. */
  regions = $state.raw<DrawnRegion[]>([]);
  /** The polygon being drawn, or the brush stroke being dragged: [x0, y0, …]. */
  draft = $state.raw<number[]>([]);
  /** The part the drawn regions belong to. */
  forId: number | null = null;

  readonly count = $derived(this.regions.length);

  toggle(): void {
    if (this.active) this.leave();
    else this.active = true;
  }

  /** Leaves the mode; finished regions stay (D still saves them), the draft is dropped. */
  leave(): void {
    this.active = false;
    this.draft = [];
  }

  setTool(t: RegionTool): void {
    if (t !== this.tool) this.draft = [];
    this.tool = t;
  }

  setRadius(r: number): void {
    this.radius = Math.round(Math.min(MAX_RADIUS, Math.max(MIN_RADIUS, r)));
  }

  /** Another part was opened: the drawing of the previous one is dropped. */
  bindTo(imageId: number | null): void {
    if (imageId === this.forId) return;
    this.forId = imageId;
    this.regions = [];
    this.draft = [];
  }

  addPoint(x: number, y: number): void {
    this.draft = [...this.draft, x, y];
  }

  /** Backspace: the last point of the polygon being drawn. */
  removeLastPoint(): boolean {
    if (this.draft.length === 0) return false;
    this.draft = this.draft.slice(0, -2);
    return true;
  }

  /** Enter / double-click: the polygon being drawn becomes a region (3 points or more). */
  closePolygon(): boolean {
    if (this.tool !== 'polygon' || this.draft.length < 6) return false;
    this.regions = [...this.regions, { kind: 'polygon', points: this.draft }];
    this.draft = [];
    return true;
  }

  /** The brush stroke being dragged becomes a region. */
  endStroke(): void {
    if (this.tool === 'brush' && this.draft.length >= 2) this.regions = [...this.regions, { kind: 'brush', points: this.draft, radius: this.radius }];
    this.draft = [];
  }

  /** Ctrl+Z: the draft first, then the last finished region. */
  undo(): boolean {
    if (this.draft.length > 0) {
      this.draft = [];
      return true;
    }
    if (this.regions.length === 0) return false;
    this.regions = this.regions.slice(0, -1);
    return true;
  }

  clear(): void {
    this.regions = [];
    this.draft = [];
  }

  /** What review.verdict takes; null when nothing is drawn. */
  data(width: number, height: number): RegionSetData | null {
    if (this.regions.length === 0) return null;
    const r2 = (v: number): number => Math.round(v * 100) / 100;
    return {
      width,
      height,
      regions: this.regions.map((r) => (r.kind === 'polygon' ? { kind: 'polygon', points: r.points.map(r2) } : { kind: 'brush', points: r.points.map(r2), radius: r2(r.radius) })),
    };
  }
}

export const regions = new RegionsState();
