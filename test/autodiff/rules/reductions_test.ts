import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {jvp} from '../../../src/autodiff';
import {checkJvp, describeBackends, expectClose, maxAbs, randAwayFromZero, randn, randu} from '../../util';

type Axis = number|number[]|undefined;
type Reducer = (x: Tensor, axis: Axis, keepDims: boolean) => Tensor;

const AXES: Axis[] = [undefined, 0, 1, 2, -1, -2, [0, 2], [2, 0, 1], []];

/** Distinct entries 0.25 apart (a fixed shuffle), so max / min never switch under small steps. */
function separated(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({length: n}, (_, i) => ((i * 7) % n) * 0.25 - n / 8);
  return tf.tensor(vals, shape);
}

describeBackends('JVP rules: reductions', () => {
  const reducers: Array<[string, Reducer]> = [
    ['Sum', (x, a, k) => tf.sum(x, a, k)],
    ['Mean', (x, a, k) => tf.mean(x, a, k)],
    // Well-separated entries: no ties, and finite differences do not move the max / min.
    ['Max', (x, a, k) => tf.max(x, a, k)],
    ['Min', (x, a, k) => tf.min(x, a, k)],
  ];
  for (const [name, reduce] of reducers) {
    for (const keepDims of [false, true]) {
      it(`${name} over each axis, keepDims=${keepDims}`, () => {
        const x = separated([2, 3, 4]);
        for (const axis of AXES) {
          checkJvp(a => reduce(a, axis, keepDims), [x]);
        }
        tf.dispose(x);
      });
    }
  }

  it('Sum and Mean of a vector and of a scalar', () => {
    const v = randn([5]), s = randn([]);
    checkJvp(a => tf.sum(a), [v]);
    checkJvp(a => tf.mean(a, 0, true), [v]);
    checkJvp(a => tf.sum(a), [s]);
    tf.dispose([v, s]);
  });

  for (const name of ['Max', 'Min'] as const) {
    it(`${name} with ties follows tfjs's gradient (every tied entry, undivided)`, () => {
      const x = tf.tensor2d([[1, 3, 3, 0], [2, 2, -1, 2]]);
      const op = name === 'Max' ? tf.max : tf.min;
      // Finite differences are meaningless at a tie; the adjoint check pins the convention.
      checkJvp(a => op(a, 1), [x], {skipFd: true});
      checkJvp(a => op(a), [x], {skipFd: true});
      tf.tidy(() => {
        const t = tf.tensor2d([[1, 10, 100, 1000], [1, 10, 100, 1000]]);
        const r = jvp(a => op(a, 1), [x], [t]);
        expectClose(r.tangent, name === 'Max' ? tf.tensor1d([110, 1011]) : tf.tensor1d([1000, 100]), 0, 0);
      });
      tf.dispose(x);
    });
  }

  // tfjs's Prod gradient calls the chained `permutedX.reshape`, absent without the chained-op
  // registrations: no adjoint oracle. An independent oracle: exp(Σ log x) for positive x.
  const prodOpts = {skipAdjoint: true};
  it('Prod agrees with the JVP of exp(Σ log x)', () => {
    const x = randu([3, 4], 0.5, 1.5), v = randn([2, 3, 4]);
    tf.tidy(() => {
      for (const axis of [1, [0, 1]]) {
        const a = jvp(p => tf.prod(p, axis), [x], [v]).tangent;
        const b = jvp(p => tf.exp(tf.sum(tf.log(p), axis)), [x], [v]).tangent;
        expectClose(a, b, 1e-5, 1e-6);
      }
    });
    tf.dispose([x, v]);
  });

  for (const keepDims of [false, true]) {
    it(`Prod over each axis, keepDims=${keepDims}`, () => {
      const x = randu([2, 3, 4], 0.5, 1.5);
      for (const axis of AXES) {
        checkJvp(a => tf.prod(a, axis, keepDims), [x], prodOpts);
      }
      tf.dispose(x);
    });
  }

  it('Prod with zero entries (one and two zeros on an axis)', () => {
    const x = tf.tensor2d([[0, 2, 3], [0, 0, 4], [1, 2, 3]]);
    checkJvp(a => tf.prod(a, 1), [x], prodOpts);
    checkJvp(a => tf.prod(a, 0), [x], prodOpts);
    // Several zeros make the central difference O(ε²) off: use a smaller step.
    checkJvp(a => tf.prod(a), [x], {...prodOpts, fdEps: 1e-3});
    tf.dispose(x);
  });

  for (const [exclusive, reverse] of [[false, false], [true, false], [false, true], [true, true]]) {
    it(`Cumprod exclusive=${exclusive} reverse=${reverse}`, () => {
      const x = randu([3, 5], 0.5, 1.5), z = tf.tensor1d([2, 0, 3, 0, -1]);
      // tfjs registers no gradient for Cumprod: no adjoint oracle.
      const o = {skipAdjoint: true};
      checkJvp(a => tf.cumprod(a, 1, exclusive, reverse), [x], o);
      checkJvp(a => tf.cumprod(a, 0, exclusive, reverse), [x], o);
      checkJvp(a => tf.cumprod(a, 0, exclusive, reverse), [z], o);
      tf.dispose([x, z]);
    });
  }

  it('All / Any are boolean: no tangent, no error', () => {
    const x = randn([3, 4]);
    tf.tidy(() => {
      const v = randn([3, 4]);
      const r = jvp(a => tf.all(tf.greater(a, 0), 1), [x], [v]);
      expect(r.value.dtype).toBe('bool');
      expect(maxAbs(r.tangent)).toBe(0);
      const s = jvp(a => tf.any(tf.greater(a, 0)), [x], [v]);
      expect(maxAbs(s.tangent)).toBe(0);
    });
    tf.dispose(x);
  });

  it('Sum of an int tensor gives no tangent', () => {
    const x = randn([4]);
    tf.tidy(() => {
      const r = jvp(a => tf.add(tf.cast(tf.sum(tf.cast(a, 'int32')), 'float32'), tf.sum(a)), [x], [tf.ones([4])]);
      expectClose(r.tangent, tf.scalar(4), 0, 0);
    });
    tf.dispose(x);
  });

  // Composites built from reductions (and elementwise kernels).
  it('tf.logSumExp over axes, keepDims', () => {
    const x = randn([3, 4]);
    checkJvp(a => tf.logSumExp(a), [x]);
    checkJvp(a => tf.logSumExp(a, 1), [x]);
    checkJvp(a => tf.logSumExp(a, 0, true), [x]);
    checkJvp(a => tf.logSumExp(a, -1, true), [x]);
    tf.dispose(x);
  });

  it('tf.moments (mean and variance)', () => {
    const x = randn([3, 4, 2]);
    checkJvp(a => { const {mean, variance} = tf.moments(a); return [mean, variance]; }, [x]);
    checkJvp(a => { const {mean, variance} = tf.moments(a, [0, 1], true); return [mean, variance]; }, [x]);
    checkJvp(a => { const {mean, variance} = tf.moments(a, -1); return [mean, variance]; }, [x]);
    tf.dispose(x);
  });

  it('tf.norm (euclidean, and 1-norm / max-norm)', () => {
    const x = randAwayFromZero([3, 4]);
    checkJvp(a => tf.norm(a), [x]);
    checkJvp(a => tf.norm(a, 'euclidean', 1), [x]);
    checkJvp(a => tf.norm(a, 'euclidean', 0, true), [x]);
    checkJvp(a => tf.norm(a, 1, 1), [x]);
    // max-norm: a near-tie in a row's max |x| within ε·v is a kink, which checkJvp checks one-sided.
    checkJvp(a => tf.norm(a, Infinity, 1), [x]);
    tf.dispose(x);
  });

  it('tf.losses with each reduction', () => {
    const labels = randn([4, 3]), preds = randn([4, 3]);
    const w = tf.tensor2d([[1], [0], [2], [0.5]]);
    const R = tf.Reduction;
    for (const reduction of [R.NONE, R.SUM, R.MEAN, R.SUM_BY_NONZERO_WEIGHTS]) {
      checkJvp((l, p) => tf.losses.meanSquaredError(l, p, w, reduction), [labels, preds]);
      checkJvp((l, p) => tf.losses.huberLoss(l, p, undefined, 0.5, reduction), [labels, preds]);
      checkJvp(p => tf.losses.computeWeightedLoss(tf.square(p), w, reduction), [preds]);
    }
    tf.dispose([labels, preds, w]);
  });

  it('tf.losses with softmax / sigmoid cross-entropy and cosine distance', () => {
    const logits = randn([4, 3]);
    const onehot = tf.oneHot(tf.tensor1d([0, 2, 1, 2], 'int32'), 3) as Tensor;
    const probs = randu([4, 3], 0, 1);
    const unit = tf.tidy(() => { const p = randn([4, 3]); return tf.div(p, tf.norm(p, 'euclidean', 1, true)); });
    checkJvp(z => tf.losses.softmaxCrossEntropy(onehot, z), [logits]);
    checkJvp(z => tf.losses.softmaxCrossEntropy(onehot, z, undefined, 0.1), [logits]);
    checkJvp(z => tf.losses.sigmoidCrossEntropy(probs, z), [logits]);
    checkJvp(z => tf.losses.cosineDistance(unit, z, 1), [logits]);
    tf.dispose([logits, onehot, probs, unit]);
  });
});
