/**
 * Defect regions a reviewer marks on a part, and their exports.
 *
 * A region is a polygon (outline) or a brush stroke (a polyline with a radius), in the
 * image's own pixel coordinates (x right, y down, origin at the top-left corner of the top-left
 * pixel). Stored with the verdict as JSON (`RegionSet`). Exports:
 *   - a binary mask per image (1 = defect), the image's size, rasterized here (pixel centres);
 *   - COCO JSON (instances): one annotation per region; polygons as drawn, brush strokes as
 *     their bounding box (their exact pixels are in the mask).
 */
import { KensaError } from '../shared/errors';

export interface PolygonRegion {
  kind: 'polygon';
  /** [x0, y0, x1, y1, …] at least 3 points. */
  points: number[];
}

export interface BrushRegion {
  kind: 'brush';
  /** The stroke's centre line [x0, y0, x1, y1, …], at least 1 point. */
  points: number[];
  radius: number;
}

export type Region = PolygonRegion | BrushRegion;

export interface RegionSet {
  /** Size of the image the coordinates refer to. */
  width: number;
  height: number;
  regions: Region[];
}

const bad = (m: string): never => {
  throw new KensaError('INVALID_ARGUMENT', `regions: ${m}`);
};

/** Validates untrusted region data (from the renderer) and returns a clean copy. */
export function validateRegions(input: unknown): RegionSet {
  if (typeof input !== 'object' || input === null) bad('expected an object { width, height, regions }');
  const o = input as Record<string, unknown>;
  const width = o.width;
  const height = o.height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) < 1 || (height as number) < 1 || (width as number) > 65535 || (height as number) > 65535) {
    bad('width and height must be integers from 1 to 65535');
  }
  if (!Array.isArray(o.regions)) bad('regions must be an array');
  const list = o.regions as unknown[];
  if (list.length > 1000) bad(`at most 1000 regions per part, got ${list.length}`);
  const regions = list.map((r, i): Region => {
    if (typeof r !== 'object' || r === null) bad(`region ${i} is not an object`);
    const rr = r as Record<string, unknown>;
    const pts = rr.points;
    if (!Array.isArray(pts) || pts.length % 2 !== 0 || pts.length > 20_000 || !pts.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      bad(`region ${i}: points must be an even-length list of finite numbers (at most 10,000 points)`);
    }
    const points = (pts as number[]).map((v, k) => Math.min(Math.max(v, 0), k % 2 === 0 ? (width as number) : (height as number)));
    if (rr.kind === 'polygon') {
      if (points.length < 6) bad(`region ${i}: a polygon needs at least 3 points`);
      return { kind: 'polygon', points };
    }
    if (rr.kind === 'brush') {
      if (points.length < 2) bad(`region ${i}: a brush stroke needs at least 1 point`);
      const radius = rr.radius;
      if (typeof radius !== 'number' || !(radius > 0 && radius <= 4096)) bad(`region ${i}: brush radius must be in (0, 4096]`);
      return { kind: 'brush', points, radius: radius as number };
    }
    return bad(`region ${i}: kind must be "polygon" or "brush"`);
  });
  return { width: width as number, height: height as number, regions };
}

/**
 * Even–odd scanline fill of a polygon into `mask`: a pixel is in when its centre (x+½, y+½)
 * lies in the half-open span [left edge, right edge), so two polygons sharing an edge never
 * both claim the pixels on it.
 */
function fillPolygon(mask: Uint8Array, w: number, h: number, pts: number[]): void {
  const n = pts.length / 2;
  const xs: number[] = [];
  for (let y = 0; y < h; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const yi = pts[2 * i + 1]!;
      const yj = pts[2 * j + 1]!;
      if (yi > cy !== yj > cy) {
        const xi = pts[2 * i]!;
        const xj = pts[2 * j]!;
        xs.push(xi + ((cy - yi) / (yj - yi)) * (xj - xi));
      }
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k]! - 0.5));
      const to = Math.min(w - 1, Math.ceil(xs[k + 1]! - 0.5) - 1);
      for (let x = from; x <= to; x++) mask[y * w + x] = 1;
    }
  }
}

