/**
 * `choose(ok, a, b)`: the chosen tensor exactly (NaN and Infinity included, whatever the other one
 * holds), its own reference (disposing either side leaves the other intact), clear errors, no
 * leaks; on cpu and wasm through the buffer-sharing kernel, elsewhere through tf.where.
 */
import * as tf from '@tensorflow/tfjs-core';

import {choose, CHOOSE} from '../../src/backends/choose';
import {describeBackends, values} from '../util';

describeBackends('choose', backend => {
  it('returns the chosen tensor bit for bit, NaN and infinities included', () => {
    const before = tf.memory().numTensors;
    const a = tf.tensor2d([[1, NaN], [Infinity, -0.5]]);
    const b = tf.tensor2d([[NaN, 2], [3, -Infinity]]);
    const yes = tf.scalar(true, 'bool'), no = tf.scalar(false, 'bool');
    const pickA = choose(yes, a, b), pickB = choose(no, a, b);
    expect(pickA.shape).toEqual([2, 2]);
    expect(Array.from(values(pickA))).toEqual([1, NaN, Infinity, -0.5]);
    expect(Array.from(values(pickB))).toEqual([NaN, 2, 3, -Infinity]);
    tf.dispose([pickA, pickB, yes, no, a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives a result that outlives its inputs, and inputs that outlive it', () => {
    const a = tf.tensor1d([1, 2, 3]), b = tf.tensor1d([4, 5, 6]), ok = tf.scalar(true, 'bool');
    const out = choose(ok, a, b);
    out.dispose();
    expect(Array.from(values(a))).toEqual([1, 2, 3]);
    const again = choose(ok, a, b);
    tf.dispose([a, b, ok]);
    expect(Array.from(values(again))).toEqual([1, 2, 3]);
    again.dispose();
  });

  it('chooses between a variable and its snapshot, as the optimizer\'s guard does', () => {
    const v = tf.variable(tf.tensor1d([1, 2]) as tf.Tensor);
    const snapshot: tf.Tensor = v.clone();
    v.assign(tf.tensor1d([NaN, 7]));
    tf.tidy(() => v.assign(choose(tf.scalar(false, 'bool'), v as tf.Tensor, snapshot)));
    expect(Array.from(values(v))).toEqual([1, 2]);
    tf.tidy(() => v.assign(choose(tf.scalar(true, 'bool'), v as tf.Tensor, tf.tensor1d([9, 9]) as tf.Tensor)));
    expect(Array.from(values(v))).toEqual([1, 2]);
    tf.dispose([v, snapshot]);
  });

  it(`uses its own kernel exactly on the backends that run kernels synchronously (${backend})`, () => {
    expect(tf.getKernel(CHOOSE, backend) != null).toBe(backend === 'cpu' || backend === 'wasm');
  });

  it('rejects a condition that is not a bool scalar, and choices of different shapes', () => {
    const a = tf.zeros([2]), b = tf.ones([2]), c = tf.ones([3]);
    expect(() => choose(tf.scalar(1), a, b)).toThrowError(/bool scalar.*float32/);
    expect(() => choose(tf.tensor1d([true], 'bool'), a, b)).toThrowError(/bool scalar.*shape \[1\]/);
    expect(() => choose(tf.scalar(true, 'bool'), a, c)).toThrowError(/one shape and dtype.*\[2\].*\[3\]/);
    tf.dispose([a, b, c]);
  });
});
