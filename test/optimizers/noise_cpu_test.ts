/**
 * The JavaScript noise generator (ziggurat on xoshiro128**) as a distribution, beyond the moment
 * checks every backend gets in noise_test.ts: a Kolmogorov–Smirnov test against the N(0, 1) CDF,
 * the mass beyond the ziggurat's base layer (its tail path), the mass in every layer's strip (its
 * wedge path), independence of the sign from the magnitude, rademacher balance, and the stream as a
 * function of the seed only. Fixed seeds: deterministic.
 */
import {fillNoise} from '../../src/optimizers/noise_cpu';

/** The standard normal CDF (Abramowitz & Stegun 7.1.26 erf: |error| < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2, t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function draws(n: number, kind: 'gaussian'|'rademacher', seed: number): Float32Array {
  const out = new Float32Array(n);
  fillNoise(out, kind, seed);
  return out;
}

describe('noise generated in JavaScript (noise_cpu)', () => {
  const N = 1 << 20;

  it('gaussian: Kolmogorov–Smirnov distance to N(0, 1) below the 0.1 % critical value', () => {
    const x = draws(N, 'gaussian', 20261206).sort();
    let d = 0;
    for (let i = 0; i < N; i++) {
      const f = normalCdf(x[i]);
      d = Math.max(d, Math.abs(f - i / N), Math.abs((i + 1) / N - f));
    }
    // P(D > 1.95 / √N) ≈ 0.001 for a sample of the distribution.
    expect(d).toBeLessThan(1.95 / Math.sqrt(N));
  });

  it('gaussian: the tail beyond the base layer (3.4426) and the central strips have their mass', () => {
    const x = draws(N, 'gaussian', 7);
    const edges = [0, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 3.4426, Infinity];
    const counts = new Array(edges.length - 1).fill(0);
    let positive = 0, positiveBig = 0, big = 0;
    for (const v of x) {
      const a = Math.abs(v);
      let k = 0;
      while (a >= edges[k + 1]) k++;
      counts[k]++;
      positive += v > 0 ? 1 : 0;
      if (a > 1) {
        big++;
        positiveBig += v > 0 ? 1 : 0;
      }
    }
    for (let k = 0; k < counts.length; k++) {
      const p = 2 * (normalCdf(edges[k + 1]) - normalCdf(edges[k]));
      // within 5 standard errors of a binomial count
      expect(Math.abs(counts[k] - N * p)).toBeLessThan(5 * Math.sqrt(N * p * (1 - p)) + 1);
    }
    // the sign is independent of the magnitude
    expect(Math.abs(positive / N - 0.5)).toBeLessThan(5 * 0.5 / Math.sqrt(N));
    expect(Math.abs(positiveBig / big - 0.5)).toBeLessThan(5 * 0.5 / Math.sqrt(big));
  });

  it('rademacher: ±1 only, balanced, uncorrelated neighbours (bits of one draw)', () => {
    const x = draws(N, 'rademacher', 99);
    let sum = 0, lag = 0, lag32 = 0;
    for (let i = 0; i < N; i++) {
      expect(x[i] === 1 || x[i] === -1).toBe(true);
      sum += x[i];
      lag += i > 0 ? x[i] * x[i - 1] : 0;
      lag32 += i >= 32 ? x[i] * x[i - 32] : 0;
    }
    const tol = 5 / Math.sqrt(N);
    expect(Math.abs(sum / N)).toBeLessThan(tol);
    expect(Math.abs(lag / N)).toBeLessThan(tol);
    expect(Math.abs(lag32 / N)).toBeLessThan(tol);
  });

  it('is a function of the seed only: same seed, same values; any other seed, another stream', () => {
    for (const kind of ['gaussian', 'rademacher'] as const) {
      const a = draws(4096, kind, 1), b = draws(4096, kind, 1), c = draws(4096, kind, 2);
      expect(Array.from(a)).toEqual(Array.from(b));
      let same = 0;
      for (let i = 0; i < a.length; i++) same += a[i] === c[i] ? 1 : 0;
      expect(same).toBeLessThan(kind === 'gaussian' ? 5 : 2400);
      // a prefix is the start of the longer stream (the fill does not depend on the length)
      expect(Array.from(draws(100, kind, 1))).toEqual(Array.from(a.subarray(0, 100)));
    }
  });
});