/** Pixels whose centre is within `r` of the segment a–b. */
function fillCapsule(mask: Uint8Array, w: number, h: number, ax: number, ay: number, bx: number, by: number, r: number): void {
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - r));
  const x1 = Math.min(w - 1, Math.ceil(Math.max(ax, bx) + r));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - r));
  const y1 = Math.min(h - 1, Math.ceil(Math.max(ay, by) + r));
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const px = x + 0.5 - ax;
      const py = y + 0.5 - ay;
      const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
      const ex = px - t * dx;
      const ey = py - t * dy;
      if (ex * ex + ey * ey <= r * r) mask[y * w + x] = 1;
    }
  }
}

/** Rasterizes one region (or all, when `only` is undefined) into a 0/1 mask [H, W]. */
export function rasterize(set: RegionSet, only?: number): Uint8Array {
  const { width: w, height: h } = set;
  const mask = new Uint8Array(w * h);
  set.regions.forEach((r, i) => {
    if (only !== undefined && i !== only) return;
    if (r.kind === 'polygon') fillPolygon(mask, w, h, r.points);
    else {
      const p = r.points;
      if (p.length === 2) fillCapsule(mask, w, h, p[0]!, p[1]!, p[0]!, p[1]!, r.radius);
      for (let k = 0; k + 3 < p.length; k += 2) fillCapsule(mask, w, h, p[k]!, p[k + 1]!, p[k + 2]!, p[k + 3]!, r.radius);
    }
  });
  return mask;
}

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: number[][];
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0;
}

export interface CocoDataset {
  info: { description: string; version: string; date_created: string };
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: { id: number; name: string; supercategory: string }[];
}

/**
 * COCO instances JSON for reviewed defects: one image entry per part, one annotation per
 * region, category = the defect type ("defect" when none was given). Polygons are exported as
 * drawn; a brush stroke as the outline of its bounding box (its exact pixels are in the PNG
 * mask export). Areas are pixel counts of the rasterized region.
 */
export function toCoco(
  parts: { imageId: number; fileName: string; defectType: string | null; regions: RegionSet }[],
  meta: { description: string; version: string; date: string },
): CocoDataset {
  const categories = [...new Set(parts.map((p) => p.defectType ?? 'defect'))].sort().map((name, i) => ({ id: i + 1, name, supercategory: 'defect' }));
  const catId = new Map(categories.map((c) => [c.name, c.id]));
  const annotations: CocoAnnotation[] = [];
  for (const p of parts) {
    p.regions.regions.forEach((r, i) => {
      const mask = rasterize(p.regions, i);
      let area = 0;
      let minX = Infinity;
      let minY = Infinity;
      let maxX = -Infinity;
      let maxY = -Infinity;
      const w = p.regions.width;
      for (let k = 0; k < mask.length; k++) {
        if (!mask[k]) continue;
        area += 1;
        const x = k % w;
        const y = (k - x) / w;
        minX = Math.min(minX, x);
        minY = Math.min(minY, y);
        maxX = Math.max(maxX, x + 1);
        maxY = Math.max(maxY, y + 1);
      }
      if (area === 0) return;
      const segmentation = r.kind === 'polygon' ? [r.points.map((v) => Math.round(v * 100) / 100)] : [[minX, minY, maxX, minY, maxX, maxY, minX, maxY]];
      annotations.push({
        id: annotations.length + 1,
        image_id: p.imageId,
        category_id: catId.get(p.defectType ?? 'defect')!,
        segmentation,
        area,
        bbox: [minX, minY, maxX - minX, maxY - minY],
        iscrowd: 0,
      });
    });
  }
  return {
    info: { description: meta.description, version: meta.version, date_created: meta.date },
    images: parts.map((p) => ({ id: p.imageId, file_name: p.fileName, width: p.regions.width, height: p.regions.height })),
    annotations,
    categories,
  };
}
