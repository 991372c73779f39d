/**
 * Perturbation noise: zero mean, unit variance, uncorrelated, reproducible from the seed, different
 * across seeds — on every backend (the JavaScript ziggurat on cpu / wasm, the GPU kernel on webgl /
 * webgpu; noise_cpu_test.ts tests the former's distribution further).
 */
import * as tf from '@tensorflow/tfjs-core';

import {noiseSeed, sampleNoise} from '../../src/optimizers/noise';
import {gpuNoiseAvailable} from '../../src/optimizers/noise_gpu';
import {describeBackends, values} from '../util';

const N = 1 << 18;
/** 4 standard errors of a mean of N unit-variance draws (the checks' tolerance). */
const TOL = 4 / Math.sqrt(N);

describeBackends('perturbation noise', backend => {
  for (const kind of ['gaussian', 'rademacher'] as const) {
    it(`${kind}: moments, correlations, reproducibility`, () => {
      const before = tf.memory().numTensors;
      const shape = [64, 64, 64];  // a rank-3 shape: the GPU kernels index the flattened output
      const a = sampleNoise(shape, kind, 1234), again = sampleNoise(shape, kind, 1234);
      const b = sampleNoise(shape, kind, 1235);
      expect(a.shape).toEqual(shape);
      const x = values(a), y = values(b), z = values(again);
      let mean = 0, sq = 0, lag = 0, cross = 0, quart = 0, same = 0;
      for (let i = 0; i < N; i++) {
        mean += x[i];
        sq += x[i] * x[i];
        quart += x[i] ** 4;
        cross += x[i] * y[i];
        lag += i > 0 ? x[i] * x[i - 1] : 0;
        same += x[i] === z[i] ? 1 : 0;
      }
      expect(Math.abs(mean / N)).toBeLessThan(TOL);
      expect(Math.abs(sq / N - 1)).toBeLessThan(kind === 'gaussian' ? 4 * Math.sqrt(2 / N) : 1e-6);
      // Fourth moment: 3 for a gaussian (not a ±1 or uniform variable), 1 for rademacher.
      expect(Math.abs(quart / N - (kind === 'gaussian' ? 3 : 1))).toBeLessThan(kind === 'gaussian' ? 0.1 : 1e-6);
      expect(Math.abs(lag / N)).toBeLessThan(TOL);
      expect(Math.abs(cross / N)).toBeLessThan(TOL);
      expect(same).toBe(N);
      tf.dispose([a, b, again]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it(`draws on the GPU exactly on the GPU backends (${backend})`, () => {
    expect(gpuNoiseAvailable()).toBe(backend === 'webgpu' || (backend === 'webgl' && tf.env().getNumber('WEBGL_VERSION') === 2));
  });

  it('seeds differ per step and per site', () => {
    const seeds = new Set<number>();
    for (let step = 0; step < 50; step++) {
      for (let site = 0; site < 20; site++) {
        seeds.add(noiseSeed(7, step, site));
      }
    }
    expect(seeds.size).toBe(1000);
  });
});
