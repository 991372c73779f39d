/**
 * Perturbation noise generated in JavaScript, for the backends that compute on the CPU (cpu, wasm,
 * tfjs-node). tfjs's own `randomNormal` draws one value per call (alea, then Marsaglia's polar
 * method) at about 37 ns a value: on wasm that was a fifth of a LocalMixer M/1/16 LG-FG-A step.
 * Here a ziggurat sampler (Marsaglia & Tsang 2000, 128 layers) runs on xoshiro128** (Blackman &
 * Vigna 2018) in one tight loop: about 2.5 ns a value. The layer index and the value come from
 * disjoint bits of one 32-bit draw (the low 7 bits and the high 25), so they are independent — the
 * flaw Doornik (2005) found in the original, which took both from the same bits, is avoided.
 * The stream is a function of the 32-bit seed only (the same numbers on every CPU backend).
 */
import {Tensor} from '@tensorflow/tfjs-core';

import {float32TensorFilledBy} from '../backends/filled_tensor';
import type {NoiseKind} from './noise';

/** The ziggurat's layers: acceptance thresholds (×2³¹), widths (per unit of a 32-bit draw), densities. */
const LAYERS = 128;
const R = 3.442619855899;  // the base layer's right edge
const KN = new Float64Array(LAYERS), WN = new Float64Array(LAYERS), FN = new Float64Array(LAYERS);
(function layerTables() {
  const m1 = 2 ** 31, area = 9.91256303526217e-3;  // area of each layer
  let dn = R, tn = R;
  const q = area / Math.exp(-0.5 * dn * dn);
  KN[0] = Math.floor((dn / q) * m1);
  KN[1] = 0;
  WN[0] = q / m1;
  WN[LAYERS - 1] = dn / m1;
  FN[0] = 1;
  FN[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(area / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / m1;
  }
})();

/** The PCG hash (the GPU noise kernel's, noise_gpu.ts), as an unsigned 32-bit integer. */
function pcgHash(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** xoshiro128**'s 128-bit state from a 32-bit seed (never all zeros). */
function seedState(seed: number): Int32Array {
  const key = pcgHash(seed >>> 0);
  const s = new Int32Array(4);
  for (let k = 0; k < 4; k++) {
    s[k] = pcgHash(key ^ pcgHash(k + 1));
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) {
    s[0] = 1;
  }
  return s;
}

/** One xoshiro128** draw (a signed 32-bit integer); advances `s`. For the rare slow paths. */
function next(s: Int32Array): number {
  const m = Math.imul(s[1], 5);
  const r = Math.imul((m << 7) | (m >>> 25), 9);
  const t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = (s[3] << 11) | (s[3] >>> 21);
  return r;
}

/** A uniform draw in (0, 1), never 0 (its logarithm is taken). */
function uniform(s: Int32Array): number {
  return ((next(s) >>> 8) + 0.5) / 16777216;
}

/**
 * The ziggurat's slow path, for a draw `hz` (high 25 bits) in layer `iz` that fell outside the
 * layer's rectangle: the wedge test, the tail beyond R for the base layer, else a fresh draw.
 */
function rejected(s: Int32Array, hz: number, iz: number): number {
  for (;;) {
    if (iz === 0) {
      // Marsaglia's tail method: x > R with density ∝ exp(−x²/2)
      let x: number, y: number;
      do {
        x = -Math.log(uniform(s)) / R;
        y = -Math.log(uniform(s));
      } while (y + y < x * x);
      return hz > 0 ? R + x : -R - x;
    }
    const x = hz * WN[iz];
    if (FN[iz] + uniform(s) * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) {
      return x;
    }
    const r = next(s);
    iz = r & (LAYERS - 1);
    hz = r & ~(LAYERS - 1);
    if (Math.abs(hz) < KN[iz]) {
      return hz * WN[iz];
    }
  }
}

/** Fills `out` with N(0, 1) draws from state `s` (advanced). */
function fillGaussian(out: Float32Array, s: Int32Array): void {
  // The state in locals: the hot loop is one xoshiro128** step, a compare and a product.
  let s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
  for (let i = 0; i < out.length; i++) {
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const iz = r & (LAYERS - 1);
    const hz = r & ~(LAYERS - 1);
    if (Math.abs(hz) < KN[iz]) {
      out[i] = hz * WN[iz];
    } else {
      s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
      out[i] = rejected(s, hz, iz);
      s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    }
  }
  s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

/** Fills `out` with ±1 draws (one bit each) from state `s` (advanced). */
function fillRademacher(out: Float32Array, s: Int32Array): void {
  for (let i = 0; i < out.length; i += 32) {
    const r = next(s);
    const end = Math.min(32, out.length - i);
    for (let j = 0; j < end; j++) {
      out[i + j] = ((r >>> j) & 1) === 1 ? 1 : -1;
    }
  }
}

/** Fills `out` with i.i.d. noise values (see `NoiseKind`) from a 32-bit seed. */
export function fillNoise(out: Float32Array, kind: NoiseKind, seed: number): void {
  const state = seedState(seed);
  if (kind === 'gaussian') {
    fillGaussian(out, state);
  } else {
    fillRademacher(out, state);
  }
}

/**
 * i.i.d. noise of `shape` from a 32-bit seed, drawn in JavaScript. On wasm the values are written
 * straight into the tensor's heap memory: a fresh JavaScript array of that size would cost more in
 * page faults than the drawing itself.
 */
export function cpuNoise(shape: number[], kind: NoiseKind, seed: number): Tensor {
  return float32TensorFilledBy(shape, out => fillNoise(out, kind, seed));
}
