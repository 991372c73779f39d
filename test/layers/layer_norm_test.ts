/** Parameter-free LayerNorm (layer and function): statistics, hand values, forward mode, errors. */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {jvp} from '../../src/autodiff';
import {ValueError} from '../../src/errors';
import {LayerNorm, normalize, layerNorm} from '../../src/layers';
import {checkJvp, describeBackends, expectClose, randn, tolScale} from '../util';

/** Layer norm by hand in float64 over the last axis, per group, of a [rows, D] array. */
function layerNormByHand(x: Float32Array, d: number, groups: number, eps: number): Float64Array {
  const out = new Float64Array(x.length), g = d / groups;
  for (let start = 0; start < x.length; start += g) {
    let mean = 0;
    for (let i = 0; i < g; i++) mean += x[start + i] / g;
    let v = 0;
    for (let i = 0; i < g; i++) v += (x[start + i] - mean) ** 2 / g;
    for (let i = 0; i < g; i++) out[start + i] = (x[start + i] - mean) / Math.sqrt(v + eps);
  }
  return out;
}

/** Mean and (biased) variance over the last axis of `t` reshaped to [-1, size]. */
function moments(t: Tensor, size: number): {mean: Tensor, variance: Tensor} {
  return tf.moments(tf.reshape(t, [-1, size]), -1);
}

