/**
 * Augmentations: exact identities (flip twice, p = 0), grey channels equal, solarize inverts above
 * the threshold, blur's impulse response, crop geometry, jitter on constant images, the BYOL views'
 * shapes, range and per-seed determinism, and no leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor4D} from '@tensorflow/tfjs-core';

import {ValueError} from '../../src/errors';
import {adjustHue, adjustSaturation, byolViews, colorJitter, gaussianBlur, hsvToRgb, randomFlip, randomGrayscale,
        randomResizedCrop, rgbToHsv, solarize, toGrayscale} from '../../src/data';
import {describeBackends, expectClose, maxAbsDiff, tolScale, values} from '../util';

/** Reproducible uniform images in [0, 1]. */
function images(shape: [number, number, number, number], seed = 1): Tensor4D {
  return tf.randomUniform(shape, 0, 1, 'float32', seed) as Tensor4D;
}

/** Per image, whether `a` and `b` differ. */
function differing(a: Tensor4D, b: Tensor4D): boolean[] {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b)), [1, 2, 3]));
  const out = Array.from(d.dataSync()).map(v => v > 1e-6);
  d.dispose();
  return out;
}

function range(t: Tensor4D): [number, number] {
  const v = values(t);
  return [v.reduce((a, b) => Math.min(a, b), Infinity), v.reduce((a, b) => Math.max(a, b), -Infinity)];
}

/** Runs `f`, disposes its outputs, and expects no tensor left behind. */
function expectNoLeak(f: () => tf.Tensor|tf.Tensor[]): void {
  const before = tf.memory().numTensors;
  tf.dispose(f());
  expect(tf.memory().numTensors).withContext('tensors leaked').toBe(before);
}

