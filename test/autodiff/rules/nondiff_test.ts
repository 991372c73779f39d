import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {getJvpRule, jvp} from '../../../src/autodiff';
import {zeroJvp} from '../../../src/autodiff/helpers';
import {checkJvp, describeBackends, expectClose, hasKernel, maxAbs, randAwayFromZero, randn} from '../../util';

/**
 * Expects `f`'s output tangent at `x` to be exactly zero (one direction and a batch of 3), with the
 * primal value equal to `f(x)`.
 */
function expectZeroTangent(f: (x: Tensor) => Tensor, x: Tensor): void {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    for (const batch of [[], [3]]) {
      const v = randn([...batch, ...x.shape]);
      const {value, tangent} = jvp(f, [x], [v]);
      const direct = f(x);
      expect(value.dtype).toBe(direct.dtype);
      expect(value.shape).toEqual(direct.shape);
      expect(tangent.shape).toEqual([...batch, ...direct.shape]);
      expect(tangent.dtype).toBe('float32');
      expect(maxAbs(tangent)).toBe(0);
    }
  });
  expect(tf.memory().numTensors).withContext('tensors leaked').toBe(before);
}

/** Expects the tangent of `x ↦ f(x) + x` to be exactly the input tangent (the zero term adds 0). */
function expectPassThrough(f: (x: Tensor) => Tensor, x: Tensor): void {
  tf.tidy(() => {
    const v = randn(x.shape);
    const {tangent} = jvp(a => tf.add(tf.cast(f(a), 'float32'), a), [x], [v]);
    expectClose(tangent, v, 0, 0);
  });
}

