/**
 * Random image augmentations for float images [N, H, W, C] in [0, 1] (apply them before
 * normalisation), after BYOL's `augmentations.py`, which the paper's contrastive runs use
 * (paper Appendix 11). Every random choice is drawn per image on the host from the `seed` argument
 * (seedrandom's Alea), so a seed gives the same result on every backend. Only tfjs ops that cpu, wasm
 * and webgl all implement are used (no Einsum, UnsortedSegmentSum or BroadcastTo). Each function
 * returns a new tensor and leaves its input alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor4D} from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';
import {adjustBrightness, adjustContrast, adjustHue, adjustSaturation, checkImages, toGrayscale} from './color';
import {bernoullis, makeRng, permutation, randomInt, Rng, Seed, subSeed, uniforms} from './random';

/** m·a + (1 − m)·b per image, m ∈ {0, 1}: exactly a or b (no rounding). Always a new tensor. */
function blend(mask: Float32Array, a: Tensor4D, b: Tensor4D): Tensor4D {
  if (mask.every(v => v === 1)) {
    return tf.clone(a);
  }
  if (mask.every(v => v === 0)) {
    return tf.clone(b);
  }
  return tf.tidy(() => {
    const m = tf.tensor4d(mask, [mask.length, 1, 1, 1]);
    return tf.add(tf.mul(m, a), tf.mul(tf.sub(1, m), b)) as Tensor4D;
  });
}

function checkProb(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) {
    throw new ValueError(`${what}: p must be a probability in [0, 1]. Received: ${p}.`);
  }
}

function checkRange([lo, hi]: readonly number[], what: string, min: number, max: number): void {
  if (!(min <= lo && lo <= hi && hi <= max)) {
    throw new ValueError(`${what} must be [lo, hi] with ${min} ≤ lo ≤ hi ≤ ${max}. Received: [${lo}, ${hi}].`);
  }
}

/** Options of `randomFlip`. */
export interface RandomFlipOptions {
  /** Probability of flipping each image. Default 0.5. */
  p?: number;
}

/** Flips each image left–right with probability `p` (BYOL's `random_flip`). */
export function randomFlip(x: Tensor4D, seed: Seed, opts: RandomFlipOptions = {}): Tensor4D {
  const {p = 0.5} = opts;
  checkImages(x, 'randomFlip');
  checkProb(p, 'randomFlip');
  const mask = bernoullis(makeRng(seed), x.shape[0], p);
  return tf.tidy(() => blend(mask, tf.reverse(x, 2), x));
}

/** Options of `randomResizedCrop`. */
export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's. Default [0.08, 1]. */
  areaRange?: [number, number];
  /** Range of the crop's width/height ratio, sampled log-uniformly. Default [3/4, 4/3]. */
  aspectRange?: [number, number];
  /** Output [height, width]. Default: the input's. */
  size?: [number, number];
  /** Tries to find a crop that fits before falling back to a central crop. Default 10. */
  maxAttempts?: number;
}

/** A crop box in pixels: rows top..top+h−1, columns left..left+w−1. */
interface Box {
  top: number;
  left: number;
  h: number;
  w: number;
}

/** Samples one crop as torchvision's RandomResizedCrop does (and BYOL's distorted bounding box). */
function sampleCrop(rng: Rng, height: number, width: number, area: readonly number[],
                    aspect: readonly number[], maxAttempts: number): Box {
  const logLo = Math.log(aspect[0]), logHi = Math.log(aspect[1]);
  for (let i = 0; i < maxAttempts; i++) {
    const a = height * width * (area[0] + (area[1] - area[0]) * rng());
    const ratio = Math.exp(logLo + (logHi - logLo) * rng());
    const w = Math.round(Math.sqrt(a * ratio)), h = Math.round(Math.sqrt(a / ratio));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return {top: randomInt(rng, height - h + 1), left: randomInt(rng, width - w + 1), h, w};
    }
  }
  // Central crop of the whole image, its aspect ratio clamped to the range.
  let h = height, w = width;
  if (width / height < aspect[0]) {
    h = Math.min(height, Math.max(1, Math.round(width / aspect[0])));
  } else if (width / height > aspect[1]) {
    w = Math.min(width, Math.max(1, Math.round(height * aspect[1])));
  }
  return {top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), h, w};
}