describeBackends('data: augmentation', () => {
  it('randomFlip: p = 1 twice is the identity, p = 1 is a mirror, p = 0 a copy, p = 0.5 about half', () => {
    const x = images([4, 5, 6, 3]);
    const once = randomFlip(x, 1, {p: 1});
    const twice = randomFlip(once, 2, {p: 1});
    expect(maxAbsDiff(twice, x)).toBe(0);
    const mirror = tf.reverse(x, 2);
    expect(maxAbsDiff(once, mirror)).toBe(0);
    const none = randomFlip(x, 3, {p: 0});
    expect(maxAbsDiff(none, x)).toBe(0);
    expect(none).not.toBe(x);
    const many = images([300, 2, 2, 1], 5);
    const half = randomFlip(many, 9);
    const flipped = differing(half, many).filter(v => v).length;
    expect(flipped).toBeGreaterThan(120);
    expect(flipped).toBeLessThan(180);
    const again = randomFlip(many, 9);
    expect(maxAbsDiff(again, half)).toBe(0);
    expectNoLeak(() => randomFlip(x, 4));
    expect(() => randomFlip(x, 1, {p: 2})).toThrowError(ValueError, /randomFlip: p must be a probability/);
    expect(() => randomFlip(tf.zeros([2, 2, 2]) as unknown as Tensor4D, 1)).toThrowError(ValueError, /randomFlip: expected float32 images/);
    tf.dispose([x, once, twice, mirror, none, many, half, again]);
  });

  it('randomGrayscale: p = 1 makes the channels equal (luma), p = 0 is a copy, 1 channel a copy', () => {
    const x = images([3, 4, 4, 3]);
    const g = randomGrayscale(x, 1, {p: 1});
    const [r, gg, b] = tf.split(g, 3, 3);
    expect(maxAbsDiff(r, gg)).toBe(0);
    expect(maxAbsDiff(r, b)).toBe(0);
    const v = values(x), want = 0.2989 * v[0] + 0.5870 * v[1] + 0.1140 * v[2];
    expect(values(g)[0]).toBeCloseTo(want, 5);
    const none = randomGrayscale(x, 1, {p: 0});
    expect(maxAbsDiff(none, x)).toBe(0);
    const grey = images([2, 3, 3, 1]);
    const g1 = randomGrayscale(grey, 1, {p: 1});
    expect(maxAbsDiff(g1, grey)).toBe(0);
    const many = images([400, 2, 2, 3], 3);
    const some = differing(randomGrayscale(many, 4), many).filter(d => d).length;
    expect(some).toBeGreaterThan(50);   // p = 0.2 by default: 80 expected
    expect(some).toBeLessThan(110);
    expectNoLeak(() => randomGrayscale(x, 2, {p: 0.5}));
    tf.dispose([x, g, r, gg, b, none, grey, g1, many]);
  });

  it('solarize: inverts pixels ≥ threshold, keeps the others; p = 0 is a copy', () => {
    const x = tf.tensor4d([0, 0.2, 0.49, 0.5, 0.7, 1], [1, 2, 3, 1]);
    expect(Array.from(values(solarize(x, 1)))).toEqual(Array.from(new Float32Array([0, 0.2, 0.49, 0.5, 1 - 0.7, 0])));
    expect(Array.from(values(solarize(x, 1, {threshold: 0.1})))).toEqual(
        Array.from(new Float32Array([0, 0.8, 1 - 0.49, 0.5, 1 - 0.7, 0])));
    expect(maxAbsDiff(solarize(x, 1, {p: 0}), x)).toBe(0);
    expectNoLeak(() => solarize(x, 1, {p: 0.5}));
    x.dispose();
  });

  it('gaussianBlur: symmetric, separable, normalised impulse response; per-image σ; p = 0 a copy', () => {
    // An impulse in the middle of 40×40 images (kernel size 4 → 5 taps).
    const imp = tf.tidy(() => tf.tile(tf.pad(tf.ones([1, 1, 1, 1]), [[0, 0], [19, 20], [19, 20], [0, 0]]), [2, 1, 1, 1])) as Tensor4D;
    const y = gaussianBlur(imp, 3);
    const v = values(y);
    const at = (i: number, r: number, c: number) => v[(i * 40 + r) * 40 + c];
    const tol = 1e-6 * tolScale();
    for (const i of [0, 1]) {
      let total = 0;
      for (let r = 17; r <= 21; r++) {
        for (let c = 17; c <= 21; c++) {
          total += at(i, r, c);
          expect(at(i, r, c)).toBeCloseTo(at(i, 2 * 19 - r, c), 6);                    // symmetric
          expect(at(i, r, c) * at(i, 19, 19)).toBeCloseTo(at(i, r, 19) * at(i, 19, c), 6);  // rank 1
        }
      }
      expect(Math.abs(total - 1)).toBeLessThan(10 * tol);
      expect(at(i, 19, 19)).toBeLessThan(1);
      expect(at(i, 16, 19)).toBe(0);
    }
    expect(at(0, 19, 19)).not.toBeCloseTo(at(1, 19, 19), 3);  // each image its own σ
    expect(maxAbsDiff(gaussianBlur(imp, 3, {p: 0}), imp)).toBe(0);
    // Below 20 pixels the default kernel has one tap: a copy.
    const small = images([2, 16, 16, 3]);
    expect(maxAbsDiff(gaussianBlur(small, 1), small)).toBe(0);
    // A constant image stays constant away from the zero-padded border; values stay in [0, 1].
    const flat = tf.fill([1, 32, 32, 3], 0.6) as Tensor4D;
    const fb = gaussianBlur(flat, 1, {kernelSize: 5});
    expect(values(fb)[(16 * 32 + 16) * 3]).toBeCloseTo(0.6, 5);
    const rb = gaussianBlur(images([3, 32, 32, 3]), 2);
    const [lo, hi] = range(rb);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1 + 1e-6);
    expectNoLeak(() => gaussianBlur(imp, 4, {p: 0.5}));
    tf.dispose([imp, y, small, flat, fb, rb]);
  });

  it('randomResizedCrop: full-area square crop is the identity; crop geometry; size; determinism', () => {
    const x = images([2, 8, 8, 3]);
    const same = randomResizedCrop(x, 1, {areaRange: [1, 1], aspectRange: [1, 1]});
    expectClose(same, x, 0, 1e-5 * tolScale());
    // A ramp in x: a 16×16 crop of a 32×32 ramp resized to 32×32 is a ramp with slope 15/31 of the input's.
    const ramp = tf.tidy(() => tf.tile(tf.reshape(tf.div(tf.range(0, 32), 31), [1, 1, 32, 1]), [3, 32, 1, 1])) as Tensor4D;
    const crop = randomResizedCrop(ramp, 2, {areaRange: [0.25, 0.25], aspectRange: [1, 1]});
    const c = values(crop);
    for (let i = 0; i < 3; i++) {
      const row = Array.from(c.subarray(i * 1024 + 5 * 32, i * 1024 + 6 * 32));
      for (let k = 1; k < 32; k++) {
        expect(row[k] - row[k - 1]).toBeCloseTo(15 / 31 / 31, 4);
      }
      expect(row[0] * 31).toBeCloseTo(Math.round(row[0] * 31), 3);  // starts on a pixel
      expect(row[0] * 31).toBeLessThanOrEqual(16 + 1e-3);
    }
    const resized = randomResizedCrop(x, 3, {areaRange: [0.3, 1], size: [5, 7]});
    expect(resized.shape).toEqual([2, 5, 7, 3]);
    const [lo, hi] = range(resized);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1 + 1e-6);
    const a = randomResizedCrop(x, 'seed'), b = randomResizedCrop(x, 'seed'), d = randomResizedCrop(x, 'other');
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, d)).toBeGreaterThan(0);
    expectNoLeak(() => randomResizedCrop(x, 4));
    expect(() => randomResizedCrop(x, 1, {areaRange: [0.5, 0.2]})).toThrowError(ValueError, /areaRange must be \[lo, hi\]/);
    tf.dispose([x, same, ramp, crop, resized, a, b, d]);
  });

  it('colour: hue rotation, saturation 0, HSV round trip', () => {
    const rgb = tf.tensor4d([1, 0, 0, 0, 1, 0, 0.2, 0.4, 0.8, 0.5, 0.5, 0.5], [1, 2, 2, 3]);
    const shifted = adjustHue(rgb, 1 / 3);  // red → green, green → blue, grey stays
    expectClose(shifted, tf.tensor4d([0, 1, 0, 0, 0, 1, 0.8, 0.2, 0.4, 0.5, 0.5, 0.5], [1, 2, 2, 3]), 0, 1e-5);
    const desat = adjustSaturation(rgb, 0);  // grey at the value (max channel)
    expectClose(desat, tf.tensor4d([1, 1, 1, 1, 1, 1, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5], [1, 2, 2, 3]), 0, 1e-6);
    const x = images([3, 6, 6, 3], 8);
    const [h, s, v] = rgbToHsv(x);
    expectClose(hsvToRgb(h, s, v), x, 0, 2e-6 * tolScale());
    const [hmin, hmax] = range(h);
    expect(hmin).toBeGreaterThanOrEqual(0);
    expect(hmax).toBeLessThan(1);
    const black = rgbToHsv(tf.zeros([1, 1, 1, 3]) as Tensor4D);
    expect(Array.from(black.flatMap(t => Array.from(t.dataSync())))).toEqual([0, 0, 0]);
    expect(() => adjustHue(x, [1, 2])).toThrowError(ValueError, /one value per image \(3\)/);
    expect(() => toGrayscale(images([1, 2, 2, 2]))).toThrowError(ValueError, /toGrayscale: expected 1 or 3 channels/);
  });

  it('colorJitter: p = 0 a copy; brightness alone shifts each image; contrast/hue/saturation keep flat grey', () => {
    const x = images([6, 4, 4, 3]);
    expect(maxAbsDiff(colorJitter(x, 1, {p: 0}), x)).toBe(0);
    const grey = tf.fill([50, 3, 3, 3], 0.5) as Tensor4D;
    const bright = colorJitter(grey, 2, {brightness: 0.4, contrast: 0, saturation: 0, hue: 0, p: 1});
    const bv = values(bright);
    const deltas = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const d = bv[i * 27] - 0.5;
      expect(Math.abs(d)).toBeLessThanOrEqual(0.4 + 1e-6);
      for (let k = 1; k < 27; k++) {
        expect(bv[i * 27 + k]).toBe(bv[i * 27]);
      }
      deltas.add(d.toFixed(4));
    }
    expect(deltas.size).toBeGreaterThan(40);
    const others = colorJitter(grey, 3, {brightness: 0, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 1});
    expectClose(others, grey, 0, 1e-5);
    // Defaults on random images: in [0, 1], changed for about 80 %, deterministic per seed.
    const many = images([100, 4, 4, 3], 4);
    const j1 = colorJitter(many, 'j'), j2 = colorJitter(many, 'j');
    expect(maxAbsDiff(j1, j2)).toBe(0);
    const [lo, hi] = range(j1);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    const changed = differing(j1, many).filter(d => d).length;
    expect(changed).toBeGreaterThan(65);
    expect(changed).toBeLessThan(95);
    const mono = colorJitter(images([4, 4, 4, 1]), 5, {p: 1});
    expect(mono.shape).toEqual([4, 4, 4, 1]);
    expectNoLeak(() => colorJitter(many, 6));
    expect(() => colorJitter(x, 1, {hue: 0.7})).toThrowError(ValueError, /hue must be ≥ 0 and ≤ 0.5/);
    tf.dispose([x, grey, bright, others, many, j1, j2, mono]);
  });

  it('byolViews: two different views in [0, 1], per-seed deterministic, no leaks', () => {
    const x = images([4, 32, 32, 3]);
    const [v1, v2] = byolViews(x, 42, {areaLowerBound: 0.3});
    expect(v1.shape).toEqual([4, 32, 32, 3]);
    expect(v2.shape).toEqual([4, 32, 32, 3]);
    for (const v of [v1, v2]) {
      const [lo, hi] = range(v);
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    expect(maxAbsDiff(v1, v2)).toBeGreaterThan(0.01);
    const [w1, w2] = byolViews(x, 42, {areaLowerBound: 0.3});
    expect(maxAbsDiff(v1, w1)).toBe(0);
    expect(maxAbsDiff(v2, w2)).toBe(0);
    const [u1] = byolViews(x, 43, {areaLowerBound: 0.3});
    expect(maxAbsDiff(v1, u1)).toBeGreaterThan(0.01);
    const [m1, m2] = byolViews(images([2, 28, 28, 1]), 1, {size: [14, 14]});
    expect(m1.shape).toEqual([2, 14, 14, 1]);
    expectNoLeak(() => byolViews(x, 7));
    expect(() => byolViews(x, 1, {areaLowerBound: 0})).toThrowError(ValueError, /areaLowerBound must be in \(0, 1\]/);
    tf.dispose([x, v1, v2, w1, w2, u1, m1, m2]);
  });
});