describeBackends('JVP rules: nondiff', () => {
  it('registers zeroJvp for the piecewise-constant and index-valued kernels', () => {
    for (const k of [tf.Floor, tf.Ceil, tf.Round, tf.Sign, tf.Step, tf.FloorDiv, tf.ZerosLike,
                     tf.OnesLike, tf.Equal, tf.Less, tf.LogicalAnd, tf.ArgMax, tf.ArgMin, tf.OneHot,
                     tf.IsNan, tf.Range, tf.LinSpace, tf.SearchSorted, tf.NonMaxSuppressionV3]) {
      expect(getJvpRule(k)).withContext(k).toBe(zeroJvp);
    }
    // Kernels with a non-zero derivative must not be declared constant.
    for (const k of [tf.Unique, tf.NonMaxSuppressionV5]) {
      expect(getJvpRule(k)).withContext(k).not.toBe(zeroJvp);
    }
  });

  for (const [name, f] of [
           ['Floor', tf.floor], ['Ceil', tf.ceil], ['Round', tf.round], ['Sign', tf.sign],
           ['Step', (x: Tensor) => tf.step(x, 0.3)], ['ZerosLike', tf.zerosLike],
           ['OnesLike', tf.onesLike],
         ] as Array<[string, (x: Tensor) => Tensor]>) {
    it(`${name}: zero tangent`, () => {
      // Away from the jumps (integers / half-integers / 0).
      const x = tf.tidy(() => tf.add(tf.round(randn([3, 4], 3)), tf.mul(randAwayFromZero([3, 4], 0.1, 0.3), 1)));
      expectZeroTangent(f, x);
      expectPassThrough(f, x);
      // The adjoint identity holds with tfjs's (zero) gradient, and finite differences agree.
      checkJvp(a => tf.add(f(a), tf.mul(a, 2)), [x], {fdEps: 1e-3});
      tf.dispose(x);
    });
  }

  it('FloorDiv (float): zero tangent in both inputs', () => {
    const a = tf.tidy(() => tf.reshape(tf.add(tf.range(0, 12), 0.5), [3, 4])), b = tf.fill([3, 4], 4);
    tf.tidy(() => {
      const {tangent} = jvp((p, q) => tf.floorDiv(p, q), [a, b], [randn([3, 4]), randn([3, 4])]);
      expect(maxAbs(tangent)).toBe(0);
    });
    // tfjs's FloorDiv gradient is that of real division (a/b), not the true zero derivative: no
    // adjoint oracle; finite differences confirm the zero (not on webgl, whose float FloorDiv jumps
    // between the two finite-difference evaluations of these well-separated quotients).
    checkJvp((p, q) => tf.add(tf.floorDiv(p, q), p), [a, b],
             {fdEps: 1e-3, skipAdjoint: true, skipFd: tf.getBackend() === 'webgl'});
    tf.dispose([a, b]);
  });

  it('comparisons, logic and predicates: boolean outputs, no tangent, no error', () => {
    const x = randn([2, 5]), y = randn([2, 5]);
    const preds: Array<(p: Tensor) => Tensor> = [
      p => tf.equal(p, y), p => tf.notEqual(p, y), p => tf.greater(p, y),
      p => tf.greaterEqual(p, y), p => tf.less(p, y), p => tf.lessEqual(p, y),
      p => tf.logicalAnd(tf.greater(p, 0), tf.less(p, 1)),
      p => tf.logicalOr(tf.greater(p, 0), tf.less(p, -1)),
      p => tf.logicalXor(tf.greater(p, 0), tf.less(p, 1)), p => tf.logicalNot(tf.greater(p, 0)),
      p => tf.isNaN(p), p => tf.isInf(p), p => tf.isFinite(p),
    ];
    for (const f of preds) {
      expectZeroTangent(f, x);
      expectPassThrough(f, x);
    }
    tf.dispose([x, y]);
  });

  it('ArgMax / ArgMin / OneHot / TopK indices: integer outputs, no tangent', () => {
    // Fixed values whose row maxima lead by ≥ 0.6: a finite-difference step never moves the argmax
    // (random draws sometimes did, whichever specs ran before).
    const x = tf.tensor2d([[0.3, -1.2, 2.1, 0.9], [1.5, -0.4, 0.2, -2.0], [-0.7, 1.1, 0.0, 2.6]]);
    expectZeroTangent(a => tf.argMax(a, 1), x);
    expectZeroTangent(a => tf.argMin(a), x);
    expectZeroTangent(a => tf.oneHot(tf.argMax(a, 1), 4), x);
    // A float one-hot masks the input: only the product path carries a tangent.
    checkJvp(a => tf.sum(tf.mul(tf.oneHot(tf.argMax(a, 1), 4), a), 1), [x]);
    tf.dispose(x);
  });

  it('Range / LinSpace / Fill take no tensor input', () => {
    const x = randn([4]);
    checkJvp(a => tf.add(tf.mul(tf.range(0, 4), a), tf.linspace(0, 1, 4)), [x]);
    checkJvp(a => tf.mul(tf.fill([4], 2.5), a), [x]);
    tf.dispose(x);
  });

  it('SearchSorted / LowerBound / UpperBound: integer outputs, no tangent', () => {
    const seq = tf.tensor1d([-1, 0, 0.5, 2]), x = randn([5]);
    expectZeroTangent(a => tf.searchSorted(seq, a), x);
    expectZeroTangent(a => tf.lowerBound(seq, a), x);
    expectZeroTangent(a => tf.upperBound(seq, a), x);
    tf.dispose([seq, x]);
  });

  it('Multinomial: integer output, no tangent', () => {
    const logits = randn([2, 4]);
    expectZeroTangent(a => tf.multinomial(a as tf.Tensor2D, 3, 7), logits);
    tf.dispose(logits);
  });

  it('NonMaxSuppression (V3, V4): integer outputs, no tangent', () => {
    const boxes = tf.tensor2d([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3], [0, 5, 1, 6]]);
    const scores = tf.tensor1d([0.9, 0.8, 0.7, 0.3]);
    expectZeroTangent(s => tf.image.nonMaxSuppression(boxes, s as tf.Tensor1D, 3, 0.5), scores);
    expectZeroTangent(b => tf.image.nonMaxSuppression(b as tf.Tensor2D, scores, 3, 0.5), boxes);
    expectZeroTangent(
        s => tf.image.nonMaxSuppressionPadded(boxes, s as tf.Tensor1D, 3, 0.5, 0, true).selectedIndices,
        scores);
    tf.dispose([boxes, scores]);
  });

  it('Bincount / DenseBincount are linear in the weights', () => {
    const xs = tf.tensor1d([1, 3, 1, 0, 7], 'int32'), x2 = tf.tensor2d([[0, 2, 2], [1, 1, 0]], [2, 3], 'int32');
    const w = randn([5]), w2 = randn([2, 3]);
    // tfjs registers no gradient for Bincount / DenseBincount: no adjoint oracle.
    const o = {skipAdjoint: true};
    if (hasKernel(tf.Bincount)) {
      checkJvp(a => tf.bincount(xs, a as tf.Tensor1D, 5), [w], o);
    }
    if (hasKernel(tf.DenseBincount)) {
      checkJvp(a => tf.denseBincount(xs, a as tf.Tensor1D, 5), [w], o);
      checkJvp(a => tf.denseBincount(x2, a as tf.Tensor2D, 4), [w2], o);
      expectZeroTangent(a => tf.denseBincount(xs, a as tf.Tensor1D, 5, true), w);
    }
    tf.dispose([xs, x2, w, w2]);
  });
});