/**
 * Random-resized crop: per image, a crop whose area is a uniform fraction in `areaRange` of the
 * image's and whose aspect ratio is log-uniform in `aspectRange` (10 tries, then a central crop), resized
 * to `size` with `tf.image.cropAndResize` (bilinear, sampling the crop's pixel centres corner to
 * corner). The paper's code resizes bicubically; tfjs has no bicubic resize, so this is bilinear.
 */
export function randomResizedCrop(x: Tensor4D, seed: Seed, opts: RandomResizedCropOptions = {}): Tensor4D {
  const {areaRange = [0.08, 1], aspectRange = [3 / 4, 4 / 3], maxAttempts = 10} = opts;
  checkImages(x, 'randomResizedCrop');
  const [n, height, width] = x.shape;
  const size = opts.size ?? [height, width];
  checkRange(areaRange, 'randomResizedCrop: areaRange', Number.MIN_VALUE, 1);
  checkRange(aspectRange, 'randomResizedCrop: aspectRange', Number.MIN_VALUE, Infinity);
  if (!size.every(s => Number.isInteger(s) && s > 0)) {
    throw new ValueError(`randomResizedCrop: size must be [height, width], positive integers. Received: [${size}].`);
  }
  const rng = makeRng(seed);
  const boxes = new Float32Array(4 * n);
  const ny = Math.max(1, height - 1), nx = Math.max(1, width - 1);
  for (let i = 0; i < n; i++) {
    const {top, left, h, w} = sampleCrop(rng, height, width, areaRange, aspectRange, maxAttempts);
    boxes.set([top / ny, left / nx, (top + h - 1) / ny, (left + w - 1) / nx], 4 * i);
  }
  return tf.tidy(() => tf.image.cropAndResize(
      x, tf.tensor2d(boxes, [n, 4]), tf.range(0, n, 1, 'int32') as tf.Tensor1D, size, 'bilinear'));
}

/** Options of `colorJitter`. */
export interface ColorJitterOptions {
  /** Brightness: add δ ~ U[−b, b]. 0 turns it off. Default 0.4. */
  brightness?: number;
  /** Contrast: scale by f ~ U[1 − c, 1 + c] about the channel mean. 0 turns it off. Default 0.4. */
  contrast?: number;
  /** Saturation: scale by f ~ U[1 − s, 1 + s] (RGB only). 0 turns it off. Default 0.2. */
  saturation?: number;
  /** Hue: rotate by δ ~ U[−h, h] turns (RGB only). 0 turns it off. Default 0.1. */
  hue?: number;
  /** Probability of jittering an image at all. Default 0.8. */
  p?: number;
}

/**
 * BYOL's colour jitter: with probability `p` per image, brightness, contrast, saturation and hue
 * adjustments with random strengths, applied in a random order per image, each followed by a clip
 * to [0, 1]. On 1-channel images saturation and hue do nothing.
 */
export function colorJitter(x: Tensor4D, seed: Seed, opts: ColorJitterOptions = {}): Tensor4D {
  const {brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1, p = 0.8} = opts;
  checkImages(x, 'colorJitter', [1, 3]);
  checkProb(p, 'colorJitter');
  for (const [k, v] of Object.entries({brightness, contrast, saturation, hue})) {
    if (!(v >= 0) || (k === 'hue' && v > 0.5)) {
      throw new ValueError(`colorJitter: ${k} must be ≥ 0${k === 'hue' ? ' and ≤ 0.5' : ''}. Received: ${v}.`);
    }
  }
  const n = x.shape[0], rgb = x.shape[3] === 3;
  const rng = makeRng(seed);
  const apply = bernoullis(rng, n, p);
  const orders = Array.from({length: n}, () => permutation(rng, 4));
  const params = [
    uniforms(rng, n, -brightness, brightness), uniforms(rng, n, 1 - contrast, 1 + contrast),
    uniforms(rng, n, 1 - saturation, 1 + saturation), uniforms(rng, n, -hue, hue)];
  const transforms: Array<((y: Tensor4D) => Tensor4D)|null> = [
    brightness > 0 ? y => adjustBrightness(y, params[0]) : null,
    contrast > 0 ? y => adjustContrast(y, params[1]) : null,
    saturation > 0 && rgb ? y => adjustSaturation(y, params[2]) : null,
    hue > 0 && rgb ? y => adjustHue(y, params[3]) : null,
  ];
  return tf.tidy(() => {
    let y: Tensor4D = x;
    for (let step = 0; step < 4; step++) {
      // Per image, the transform at this step of its order; all images at once, then selected.
      let out: Tensor|null = null;
      const rest = Float32Array.from({length: n}, () => 1);
      for (let k = 0; k < transforms.length; k++) {
        const t = transforms[k];
        const mask = Float32Array.from({length: n}, (_, i) => apply[i] * (orders[i][step] === k ? 1 : 0));
        if (t == null || mask.every(v => v === 0)) {
          continue;
        }
        mask.forEach((v, i) => rest[i] -= v);
        const term = tf.mul(tf.tensor4d(mask, [n, 1, 1, 1]), tf.clipByValue(t(y), 0, 1));
        out = out == null ? term : tf.add(out, term);
      }
      if (out != null) {
        y = tf.add(out, tf.mul(tf.tensor4d(rest, [n, 1, 1, 1]), y)) as Tensor4D;
      }
    }
    return y === x ? tf.clone(x) : y;
  });
}

