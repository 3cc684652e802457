/**
 * How the part is shown: heatmap on/off, opacity, side by side, zoom and pan. Shared by the
 * part viewer and the keyboard handler; heatmap, opacity and layout are remembered.
 * Zoom is relative to "fit" (1 = the whole part fits); pan is in screen pixels.
 */
const KEY = 'kensa.viewer';

interface Saved {
  heatmap: boolean;
  opacity: number;
  sideBySide: boolean;
}

function load(): Saved {
  const d: Saved = { heatmap: true, opacity: 0.55, sideBySide: false };
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Partial<Saved> | null;
    if (v && typeof v === 'object') {
      if (typeof v.heatmap === 'boolean') d.heatmap = v.heatmap;
      if (typeof v.opacity === 'number' && v.opacity >= 0 && v.opacity <= 1) d.opacity = v.opacity;
      if (typeof v.sideBySide === 'boolean') d.sideBySide = v.sideBySide;
    }
  } catch {
    // defaults
  }
  return d;
}

export const MIN_ZOOM = 0.5;
export const MAX_ZOOM = 32;

export class ViewerState {
  heatmap = $state(true);
  opacity = $state(0.55);
  sideBySide = $state(false);
  zoom = $state(1);
  panX = $state(0);
  panY = $state(0);

  constructor() {
    const s = load();
    this.heatmap = s.heatmap;
    this.opacity = s.opacity;
    this.sideBySide = s.sideBySide;
  }

  private save(): void {
    try {
      localStorage.setItem(KEY, JSON.stringify({ heatmap: this.heatmap, opacity: this.opacity, sideBySide: this.sideBySide }));
    } catch {
      // not remembered
    }
  }

  toggleHeatmap(): void {
    this.heatmap = !this.heatmap;
    this.save();
  }

  toggleSideBySide(): void {
    this.sideBySide = !this.sideBySide;
    this.save();
  }

  setOpacity(v: number): void {
    this.opacity = Math.round(Math.min(1, Math.max(0, v)) * 100) / 100;
    if (!this.heatmap) this.heatmap = true;
    this.save();
  }

  /** Zooms by `factor` keeping the point (cx, cy) (pane coordinates from its centre) still. */
  zoomAt(factor: number, cx = 0, cy = 0): void {
    const z = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.zoom * factor));
    const f = z / this.zoom;
    if (f === 1) return;
    this.panX = cx - (cx - this.panX) * f;
    this.panY = cy - (cy - this.panY) * f;
    this.zoom = z;
  }

  panBy(dx: number, dy: number): void {
    this.panX += dx;
    this.panY += dy;
  }

  fit(): void {
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
  }
}

export const viewer = new ViewerState();
