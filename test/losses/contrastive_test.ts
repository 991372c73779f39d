/**
 * The contrastive (InfoNCE, stop-gradient on non-anchors) local loss: values, each row's derivative
 * through its own anchor only, and the closed-form per-(row, patch, group) tangents against the
 * naive stop-gradient formulation.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {annotationOf, runLocalStep} from '../../src/step/local_step';
import {describeBackends, expectClose, randn, tolScale, values} from '../util';

const TAU = 0.5;

/** l_r with every embedding but `anchor` (a row of p) held fixed at `fixed`. */
function rowLoss(anchor: Tensor, r: number, fixed: Tensor): Tensor {
  const rows = fixed.shape[0];
  const norm = (t: Tensor) => tf.div(t, tf.norm(t, 'euclidean', -1, true));
  const za = norm(anchor);                       // [1, d]
  const zs = norm(fixed);                        // [rows, d]
  const logits = tf.reshape(tf.div(tf.matMul(za, zs, false, true), TAU), [rows]);
  const mask = tf.oneHot(r, rows);
  const masked = tf.sub(logits, tf.mul(mask, 1e9));
  const partner = (r + rows / 2) % rows;
  // (a one-hot product, not gather: gather's gradient needs UnsortedSegmentSum, which wasm lacks)
  return tf.sub(tf.logSumExp(masked), tf.sum(tf.mul(masked, tf.oneHot(partner, rows))));
}

describeBackends('contrastive local loss', () => {
  const N = 3, ROWS = 6, D = 8, U = 5, P = 4, G = 2;

  it('values: the InfoNCE of each row against every other row, positive = the other view', () => {
    tf.tidy(() => {
      const proj = randn([ROWS, U]);
      const got = fg.losses.infoNce(proj, TAU);
      const want = tf.stack(Array.from({length: ROWS}, (_, r) => rowLoss(tf.slice(proj, r, 1), r, proj)));
      expectClose(got, want, 1e-4 * tolScale(), 1e-5);
      // per example: the mean of its two views' losses
      const yPred = tf.transpose(tf.reshape(proj, [2, N, U]), [1, 0, 2]);
      expectClose(fg.losses.contrastive()(tf.zeros([N, 2, U]), yPred), tf.mean(tf.reshape(want, [2, N]), 0), 1e-4 * tolScale(), 1e-5);
    });
  });

  it('derivative: each row\'s loss reaches only its own anchor (stop-gradient on positive and negatives)', () => {
    tf.tidy(() => {
      const proj = randn([ROWS, U]);
      const g = tf.grad((p: Tensor) => tf.sum(fg.losses.infoNce(p, TAU)))(proj);
      for (let r = 0; r < ROWS; r++) {
        const own = tf.grad((a: Tensor) => rowLoss(a, r, proj))(tf.slice(proj, r, 1));
        expectClose(tf.slice(g, r, 1), own, 1e-4 * tolScale(), 1e-6, `row ${r}`);
      }
    });
  });

  it('per-(row, patch, group) tangents equal the naive stop-gradient formulation', () => {
    const head = fg.layers.contrastiveHead({units: U, groups: G, seed: 2});
    head.apply(tfl.input({batchShape: [ROWS, P, D]}));
    tf.tidy(() => {
      const x = randn([ROWS, P, D]);
      const xt = randn([ROWS, P, D]);
      const [w, b] = head.getWeights();
      const recorded = fg.withTangents(() => runLocalStep(null, () => {
        fg.seedTangent(x, xt);
        const loss = fg.losses.contrastive()(tf.zeros([N, 2, U]), head.apply(x) as Tensor);
        return (annotationOf(loss)!.localTangents as Tensor).clone();
      }));
      expect(recorded.shape).toEqual([ROWS, P, G]);
      // naive: loss (r, p, g) has anchor feature mean with only patch p / group g live; the other
      // rows' full projections fixed (sg)
      const full = tf.add(tf.matMul(tf.mean(x, 1), w), b);
      const naive = (xx: Tensor) => {
        const mean = tf.mean(xx, 1, true);
        const own = tf.add(tf.div(xx, P), fg.stopGradient(tf.sub(mean, tf.div(xx, P))));
        const groupOf = tf.floorDiv(tf.range(0, D, 1, 'int32'), D / G);
        const mask = tf.cast(tf.equal(tf.reshape(tf.range(0, G, 1, 'int32'), [G, 1]), tf.reshape(groupOf, [1, D])), 'float32');
        const feat = tf.add(tf.mul(tf.reshape(own, [ROWS, P, 1, D]), mask),
                            tf.mul(fg.stopGradient(tf.reshape(mean, [ROWS, 1, 1, D])), tf.sub(1, mask)));
        const proj = tf.add(tf.matMul(tf.reshape(feat, [-1, D]), w), b);  // [ROWS·P·G, U]
        const losses: Tensor[] = [];
        for (let i = 0; i < ROWS * P * G; i++) {
          const r = Math.floor(i / (P * G));
          losses.push(rowLoss(tf.slice(proj, i, 1), r, fg.stopGradient(full)));
        }
        return tf.reshape(tf.stack(losses), [ROWS, P, G]);
      };
      const {tangent} = fg.jvp(naive, [x], [xt]);
      // the recorded tangents are of the per-example loss, the mean of the two views: ×2
      expectClose(tf.mul(recorded, 2), tangent as Tensor, 1e-3 * tolScale(), 1e-5 * tolScale());
    });
    head.dispose();
  });

  it('checks its input', () => {
    expect(() => fg.losses.contrastive()(tf.zeros([2, 3]), tf.zeros([2, 3]))).toThrowError(/\[batch, 2 views, units\]/);
    for (const temperature of [0, -1, NaN, Infinity]) {
      expect(() => fg.losses.contrastive({temperature})).withContext(`${temperature}`).toThrowError(/temperature must be a finite number > 0/);
    }
    expect(values(tf.zeros([1])).length).toBe(1);
  });
});