describeBackends('layers: LayerNorm', () => {
  it('infers symbolic shapes in a functional model', () => {
    const tokens = tfl.input({shape: [16, 64]});
    for (const args of [{}, {groups: 4}, {axis: 1}, {axis: -2, epsilon: 1e-3}]) {
      expect((layerNorm(args).apply(tokens) as tfl.SymbolicTensor).shape).toEqual([null, 16, 64]);
    }
    expect(new LayerNorm().getClassName()).toBe('fg.LayerNorm');
    expect(new LayerNorm().getConfig()).toEqual(jasmine.objectContaining({axis: -1, groups: 1, epsilon: 1e-5}));
  });

  it('matches a hand computation; per group: zero mean, unit variance', () => {
    const x = tf.tidy(() => tf.add(randn([3, 5, 12], 2), randn([3, 5, 12])));
    tf.tidy(() => {
      for (const groups of [1, 3, 4]) {
        const y = layerNorm({groups}).apply(x) as Tensor;
        expect(y.shape).toEqual([3, 5, 12]);
        const expected = layerNormByHand(x.dataSync() as Float32Array, 12, groups, 1e-5);
        expectClose(y, tf.tensor(Array.from(expected), [3, 5, 12]), 1e-5 * tolScale(), 1e-5 * tolScale(), `groups ${groups}`);
        // statistics with epsilon 0: exactly zero mean and unit variance per group, up to rounding
        const {mean, variance} = moments(layerNorm({groups, epsilon: 0}).apply(x) as Tensor, 12 / groups);
        expectClose(mean, tf.zerosLike(mean), 0, 1e-5 * tolScale(), 'group means');
        expectClose(variance, tf.onesLike(variance), 0, 1e-3 * tolScale(), 'group variances');
        // the plain function is the layer
        expectClose(normalize(x, {groups}), y, 0, 0, 'normalize function');
      }
    });
    x.dispose();
  });

  it('normalizes over another axis ([N, D, P] over D) and honours epsilon', () => {
    const x = randn([2, 6, 4], 3);
    tf.tidy(() => {
      const y = layerNorm({axis: 1}).apply(x) as Tensor;
      // per (example, patch): over the 6 channels
      const yt = tf.transpose(y, [0, 2, 1]);
      const expected = layerNormByHand(tf.transpose(x, [0, 2, 1]).dataSync() as Float32Array, 6, 1, 1e-5);
      expectClose(yt, tf.tensor(Array.from(expected), [2, 4, 6]), 1e-5 * tolScale(), 1e-5 * tolScale());
      expectClose(layerNorm({axis: -2}).apply(x) as Tensor, y, 0, 0, 'axis -2 = axis 1');
      // a constant row normalizes to 0; epsilon scales a tiny-variance row
      const c = tf.tensor2d([[5, 5, 5, 5], [0, 0, 0, 2e-3]]);
      const z = normalize(c, {epsilon: 1});
      const e = layerNormByHand(c.dataSync() as Float32Array, 4, 1, 1);
      expectClose(z, tf.tensor(Array.from(e), [2, 4]), 1e-6, 1e-7);
    });
    x.dispose();
  });

  it('centered variance: accurate for a large mean, where mean(x²) − mean(x)² is not', () => {
    const z = randn([4, 64]);
    tf.tidy(() => {
      const x = tf.add(tf.mul(z, 0.1), 100);     // σ = 0.1, μ = 100
      const y = normalize(x, {epsilon: 0});
      const {mean, variance} = moments(y, 64);
      expectClose(mean, tf.zerosLike(mean), 0, 1e-3 * tolScale());
      expectClose(variance, tf.onesLike(variance), 0, 1e-3 * tolScale());
      // only float32 rounding of x (spacing 8e-6 at 100) separates it from the normalized noise
      expectClose(y, normalize(z, {epsilon: 0}), 0, 2e-3 * tolScale());
      // the paper's formula on the same data is off by percents (≥ 1.8 % on cpu over 300 seeds)
      const exact = tf.moments(tf.mul(z, 0.1), -1).variance;
      const paper = tf.sub(tf.mean(tf.square(x), -1), tf.square(tf.mean(x, -1)));
      const relErr = (v: Tensor) => tf.max(tf.abs(tf.div(tf.sub(v, exact), exact))).dataSync()[0];
      expect(relErr(tf.moments(x, -1).variance)).toBeLessThan(1e-3 * tolScale());
      expect(relErr(paper)).toBeGreaterThan(5e-3);
    });
    z.dispose();
  });

  it('forward mode: JVP through the layer (all options, batched tangents)', () => {
    // norms over ≥ 4 values and a small finite-difference step: a norm over 2 values is nearly a
    // sign function, too curved for finite differences (checked over hundreds of seeds)
    const x = randn([2, 6, 12]);
    for (const args of [{}, {groups: 2}, {axis: 1}, {groups: 3, epsilon: 0.1}]) {
      const layer = layerNorm(args);
      checkJvp(a => layer.apply(a) as Tensor, [x], {fdEps: 3e-3});
    }
    // tangent of a normalized output is orthogonal to the constant direction: shift invariance
    tf.tidy(() => {
      const r = jvp(a => normalize(a, {groups: 2}), [x], [tf.onesLike(x)]);
      expectClose(r.tangent, tf.zerosLike(x), 0, 1e-5 * tolScale(), 'shift direction');
    });
    x.dispose();
  });

  it('costs a handful of kernels, value and gradient', async () => {
    const x = randn([4, 16, 32]);
    const info = await tf.profile(() => {
      const g = tf.grad(a => tf.sum(tf.mul(normalize(a, {groups: 4}), a)))(x);
      expect(g.shape).toEqual([4, 16, 32]);
      return g;
    });
    (info.result as Tensor).dispose();
    // 61 on cpu for the whole loss, value and gradient (tfjs-layers'
    // LayerNormalization, which has a gain and a bias: 211 for the same loss)
    expect(info.kernels.length).toBeLessThan(150);
    x.dispose();
  });

  it('bad configurations raise a clear ValueError', () => {
    const tokens = tfl.input({shape: [4, 8]});
    expect(() => layerNorm({groups: 3, name: 'ln_g3'}).apply(tokens))
        .toThrowError(ValueError, /LayerNorm \(layer 'ln_g3'\): groups 3 does not divide the last axis of size 8/);
    expect(() => layerNorm({groups: 2, axis: 1}).apply(tokens))
        .toThrowError(ValueError, /axis must be -1.*Received: axis=1, groups=2/);
    expect(() => layerNorm({axis: 3}).apply(tokens))
        .toThrowError(ValueError, /axis 3 is out of range for an input of rank 3/);
    expect(() => layerNorm({axis: 0}).apply(tokens)).toThrowError(ValueError, /batch axis/);
    expect(() => layerNorm({axis: -3}).apply(tokens)).toThrowError(ValueError, /batch axis/);
    expect(() => layerNorm({groups: 0})).toThrowError(ValueError, /groups must be a positive integer.*groups=0/);
    expect(() => layerNorm({groups: 1.5})).toThrowError(ValueError, /groups=1.5/);
    expect(() => layerNorm({epsilon: -1})).toThrowError(ValueError, /epsilon.*epsilon=-1/);
    expect(() => layerNorm({axis: 0.5})).toThrowError(ValueError, /axis must be an integer.*axis=0.5/);
    const x = tf.ones([2, 6]), i = tf.ones([2, 6], 'int32');
    expect(() => normalize(x, {groups: 4})).toThrowError(ValueError, /normalize: groups 4 does not divide the last axis of size 6/);
    expect(() => normalize(i)).toThrowError(ValueError, /float32.*int32/);
    expect(() => normalize(tf.scalar(1))).toThrowError(ValueError, /rank/);
    expect(() => normalize([1, 2] as unknown as Tensor)).toThrowError(ValueError, /must be a Tensor/);
    tf.dispose([x, i]);
  });
});
