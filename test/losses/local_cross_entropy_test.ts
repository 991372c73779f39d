/**
 * The fused local cross-entropy against the naive stop-gradient formulation of the paper
 * (Algorithm 1 "naive": one loss per (example, patch, group), x_p/P + sg(mean − x_p/P), other groups
 * under sg): values, per-(example, patch, group) directional derivatives, and gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {logitShareTangents} from '../../src/layers/local_ops';
import {localLossTangents, localLossTangentsFromShares} from '../../src/losses/local_cross_entropy';
import {annotationOf, runLocalStep} from '../../src/step/local_step';
import {describeBackends, expectClose, randn, tolScale} from '../util';

/** The naive replicated loss [N, P, G] of features x [N, P, D], head (w [D, C], b [C]), targets y. */
function naiveLosses(x: Tensor, w: Tensor, b: Tensor, y: Tensor, groups: number): Tensor {
  return tf.tidy(() => {
    const [n, p, d] = x.shape;
    const mean = tf.mean(x, 1, true);  // [N, 1, D]
    // own patch live with weight 1/P, the rest of the mean under sg: value = mean
    const own = tf.add(tf.div(x, p), fg.stopGradient(tf.sub(mean, tf.div(x, p))));  // [N, P, D]
    const groupOf = tf.floorDiv(tf.range(0, d, 1, 'int32'), d / groups);
    const mask = tf.cast(tf.equal(tf.reshape(tf.range(0, groups, 1, 'int32'), [groups, 1]), tf.reshape(groupOf, [1, d])), 'float32');  // [G, D]
    const feat = tf.add(tf.mul(tf.reshape(own, [n, p, 1, d]), mask),
                        tf.mul(fg.stopGradient(tf.reshape(mean, [n, 1, 1, d])), tf.sub(1, mask)));  // [N, P, G, D]
    const logits = tf.add(tf.reshape(tf.matMul(tf.reshape(feat, [-1, d]), w), [n, p, groups, -1]), b);
    const logZ = tf.logSumExp(logits, -1);
    const yb = tf.reshape(y, [n, 1, 1, -1]);
    return tf.neg(tf.sub(tf.sum(tf.mul(yb, logits), -1), logZ));
  });
}

