/**
 * `recordingOnlyFrom`: a backward pass restricted to some sources records only the kernels their
 * values reach. Gradients equal tfjs's own (the reference), the kernels off those paths save
 * nothing, and the engine is restored when the function returns or throws, also inside a trace.
 */
import * as tf from '@tensorflow/tfjs-core';

import {withTangents} from '../../src/autodiff';
import {recordingOnlyFrom} from '../../src/autodiff/internal';
import {describeBackends, expectClose, randn} from '../util';

/** A loss where `w` meets a normalized input: the normalization is on no path from `w`. */
function loss(x: tf.Tensor, w: tf.Variable): tf.Scalar {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const normalized = tf.div(centered, tf.sqrt(tf.add(tf.mean(tf.square(centered), -1, true), 1e-5)));
  return tf.sum(tf.square(tf.tanh(tf.matMul(normalized, w))));
}

/** The tensors tfjs saves for the backward pass while `f` runs: their count. */
function savedDuring(f: () => tf.Scalar, xs: tf.Variable[]): {count: number, grads: tf.Tensor[]} {
  const engine = tf.engine() as unknown as {state: {activeTape: Array<{saved?: tf.Tensor[]}>|null}};
  let count = 0;
  const {value, grads} = tf.engine().gradients(() => {
    const y = f();
    count = (engine.state.activeTape ?? []).reduce((a, node) => a + (node.saved?.length ?? 0), 0);
    return y;
  }, xs);
  value.dispose();
  return {count, grads};
}

describeBackends('autodiff: recordingOnlyFrom (a tape for the sources\' paths only)', () => {
  it('the same gradients as the full tape; the kernels no source reaches save nothing', () => {
    const x = randn([4, 6]);
    const w = tf.variable(randn([6, 3], 0.5));
    const full = savedDuring(() => loss(x, w), [w]);
    const filtered = savedDuring(() => recordingOnlyFrom([w], () => loss(x, w)), [w]);
    expectClose(filtered.grads[0], full.grads[0], 1e-6, 1e-6);
    // full: the normalization's kernels save their inputs too; filtered: only matMul, tanh, square
    expect(filtered.count).toBeLessThan(full.count);
    expect(filtered.count).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    tf.dispose([...full.grads, ...filtered.grads]);
    expect(tf.memory().numTensors).toBe(before - 2);
    tf.dispose([x, w]);
  });

  it('inside a forward-mode trace: the tangents and the gradients are unchanged; nested calls apply once', () => {
    const x = randn([4, 6]);
    const w = tf.variable(randn([6, 3], 0.5));
    const run = (filter: boolean) => withTangents(() => {
      const f = () => loss(x, w);
      const r = tf.engine().gradients(filter ? () => recordingOnlyFrom([w], () => recordingOnlyFrom([w], f)) : f, [w]);
      return {value: r.value, grad: r.grads[0]};
    });
    const a = run(false), b = run(true);
    expectClose(b.value, a.value, 0, 0);
    expectClose(b.grad, a.grad, 1e-6, 1e-6);
    tf.dispose([a.value, a.grad, b.value, b.grad, x, w]);
  });

  it('restores the engine when the function throws', () => {
    const e = tf.engine() as unknown as {runKernelFunc: unknown};
    const own = Object.prototype.hasOwnProperty.call(e, 'runKernelFunc');
    const before = e.runKernelFunc;
    const w = tf.variable(tf.ones([2]));
    expect(() => recordingOnlyFrom([w], () => {
      tf.tidy(() => tf.mul(w, 2));
      throw new Error('user code');
    })).toThrowError('user code');
    expect(e.runKernelFunc).toBe(before);
    expect(Object.prototype.hasOwnProperty.call(e, 'runKernelFunc')).toBe(own);
    expect(Object.prototype.hasOwnProperty.call(e, 'recordingOnlyFrom')).toBe(false);
    w.dispose();
  });
});
