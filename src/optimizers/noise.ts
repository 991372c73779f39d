/**
 * Perturbation noise: i.i.d. zero-mean, unit-variance entries (what the forward-gradient estimators'
 * unbiasedness needs), reproducible from a seed, the step and the perturbation site.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {gpuNoise, gpuNoiseAvailable} from './noise_gpu';

/** `gaussian`: N(0, 1) entries; `rademacher`: ±1 with probability ½ each (lower variance). */
export type NoiseKind = 'gaussian'|'rademacher';

/** The noise kinds, for validation. */
export const NOISE_KINDS: readonly NoiseKind[] = ['gaussian', 'rademacher'];

/**
 * A seed for (base seed, step, site): distinct streams for every site of every step, identical
 * across runs (and across a save / resume, since the step is the optimizer's iteration count).
 */
export function noiseSeed(baseSeed: number, step: number, site: number): number {
  // FNV-1a over the three integers: cheap, well mixed, deterministic.
  let h = 0x811c9dc5;
  for (const v of [baseSeed, step, site]) {
    let x = Math.floor(v) >>> 0;
    for (let i = 0; i < 4; i++) {
      h ^= x & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      x >>>= 8;
    }
  }
  return h;
}

/**
 * A noise tensor of `shape`; `seed` null draws from Math.random (not reproducible). Under the webgpu
 * and webgl backends the numbers are generated on the GPU (a different, equally reproducible stream).
 */
export function sampleNoise(shape: number[], kind: NoiseKind, seed: number|null): Tensor {
  if (gpuNoiseAvailable()) {
    return gpuNoise(shape, kind, seed ?? Math.floor(Math.random() * 2 ** 32));
  }
  const s = seed ?? undefined;
  if (kind === 'gaussian') {
    return tf.randomNormal(shape, 0, 1, 'float32', s);
  }
  return tf.tidy(() => tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform(shape, 0, 1, 'float32', s), 0.5), 'float32'), 2), 1));
}
