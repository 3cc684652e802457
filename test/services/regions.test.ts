/**
 * Defect regions: validation of untrusted input, rasterization on hand-counted cases, COCO.
 */
import { describe, expect, it } from 'vitest';
import { rasterize, toCoco, validateRegions } from '../../src-main/services/regions';

const count = (m: Uint8Array): number => m.reduce((a, b) => a + b, 0);

describe('validateRegions', () => {
  it('accepts polygons and brush strokes and clamps points into the image', () => {
    const r = validateRegions({ width: 10, height: 8, regions: [{ kind: 'polygon', points: [-5, 0, 20, 0, 5, 30] }, { kind: 'brush', points: [1, 1], radius: 2 }] });
    expect(r.regions[0]).toEqual({ kind: 'polygon', points: [0, 0, 10, 0, 5, 8] });
    expect(r.regions[1]).toEqual({ kind: 'brush', points: [1, 1], radius: 2 });
  });
  it.each([
    [null, /expected an object/],
    [{ width: 0, height: 5, regions: [] }, /width and height/],
    [{ width: 5, height: 5, regions: 'x' }, /must be an array/],
    [{ width: 5, height: 5, regions: [{ kind: 'polygon', points: [0, 0, 1, 1] }] }, /at least 3 points/],
    [{ width: 5, height: 5, regions: [{ kind: 'polygon', points: [0, 0, 1] }] }, /even-length/],
    [{ width: 5, height: 5, regions: [{ kind: 'polygon', points: [0, 0, 1, NaN, 2, 2] }] }, /finite/],
    [{ width: 5, height: 5, regions: [{ kind: 'brush', points: [1, 1], radius: -1 }] }, /radius/],
    [{ width: 5, height: 5, regions: [{ kind: 'circle', points: [1, 1] }] }, /kind must be/],
  ])('rejects %j', (input, msg) => {
    expect(() => validateRegions(input)).toThrow(msg);
  });
});

describe('rasterize', () => {
  it('an axis-aligned rectangle covers exactly the pixels inside it', () => {
    // Rectangle from (2,1) to (6,4): pixel centres x+0.5 in (2,6) → x = 2..5; y+0.5 in (1,4) → y = 1..3: 4 × 3 = 12.
    const m = rasterize(validateRegions({ width: 8, height: 6, regions: [{ kind: 'polygon', points: [2, 1, 6, 1, 6, 4, 2, 4] }] }));
    expect(count(m)).toBe(12);
    expect(m[1 * 8 + 2]).toBe(1);
    expect(m[3 * 8 + 5]).toBe(1);
    expect(m[0 * 8 + 2]).toBe(0);
    expect(m[1 * 8 + 6]).toBe(0);
  });
  it('a right triangle covers half its square (pixel centres strictly below the diagonal)', () => {
    // Triangle (0,0)-(4,0)-(0,4): centre (x+.5, y+.5) inside when x + y + 1 < 4 → x + y ≤ 2: 3 + 2 + 1 = 6 pixels.
    const m = rasterize(validateRegions({ width: 4, height: 4, regions: [{ kind: 'polygon', points: [0, 0, 4, 0, 0, 4] }] }));
    expect(count(m)).toBe(6);
  });
  it('a brush dot of radius r covers about πr² pixels; a stroke covers its capsule', () => {
    const dot = rasterize(validateRegions({ width: 100, height: 100, regions: [{ kind: 'brush', points: [50, 50], radius: 10 }] }));
    expect(Math.abs(count(dot) - Math.PI * 100)).toBeLessThan(15);
    const stroke = rasterize(validateRegions({ width: 100, height: 100, regions: [{ kind: 'brush', points: [20, 50, 80, 50], radius: 5 }] }));
    // 60 × 10 rectangle + a disc of radius 5.
    expect(Math.abs(count(stroke) - (600 + Math.PI * 25))).toBeLessThan(15);
  });
});

describe('toCoco', () => {
  it('one annotation per region, categories from defect types, bbox and area from the pixels', () => {
    const set = validateRegions({ width: 8, height: 6, regions: [{ kind: 'polygon', points: [2, 1, 6, 1, 6, 4, 2, 4] }, { kind: 'brush', points: [0.5, 0.5], radius: 0.6 }] });
    const coco = toCoco(
      [
        { imageId: 7, fileName: 'a.png', defectType: 'scratch', regions: set },
        { imageId: 9, fileName: 'b.png', defectType: null, regions: validateRegions({ width: 4, height: 4, regions: [{ kind: 'polygon', points: [0, 0, 4, 0, 0, 4] }] }) },
      ],
      { description: 'test', version: '0.0.0', date: '2026-01-01' },
    );
    expect(coco.categories).toEqual([
      { id: 1, name: 'defect', supercategory: 'defect' },
      { id: 2, name: 'scratch', supercategory: 'defect' },
    ]);
    expect(coco.images).toEqual([
      { id: 7, file_name: 'a.png', width: 8, height: 6 },
      { id: 9, file_name: 'b.png', width: 4, height: 4 },
    ]);
    expect(coco.annotations).toHaveLength(3);
    expect(coco.annotations[0]).toMatchObject({ image_id: 7, category_id: 2, area: 12, bbox: [2, 1, 4, 3], segmentation: [[2, 1, 6, 1, 6, 4, 2, 4]] });
    expect(coco.annotations[1]).toMatchObject({ image_id: 7, area: 1, bbox: [0, 0, 1, 1] });
    expect(coco.annotations[2]).toMatchObject({ image_id: 9, category_id: 1, area: 6 });
  });
});
