/** The gradient transforms, one by one and chained in the optimizer's order. */
import * as tf from '@tensorflow/tfjs-core';

import {addWeightDecay, allFinite, chain, isDecayed, scaleByLayer, scaleOf, zerosForMissing, zeroUnless} from '../../src/optimizers/transforms';
import {describeBackends, values} from '../util';

describeBackends('gradient transforms', () => {
  it('scale, then decay (the decay is not scaled), zeros for missing gradients, and nothing leaks', () => {
    const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, 'transforms_test/kernel');
    const b = tf.variable(tf.tensor1d([1, 1]), true, 'transforms_test/bias');
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = chain(zerosForMissing(), scaleByLayer({transforms_test: 0.5}), addWeightDecay(0.1))(
          {[w.name]: tf.ones([2, 2]), unrelated: tf.ones([3])}, [w, b]);
      expect(Object.keys(out).sort()).toEqual([b.name, w.name].sort());
      expect(Array.from(values(out[w.name]))).toEqual([0.5 + 0.1, 0.5 + 0.2, 0.5 + 0.3, 0.5 + 0.4].map(Math.fround));
      expect(Array.from(values(out[b.name]))).toEqual([0, 0]);  // missing, and biases are not decayed
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, b]);
  });

  it('zeroUnless selects zeros (not a product: a NaN gradient becomes 0)', () => {
    const w = tf.variable(tf.zeros([2]), true, 'transforms_test/w');
    tf.tidy(() => {
      const grads = {[w.name]: tf.tensor1d([NaN, 2])};
      expect(Array.from(values(zeroUnless(tf.scalar(false, 'bool'))(grads, [w])[w.name]))).toEqual([0, 0]);
      expect(values(zeroUnless(tf.scalar(true, 'bool'))(grads, [w])[w.name])[1]).toBe(2);
      expect(zeroUnless(null)(grads, [w])[w.name]).toBe(grads[w.name]);
      expect(values(allFinite(tf.scalar(1), [grads[w.name]]))[0]).toBe(0);
      expect(values(allFinite(tf.scalar(1), [tf.ones([2])]))[0]).toBe(1);
    });
    w.dispose();
  });

  it('scaleOf matches a full variable name, one without its _N suffix, or the layer name', () => {
    const scales = {'dense/kernel': 2, 'head': 0.1};
    expect(scaleOf(scales, 'dense/kernel')).toBe(2);
    expect(scaleOf(scales, 'dense/kernel_3')).toBe(2);
    expect(scaleOf(scales, 'dense/bias')).toBe(1);
    expect(scaleOf(scales, 'head/kernel')).toBe(0.1);
  });

  it('isDecayed: weight matrices and filters, not biases of any rank', () => {
    const vs = [tf.variable(tf.zeros([2, 2]), true, 'transforms_test2/kernel'),
                tf.variable(tf.zeros([2, 2]), true, 'transforms_test2/bias'),
                tf.variable(tf.zeros([2, 2]), true, 'transforms_test2/bias_1'),
                tf.variable(tf.zeros([2]), true, 'transforms_test2/gamma')];
    expect(vs.map(isDecayed)).toEqual([true, false, false, false]);
    tf.dispose(vs);
  });
});
