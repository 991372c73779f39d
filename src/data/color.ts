/**
 * Deterministic colour adjustments of float images [N, H, W, C] in [0, 1], with one parameter per
 * image: the building blocks of `colorJitter` (BYOL's `augmentations.py` formulas: additive
 * brightness, per-channel-mean contrast, HSV saturation and hue). Elementwise tfjs ops only, so they
 * run on cpu, wasm and webgl alike. None clips; the random augmentations clip after each step.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor4D} from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';

/** A per-image parameter: one number for all images, or one per image. */
export type PerImage = number|ArrayLike<number>;

/** Checks `x` is float32 [N, H, W, C] (C in `channels` if given); `fn` names the caller in errors. */
export function checkImages(x: Tensor, fn: string, channels?: number[]): void {
  if (x.rank !== 4 || x.dtype !== 'float32') {
    throw new ValueError(`${fn}: expected float32 images [N, H, W, C] in [0, 1]. ` +
                         `Received ${x.dtype} of shape [${x.shape.join(', ')}].`);
  }
  if (channels != null && !channels.includes(x.shape[3] as number)) {
    throw new ValueError(`${fn}: expected ${channels.join(' or ')} channels. Received shape [${x.shape.join(', ')}].`);
  }
}

/** A per-image parameter as a [N, 1, 1, 1] float32 tensor. */
export function perImage(p: PerImage, n: number, what: string): Tensor4D {
  if (typeof p === 'number') {
    return tf.fill([n, 1, 1, 1], p, 'float32') as Tensor4D;
  }
  if (p.length !== n) {
    throw new ValueError(`${what}: expected one value per image (${n}). Received ${p.length}.`);
  }
  return tf.tensor4d(Float32Array.from(p), [n, 1, 1, 1]);
}

/** x + delta (TF's `adjust_brightness`). */
export function adjustBrightness(x: Tensor4D, delta: PerImage): Tensor4D {
  checkImages(x, 'adjustBrightness');
  return tf.tidy(() => tf.add(x, perImage(delta, x.shape[0], 'adjustBrightness')));
}

/** (x − m)·factor + m, m = the image's mean per channel (TF's `adjust_contrast`). */
export function adjustContrast(x: Tensor4D, factor: PerImage): Tensor4D {
  checkImages(x, 'adjustContrast');
  return tf.tidy(() => {
    const m = tf.mean(x, [1, 2], true);
    return tf.add(tf.mul(tf.sub(x, m), perImage(factor, x.shape[0], 'adjustContrast')), m);
  });
}

/**
 * RGB [N, H, W, 3] → [h, s, v], each [N, H, W, 1] in [0, 1] (hue in turns: 0 red, 1/3 green,
 * 2/3 blue). Black has s = 0 and greys have h = 0, as in TF's `rgb_to_hsv`.
 */
export function rgbToHsv(x: Tensor4D): [Tensor4D, Tensor4D, Tensor4D] {
  checkImages(x, 'rgbToHsv', [3]);
  return tf.tidy(() => {
    const [r, g, b] = tf.split(x, 3, 3) as Tensor4D[];
    const v = tf.maximum(tf.maximum(r, g), b);
    const range = tf.sub(v, tf.minimum(tf.minimum(r, g), b));
    const tiny = tf.scalar(1e-12);
    const s = tf.div(range, tf.maximum(v, tiny));  // range ≤ v, so 0 for black
    const safeRange = tf.maximum(range, tiny);      // where range = 0 every numerator below is 0 too
    const hr = tf.div(tf.sub(g, b), safeRange);
    const hg = tf.add(tf.div(tf.sub(b, r), safeRange), 2);
    const hb = tf.add(tf.div(tf.sub(r, g), safeRange), 4);
    // max(r, g, b) is exactly one of them, so the equality tests are exact; red wins ties (greys → 0).
    const h6 = tf.where(tf.equal(v, r), hr, tf.where(tf.equal(v, g), hg, hb));
    const h = tf.div(h6, 6);
    return [tf.sub(h, tf.floor(h)) as Tensor4D, s as Tensor4D, v as Tensor4D];
  });
}

/** [h, s, v] (each [N, H, W, 1], h taken modulo 1) → RGB [N, H, W, 3]. Inverse of `rgbToHsv`. */
export function hsvToRgb(h: Tensor4D, s: Tensor4D, v: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const dh = tf.mul(tf.sub(h, tf.floor(h)), 6);
    const dr = tf.clipByValue(tf.sub(tf.abs(tf.sub(dh, 3)), 1), 0, 1);
    const dg = tf.clipByValue(tf.sub(2, tf.abs(tf.sub(dh, 2))), 0, 1);
    const db = tf.clipByValue(tf.sub(2, tf.abs(tf.sub(dh, 4))), 0, 1);
    const oneMinusS = tf.sub(1, s);
    const channel = (d: Tensor) => tf.mul(v, tf.add(oneMinusS, tf.mul(s, d)));
    return tf.concat([channel(dr), channel(dg), channel(db)], 3) as Tensor4D;
  });
}

/** Saturation scaled by `factor` and clipped to [0, 1] in HSV (TF's `adjust_saturation`). RGB only. */
export function adjustSaturation(x: Tensor4D, factor: PerImage): Tensor4D {
  checkImages(x, 'adjustSaturation', [3]);
  return tf.tidy(() => {
    const [h, s, v] = rgbToHsv(x);
    const s2 = tf.clipByValue(tf.mul(s, perImage(factor, x.shape[0], 'adjustSaturation')), 0, 1) as Tensor4D;
    return hsvToRgb(h, s2, v);
  });
}

/** Hue rotated by `delta` turns (modulo 1) in HSV (TF's `adjust_hue`). RGB only. */
export function adjustHue(x: Tensor4D, delta: PerImage): Tensor4D {
  checkImages(x, 'adjustHue', [3]);
  return tf.tidy(() => {
    const [h, s, v] = rgbToHsv(x);
    return hsvToRgb(tf.add(h, perImage(delta, x.shape[0], 'adjustHue')) as Tensor4D, s, v);
  });
}

/** ITU-R 601 luma weights of BYOL's `_to_grayscale` (and TF's `rgb_to_grayscale`). */
export const GRAYSCALE_WEIGHTS: readonly number[] = [0.2989, 0.5870, 0.1140];

/** RGB → grey, repeated over 3 channels (all three channels exactly equal). 1-channel input: a copy. */
export function toGrayscale(x: Tensor4D): Tensor4D {
  checkImages(x, 'toGrayscale', [1, 3]);
  if (x.shape[3] === 1) {
    return tf.clone(x);
  }
  return tf.tidy(() => {
    const g = tf.sum(tf.mul(x, tf.tensor1d(GRAYSCALE_WEIGHTS as number[])), 3, true);
    return tf.concat([g, g, g], 3) as Tensor4D;
  });
}
