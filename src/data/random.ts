/**
 * Seeded pseudo-random numbers for the data pipeline (shuffling, augmentation). All randomness of
 * `src/data` is drawn on the host from `seedrandom`'s Alea generator (the one tfjs-core itself uses
 * for seeded ops), so a seed gives the same numbers on every backend and every run.
 */
import * as seedrandom from 'seedrandom';

import {ValueError} from '../errors';

/** A seed: any number or string. Equal seeds give equal random streams. */
export type Seed = number|string;

/** A stream of uniform random numbers in [0, 1). */
export type Rng = () => number;

/** A seeded generator of uniform numbers in [0, 1) (Alea, from seedrandom). */
export function makeRng(seed: Seed): Rng {
  if (typeof seed === 'number' ? !Number.isFinite(seed) : typeof seed !== 'string') {
    throw new ValueError(`A seed must be a finite number or a string. Received: ${String(seed)}.`);
  }
  return seedrandom.alea(String(seed));
}

/**
 * A seed derived from `seed` and a tag, so that independent parts of a pipeline (crop, flip, view 1,
 * view 2, ...) draw independent streams from one user seed.
 */
export function subSeed(seed: Seed, tag: string): string {
  return `${String(seed)}/${tag}`;
}

/** `n` uniform numbers in [lo, hi). */
export function uniforms(rng: Rng, n: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = lo + (hi - lo) * rng();
  }
  return out;
}

/** `n` Bernoulli draws: 1 with probability `p`, else 0 (as float32, ready to use as a mask). */
export function bernoullis(rng: Rng, n: number, p: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = rng() < p ? 1 : 0;
  }
  return out;
}

/** A uniform random integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.min(n - 1, Math.floor(rng() * n));
}

/** A random permutation of 0..n−1 (Fisher–Yates). */
export function permutation(rng: Rng, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = i;
  }
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
