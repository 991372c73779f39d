/**
 * Perturbation noise: i.i.d. zero-mean, unit-variance entries (what the forward-gradient estimators'
 * unbiasedness needs), reproducible from a seed, the step and the perturbation site.
 */
import {Tensor} from '@tensorflow/tfjs-core';

import {cpuNoise} from './noise_cpu';
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
 * A noise tensor of `shape`; `seed` null draws a seed from Math.random (not reproducible). Under the
 * webgpu and webgl backends the numbers are generated on the GPU (noise_gpu.ts), elsewhere in
 * JavaScript (noise_cpu.ts): two different streams, each reproducible from the seed.
 */
export function sampleNoise(shape: number[], kind: NoiseKind, seed: number|null): Tensor {
  const s = seed ?? Math.floor(Math.random() * 2 ** 32);
  return gpuNoiseAvailable() ? gpuNoise(shape, kind, s) : cpuNoise(shape, kind, s);
}