/** Options of `randomGrayscale`. */
export interface RandomGrayscaleOptions {
  /** Probability of turning each image grey. Default 0.2. */
  p?: number;
}

/** Turns each RGB image grey (luma, repeated over the 3 channels) with probability `p`. */
export function randomGrayscale(x: Tensor4D, seed: Seed, opts: RandomGrayscaleOptions = {}): Tensor4D {
  const {p = 0.2} = opts;
  checkImages(x, 'randomGrayscale', [1, 3]);
  checkProb(p, 'randomGrayscale');
  const mask = bernoullis(makeRng(seed), x.shape[0], p);
  return tf.tidy(() => blend(mask, toGrayscale(x), x));
}

/** Options of `gaussianBlur`. */
export interface GaussianBlurOptions {
  /** Probability of blurring each image. Default 1. */
  p?: number;
  /** Range of the blur's σ in pixels, sampled uniformly per image. Default [0.1, 2.0]. */
  sigmaRange?: [number, number];
  /**
   * Kernel size; the filter has 2·floor(k/2) + 1 taps. Default floor(min(H, W)/10), as BYOL
   * (3 taps for 28×28 and 32×32 images; a copy of the input below 20 pixels).
   */
  kernelSize?: number;
}

/**
 * Gaussian blur with σ ~ U[sigmaRange] per image, applied with probability `p` (BYOL's
 * `random_gaussian_blur`): a separable filter (horizontal then vertical depthwise convolution,
 * 'same' zero padding). Images are folded into channels, so each gets its own σ in one conv.
 */
export function gaussianBlur(x: Tensor4D, seed: Seed, opts: GaussianBlurOptions = {}): Tensor4D {
  const {p = 1, sigmaRange = [0.1, 2.0]} = opts;
  checkImages(x, 'gaussianBlur');
  checkProb(p, 'gaussianBlur');
  checkRange(sigmaRange, 'gaussianBlur: sigmaRange', Number.MIN_VALUE, Infinity);
  const [n, height, width, c] = x.shape;
  const kernelSize = opts.kernelSize ?? Math.floor(Math.min(height, width) / 10);
  if (!Number.isInteger(kernelSize) || kernelSize < 0) {
    throw new ValueError(`gaussianBlur: kernelSize must be a non-negative integer. Received: ${kernelSize}.`);
  }
  const rng = makeRng(seed);
  const apply = bernoullis(rng, n, p);
  const sigmas = uniforms(rng, n, sigmaRange[0], sigmaRange[1]);
  const radius = Math.floor(kernelSize / 2), taps = 2 * radius + 1;
  if (radius === 0 || apply.every(v => v === 0)) {
    return tf.clone(x);
  }
  // Filter of channel (image i, channel j) = i·C + j: a normalised Gaussian, or a delta (exact copy).
  const filter = new Float32Array(taps * n * c);
  for (let i = 0; i < n; i++) {
    const w = Array.from({length: taps}, (_, t) =>
        apply[i] ? Math.exp(-((t - radius) ** 2) / (2 * sigmas[i] ** 2)) : (t === radius ? 1 : 0));
    const total = w.reduce((a, b) => a + b, 0);
    for (let t = 0; t < taps; t++) {
      for (let j = 0; j < c; j++) {
        filter[t * n * c + i * c + j] = w[t] / total;
      }
    }
  }
  return tf.tidy(() => {
    const folded = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, height, width, n * c]) as Tensor4D;
    const fh = tf.tensor4d(filter, [1, taps, n * c, 1]);
    const fv = tf.tensor4d(filter, [taps, 1, n * c, 1]);
    const blurred = tf.depthwiseConv2d(tf.depthwiseConv2d(folded, fh, 1, 'same'), fv, 1, 'same');
    return tf.transpose(tf.reshape(blurred, [height, width, n, c]), [2, 0, 1, 3]) as Tensor4D;
  });
}