describeBackends('local cross-entropy (fused) = naive stop-gradient formulation', () => {
  const N = 3, P = 4, D = 8, C = 5, G = 2;
  let x: Tensor, w: Tensor, b: Tensor, y: Tensor, xt: Tensor;
  beforeAll(() => {
    x = randn([N, P, D]);
    w = randn([D, C], 0.5);
    b = randn([C], 0.1);
    y = tf.oneHot(tf.tensor1d([1, 4, 0], 'int32'), C);
    xt = randn([N, P, D]);
  });
  afterAll(() => tf.dispose([x, w, b, y, xt]));

  it('values: every (patch, group) copy equals the per-example cross-entropy', () => {
    tf.tidy(() => {
      const naive = naiveLosses(x, w, b, y, G);
      const fused = fg.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(tf.mean(x, 1), w), b));
      expectClose(naive, tf.tile(tf.reshape(fused, [N, 1, 1]), [1, P, G]), 1e-5 * tolScale(), 1e-5 * tolScale());
    });
  });

  it('per-(example, patch, group) JVP: the closed form equals the JVP of the naive losses', () => {
    tf.tidy(() => {
      const {tangent} = fg.jvp(xx => naiveLosses(xx, w, b, y, G), [x], [xt]);
      const logits = tf.add(tf.matMul(tf.mean(x, 1), w), b);
      const error = tf.sub(tf.softmax(logits), y);
      const closed = localLossTangents(xt, w, error, G);
      expect(closed.shape).toEqual([N, P, G]);
      expectClose(closed, tangent as Tensor, 1e-4 * tolScale(), 1e-6 * tolScale());
    });
  });

  it('per-(example, patch, group) JVP with K directions at once', () => {
    tf.tidy(() => {
      const xts = randn([3, N, P, D]);
      const {tangent} = fg.jvp(xx => naiveLosses(xx, w, b, y, G), [x], [xts]);
      const error = tf.sub(tf.softmax(tf.add(tf.matMul(tf.mean(x, 1), w), b)), y);
      expectClose(localLossTangents(xts, w, error, G), tangent as Tensor, 1e-4 * tolScale(), 1e-6 * tolScale());
    });
  });

  it('per-(example, patch, group) JVP from the head\'s share tangents (the form a head keeps when G·C < D) equals the naive losses\' JVP', () => {
    tf.tidy(() => {
      for (const xtK of [xt, randn([3, N, P, D])]) {
        const {tangent} = fg.jvp(xx => naiveLosses(xx, w, b, y, G), [x], [xtK]);
        const error = tf.sub(tf.softmax(tf.add(tf.matMul(tf.mean(x, 1), w), b)), y);
        const shares = logitShareTangents(xtK, w, G);
        expect(shares.shape).toEqual([...xtK.shape.slice(0, -1), G, C]);
        // summed over the patches and groups, the shares are the logits' tangent mean(ẋ)·W
        expectClose(tf.sum(shares, [-3, -2]), tf.reshape(tf.matMul(tf.reshape(tf.mean(xtK, -2), [-1, D]), w), [...xtK.shape.slice(0, -3), N, C]),
                    1e-4 * tolScale(), 1e-6 * tolScale(), 'shares sum to the logits tangent');
        expectClose(localLossTangentsFromShares(shares, error), tangent as Tensor, 1e-4 * tolScale(), 1e-6 * tolScale(), 'local tangents');
      }
    });
  });

  it('gradients: the features get the naive losses\' summed gradient, the head that divided by P·G', () => {
    tf.tidy(() => {
      // as the paper's fused VJP: dx[n,p,g] = W_g·(softmax − y)_n / P (the sum of the replicated
      // copies), and the head's gradient divided by P·G (its copies are one loss)
      const naive = tf.grads((xx: Tensor, ww: Tensor, bb: Tensor) => tf.sum(naiveLosses(xx, ww, bb, y, G)))([x, w, b]);
      const fused = tf.grads((xx: Tensor, ww: Tensor, bb: Tensor) =>
          tf.sum(fg.losses.localCrossEntropy()(y, tf.add(tf.matMul(tf.mean(xx, 1), ww), bb))))([x, w, b]);
      expectClose(fused[0], naive[0], 1e-4 * tolScale(), 1e-6 * tolScale(), 'features');
      expectClose(fused[1], tf.div(naive[1], P * G), 1e-4 * tolScale(), 1e-6 * tolScale(), 'kernel');
      expectClose(fused[2], tf.div(naive[2], P * G), 1e-4 * tolScale(), 1e-6 * tolScale(), 'bias');
    });
  });

  it('through LocalLossHead in a training step: the loss records the closed-form tangents', () => {
    const head = fg.layers.localLossHead({classes: C, groups: G, seed: 3});
    head.apply(tfl.input({shape: [P, D]}));
    tf.tidy(() => {
      const kernel = head.getWeights()[0];
      const bias = head.getWeights()[1];
      const recorded = fg.withTangents(() => runLocalStep(null, () => {
        fg.seedTangent(x, xt);
        const logits = head.apply(x) as Tensor;
        const loss = fg.losses.localCrossEntropy()(y, logits);
        return (annotationOf(loss)!.localTangents as Tensor).clone();
      }));
      // the head normalizes per (patch, group) first: the naive losses on the normalized features
      const {tangent} = fg.jvp(xx => naiveLosses(fg.layers.normalize(xx, {groups: G}), kernel, bias, y, G), [x], [xt]);
      expectClose(recorded, tangent as Tensor, 1e-4 * tolScale(), 1e-6 * tolScale());
    });
    head.dispose();
  });

  it('is the plain softmax cross-entropy outside a training step, and checks shapes', () => {
    tf.tidy(() => {
      const logits = randn([N, C]);
      expectClose(fg.losses.localCrossEntropy()(y, logits),
                  tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)), -1)), 1e-5, 1e-6);
      expect(() => fg.losses.localCrossEntropy()(y, randn([N, C + 1]))).toThrowError(/targets of the same shape/);
    });
  });
});
