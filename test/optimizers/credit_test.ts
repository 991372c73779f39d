/**
 * The credit maths of activity perturbation on plain tensors (no model, no tracer), against
 * explicit loops over directions, examples, patches and groups.
 */
import * as tf from '@tensorflow/tfjs-core';

import {biasGradient, declaredSiteEstimate, LossRecord, outputDerivatives, perRowEstimate, weightCreditTerm} from '../../src/optimizers/credit';
import {describeBackends, expectClose} from '../util';

describeBackends('activity credit maths', () => {
  it('perRowEstimate is mean_k d[k,n]·u[k,n,...] and keeps no tensor', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const dv = [[1, -2], [0.5, 3]];  // K=2, N=2
      const u = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [2, 2, 2, 2]);
      const want = new Array(8).fill(0).map((_, i) => {
        const n = Math.floor(i / 4);
        return (dv[0][n] * (1 + i) + dv[1][n] * (9 + i)) / 2;
      });
      expectClose(perRowEstimate(tf.tensor2d(dv), u, [2, 2, 2]), tf.tensor3d(want, [2, 2, 2]), 1e-6, 1e-6);
      // one direction: the product itself
      const one = perRowEstimate(tf.tensor2d([[2, 3]]), tf.ones([1, 2, 2]), [2, 2]);
      expectClose(one, tf.tensor2d([2, 2, 3, 3], [2, 2]));
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('outputDerivatives normalizes like the batch mean (or sum) and zeroes non-finite values', () => {
    tf.tidy(() => {
      const record: LossRecord = {
        perExample: tf.tensor1d([0, 0, 0, 0]), tangent: tf.tensor2d([[1, 2, NaN, 4], [4, 4, 4, 4]]),
        localTangents: null, sampleWeights: tf.tensor1d([1, 0.5, 1, 2]),
      };
      const [mean] = outputDerivatives([record], [2], false, ['out']);
      expectClose(mean!.perExample, tf.tensor2d([[0.25, 0.25, 0, 2], [1, 0.5, 1, 2]]));
      const [sum] = outputDerivatives([record], [2], true, ['out']);
      expectClose(sum!.perExample, tf.tensor2d([[1, 1, 0, 8], [4, 2, 4, 8]]));
      expect(outputDerivatives([null], [], false, ['out'])).toEqual([null]);
    });
  });

  it('declaredSiteEstimate credits channel units by their (example, patch, group) derivative', () => {
    tf.tidy(() => {
      // K=1, N=1, P=2, G=2, C=4 (two channels per group): unit (p, c) gets s[p, c div 2]
      const local = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);
      const d = {perExample: tf.tensor2d([[10]]), local};
      const u = tf.ones([1, 1, 2, 4]);
      const got = declaredSiteEstimate(d, u, [1, 2, 4], 'channels', 'block', true);
      expectClose(got, tf.tensor3d([1, 1, 2, 2, 3, 3, 4, 4], [1, 2, 4]));
      // not direct: every unit gets its example's total, Σ_{p,g} s = 10
      const upstream = declaredSiteEstimate(d, u, [1, 2, 4], 'channels', 'block', false);
      expectClose(upstream, tf.fill([1, 2, 4], 10));
      // tokens layout [N, C, P]: unit (c, p) gets Σ_g s[p, g]
      const tokens = declaredSiteEstimate(d, tf.ones([1, 1, 3, 2]), [1, 3, 2], 'tokens', 'block', true);
      expectClose(tokens, tf.tensor3d([3, 7, 3, 7, 3, 7], [1, 3, 2]));
      expect(() => declaredSiteEstimate(d, tf.ones([1, 1, 3, 4]), [1, 3, 4], 'channels', 'block', true))
          .toThrowError(/layer 'block' has 2 patches and 2 groups/);
    });
  });

  it('weightCreditTerm lays the per-group credit out by columns or groups', () => {
    tf.tidy(() => {
      const local = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);  // per group: [4, 6]
      const d = {perExample: tf.tensor2d([[10]]), local};
      const w = tf.variable(tf.zeros([3, 4]), true, 'credit_test/w');
      expectClose(weightCreditTerm(d, w, 'columns', true), tf.tensor3d([4, 4, 6, 6], [1, 1, 4]));
      expectClose(weightCreditTerm(d, w, 'shared', true), tf.tensor3d([10], [1, 1, 1]));
      expectClose(weightCreditTerm(d, w, 'columns', false), tf.tensor3d([10], [1, 1, 1]));
      const grouped = tf.variable(tf.zeros([2, 3]), true, 'credit_test/g');
      expectClose(weightCreditTerm(d, grouped, 'groups', true), tf.tensor3d([4, 6], [1, 2, 1]));
      expect(() => weightCreditTerm(d, w, 'groups', true)).toThrowError(/has not 2 groups/);
      w.dispose();
      grouped.dispose();
    });
  });

  it('biasGradient sums the activity gradient over every axis but the channels', () => {
    tf.tidy(() => {
      expectClose(biasGradient(tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 3, 2]), [2]), tf.tensor1d([9, 12]));
    });
  });
});