/** Options of `solarize`. */
export interface SolarizeOptions {
  /** Probability of solarizing each image. Default 1. */
  p?: number;
  /** Pixels ≥ threshold are inverted (x ↦ 1 − x). Default 0.5. */
  threshold?: number;
}

/** Solarize with probability `p` per image: x ↦ x < threshold ? x : 1 − x (BYOL's `solarize`). */
export function solarize(x: Tensor4D, seed: Seed, opts: SolarizeOptions = {}): Tensor4D {
  const {p = 1, threshold = 0.5} = opts;
  checkImages(x, 'solarize');
  checkProb(p, 'solarize');
  const mask = bernoullis(makeRng(seed), x.shape[0], p);
  return tf.tidy(() => {
    const inverted = tf.where(tf.greaterEqual(x, threshold), tf.sub(1, x), x) as Tensor4D;
    return blend(mask, inverted, x);
  });
}

/** Options of `byolViews`. */
export interface ByolViewsOptions {
  /**
   * Lower bound of the crop area fraction. Default 0.08 (BYOL's ImageNet value); the paper uses
   * 0.5 for CIFAR-10 M/8, 0.3 for CIFAR-10 L/8 (paper Appendix 11).
   */
  areaLowerBound?: number;
  /** Output [height, width]. Default: the input's. */
  size?: [number, number];
}

/** One BYOL view: crop, flip, colour jitter, grayscale, blur, solarize, clip. */
function byolView(x: Tensor4D, seed: string, size: [number, number]|undefined, areaLowerBound: number,
                  blurP: number, solarizeP: number): Tensor4D {
  return tf.tidy(() => {
    let y = randomResizedCrop(
        x, subSeed(seed, 'crop'), {areaRange: [areaLowerBound, 1], aspectRange: [3 / 4, 4 / 3], size});
    y = randomFlip(y, subSeed(seed, 'flip'), {p: 0.5});
    y = colorJitter(y, subSeed(seed, 'jitter'), {brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8});
    y = randomGrayscale(y, subSeed(seed, 'grayscale'), {p: 0.2});
    y = gaussianBlur(y, subSeed(seed, 'blur'), {p: blurP, sigmaRange: [0.1, 2.0]});
    y = solarize(y, subSeed(seed, 'solarize'), {p: solarizeP, threshold: 0.5});
    return tf.clipByValue(y, 0, 1) as Tensor4D;
  });
}

/**
 * The two augmented views of BYOL's contrastive pipeline (paper Appendix 11), each: random-resized crop
 * (area [areaLowerBound, 1], aspect [3/4, 4/3], bilinear), flip p = 0.5, colour jitter p = 0.8
 * (0.4/0.4/0.2/0.1, random order), grayscale p = 0.2, Gaussian blur (σ ∈ [0.1, 2]) and solarize
 * (threshold 0.5), clipped to [0, 1]. View 1: blur p = 1.0, solarize p = 0; view 2: blur p = 0.1,
 * solarize p = 0.2. Input: float images [N, H, W, C] in [0, 1]; normalise the views afterwards.
 */
export function byolViews(x: Tensor4D, seed: Seed, opts: ByolViewsOptions = {}): [Tensor4D, Tensor4D] {
  const {areaLowerBound = 0.08, size} = opts;
  checkImages(x, 'byolViews', [1, 3]);
  if (!(areaLowerBound > 0 && areaLowerBound <= 1)) {
    throw new ValueError(`byolViews: areaLowerBound must be in (0, 1]. Received: ${areaLowerBound}.`);
  }
  return [
    byolView(x, subSeed(seed, 'view1'), size, areaLowerBound, 1.0, 0),
    byolView(x, subSeed(seed, 'view2'), size, areaLowerBound, 0.1, 0.2),
  ];
}
