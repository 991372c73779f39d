import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {isTracing, jvp, seedTangent, stopGradient, tangentOf, withTangents} from '../../src/autodiff';
import {TracingError, ValueError} from '../../src/errors';
import {describeBackends, expectClose, randn, values} from '../util';

/** A spec whose own temporaries are tidied, so the leak check sees only the library's. */
function tidyIt(name: string, body: () => void): void {
  it(name, () => {
    tf.tidy(body);
  });
}

describeBackends('jvp API', () => {
  let before: number;
  beforeEach(() => before = tf.memory().numTensors);
  afterEach(() => expect(tf.memory().numTensors).withContext('tensor leak').toBe(before));

  tidyIt('returns value and tangent of a scalar function (d/dx Σx² · v = 2⟨x, v⟩)', () => {
    const x = tf.tensor1d([1, 2, 3]), v = tf.tensor1d([1, -1, 0.5]);
    const {value, tangent} = jvp(a => tf.sum(tf.square(a)), [x], [v]);
    expect(values(value)[0]).toBeCloseTo(14, 5);
    expect(values(tangent)[0]).toBeCloseTo(2 * (1 - 2 + 1.5), 5);
    tf.dispose([x, v, value, tangent]);
  });

  tidyIt('handles several primals and several outputs', () => {
    const a = randn([3]), b = randn([3]), ta = randn([3]), tb = randn([3]);
    const {value, tangent} = jvp<tf.Tensor[]>((x, y) => [tf.mul(x, y), tf.add(x, y)], [a, b], [ta, tb]);
    expectClose(value[0], tf.mul(a, b));
    expectClose(tangent[0], tf.add(tf.mul(ta, b), tf.mul(a, tb)));  // product rule
    expectClose(tangent[1], tf.add(ta, tb));
    tf.dispose([a, b, ta, tb, ...value, ...tangent]);
  });

  tidyIt('gives a zero tangent to an output that does not depend on the primals', () => {
    const x = randn([2]), c = randn([4]);
    const {tangent} = jvp(() => tf.mul(c, 2), [x], [randn([2])]);
    expect(tangent.shape).toEqual([4]);
    expect(Array.from(values(tangent))).toEqual([0, 0, 0, 0]);
    tf.dispose([x, c, tangent]);
  });

  tidyIt('identity: the output tangent is a copy of the input tangent, not an alias', () => {
    const x = randn([2]), v = randn([2]);
    const {value, tangent} = jvp(a => a, [x], [v]);
    expect(tangent).not.toBe(v);
    expectClose(tangent, v);
    tf.dispose([x, v, tangent]);
    void value;
  });

  tidyIt('returns aux with hasAux', () => {
    const x = randn([2]), v = randn([2]);
    const r = jvp(a => [tf.sum(a), tf.max(a)] as [tf.Tensor, tf.Tensor], [x], [v], {hasAux: true});
    expect(r.aux instanceof tf.Tensor).toBe(true);
    expectClose(r.tangent, tf.sum(v));
    tf.dispose([x, v, r.value, r.tangent, r.aux as tf.Tensor]);
  });

  tidyIt('pushes K directions through one pass with tangent batch axes', () => {
    const w = randn([4, 3]), x = randn([5, 4]), dirs = randn([2, 3, 4, 3]);
    const f = (m: tf.Tensor) => tf.tanh(tf.matMul(x, m));
    const {tangent} = jvp(f, [w], [dirs]);
    expect(tangent.shape).toEqual([2, 3, 5, 3]);
    const flat = tf.reshape(dirs, [6, 4, 3]);
    const tflat = tf.reshape(tangent, [6, 5, 3]);
    for (let k = 0; k < 6; k++) {
      const single = jvp(f, [w], [tf.squeeze(tf.slice(flat, k, 1), [0])]);
      expectClose(tf.squeeze(tf.slice(tflat, k, 1), [0]), single.tangent, 1e-5, 1e-6);
      tf.dispose([single.value, single.tangent]);
    }
    tf.dispose([w, x, dirs, tangent, flat, tflat]);
  });

  tidyIt('validates its arguments', () => {
    const x = tf.tensor1d([1, 2]);
    expect(() => jvp(a => a, [x], [tf.zeros([3])])).toThrowError(ValueError, /tangents\[0\] must have the shape/);
    expect(() => jvp(a => a, [x], [])).toThrowError(ValueError, /same length/);
    expect(() => jvp(a => a, [x, x], [tf.zeros([2]), tf.zeros([2])])).toThrowError(ValueError, /twice/);
    expect(() => jvp((a, b) => tf.add(a, b), [x, tf.zeros([2])], [tf.zeros([1, 2]), tf.zeros([2, 2])]))
        .toThrowError(ValueError, /same leading batch axes/);
    expect(() => jvp(() => 3 as unknown as tf.Tensor, [x], [tf.zeros([2])])).toThrowError(ValueError, /must return a Tensor/);
    tf.dispose(x);
  });

  tidyIt('rejects nesting, async functions and calls outside a trace, and restores the engine', () => {
    const x = tf.tensor1d([1]);
    expect(() => seedTangent(x, tf.ones([1]))).toThrowError(TracingError, /inside withTangents/);
    expect(() => tangentOf(x)).toThrowError(TracingError);
    expect(() => jvp(a => jvp(b => b, [a], [a]).value, [x], [tf.ones([1])])).toThrowError(TracingError, /nested/);
    expect(isTracing()).toBe(false);
    expect(() => withTangents(() => Promise.resolve(1))).toThrowError(TracingError, /Promise/);
    expect(isTracing()).toBe(false);
    tf.dispose(x);
  });

  it('restores the engine and frees every tangent when f throws', () => {
    const engine = tf.engine() as unknown as {runKernelFunc: unknown, disposeTensor: unknown};
    const rkf = engine.runKernelFunc, dt = engine.disposeTensor;
    const x = randn([3]), v = randn([3]);
    const n = tf.memory().numTensors;
    expect(() => jvp(a => {
      tf.exp(a);
      throw new Error('user error');
    }, [x], [v])).toThrowError(/user error/);
    expect(engine.runKernelFunc).toBe(rkf);
    expect(engine.disposeTensor).toBe(dt);
    expect(isTracing()).toBe(false);
    expect(tf.memory().numTensors).toBe(n);
    // Ops after the failure are untraced and work normally.
    const y = tf.exp(x);
    expect(y.shape).toEqual([3]);
    tf.dispose([x, v, y]);
  });

  tidyIt('works inside tf.tidy and interleaved with unrelated tidy work', () => {
    const x = randn([3]);
    const r = tf.tidy(() => {
      const unrelated = tf.add(x, 1);
      const {tangent} = jvp(a => tf.sum(tf.sin(a)), [x], [tf.onesLike(x)]);
      const after = tf.mul(unrelated, 2);
      return tf.stack([tf.sum(after), tangent]);
    });
    expect(values(r)[1]).toBeCloseTo(values(tf.sum(tf.cos(x)))[0], 4);
    tf.dispose([x, r]);
  });

  tidyIt('frees a tangent together with its primal inside the trace', () => {
    withTangents(() => {
      const x = randn([100]);
      seedTangent(x, tf.ones([100]));
      const before = tf.memory().numTensors;
      const y = tf.exp(x);     // y and its tangent
      expect(tf.memory().numTensors).toBe(before + 2);
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });

  tidyIt('seedTangent adds to an existing tangent (a perturbation of a perturbed activity)', () => {
    const r = withTangents(() => {
      const x = tf.tensor1d([1, 2]);
      seedTangent(x, tf.tensor1d([1, 0]));
      const h = tf.mul(x, 3);              // ḣ = 3ẋ = [3, 0]
      seedTangent(h, tf.tensor1d([0, 1]));  // ḣ = [3, 1]
      return tangentOf(tf.sum(tf.square(h)))!;  // 2⟨h, ḣ⟩ = 2(3·3 + 6·1) = 30
    });
    expect(values(r)[0]).toBeCloseTo(30, 4);
    r.dispose();
  });

  tidyIt('seedTangent validates shape and dtype; tangentOf is null for untouched tensors', () => {
    withTangents(() => {
      const x = tf.tensor1d([1, 2]);
      expect(() => seedTangent(x, tf.zeros([3]))).toThrowError(ValueError, /must have shape \[2\]/);
      expect(() => seedTangent(tf.tensor1d([1], 'int32'), tf.zeros([1]))).toThrowError(ValueError, /float32/);
      expect(tangentOf(tf.zeros([2]))).toBeNull();
    }, {batchShape: []});
    expect(() => withTangents(() => 0, {batchShape: [0]})).toThrowError(ValueError, /positive integers/);
  });

  tidyIt('propagates through a customGrad op with an exact custom gradient', () => {
    // tslint:disable-next-line:no-any
    const square = tf.customGrad(((x: tf.Tensor) => ({value: tf.square(x), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.mul(2, x))})) as any);
    const x = randn([4]), v = randn([4]);
    const {tangent} = jvp(a => square(a) as tf.Tensor, [x], [v]);
    expectClose(tangent, tf.mul(tf.mul(2, x), v), 1e-5);
    tf.dispose([x, v, tangent]);
  });

  tidyIt('stops tangents and gradients at stopGradient', () => {
    const x = randn([3]), v = randn([3]);
    // f(x) = Σ x·sg(x): forward derivative ⟨sg(x), v⟩, gradient sg(x)
    const {tangent} = jvp(a => tf.sum(tf.mul(a, stopGradient(a))), [x], [v]);
    expectClose(tangent, tf.sum(tf.mul(x, v)), 1e-5);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(a, stopGradient(a))))(x);
    expectClose(g, x);
    const {tangent: t2} = jvp(a => stopGradient(tf.exp(a)), [x], [v]);
    expect(Array.from(values(t2))).toEqual([0, 0, 0]);
    tf.dispose([x, v, tangent, g, t2]);
  });

  it('stopGradient rejects non-tensors', () => {
    expect(() => stopGradient(3 as unknown as tf.Tensor)).toThrowError(/must be a Tensor/);
  });

  it('does not disturb model.fit, and works inside its callbacks', async () => {
    const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [3], units: 2, activation: 'softmax'})]});
    model.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
    const xs = randn([8, 3]);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 0, 1, 0, 1, 0, 1], 'int32'), 2));
    const seen: number[] = [];
    const history = await model.fit(xs, ys, {
      epochs: 2, batchSize: 4, verbose: 0,
      callbacks: {onBatchEnd: async () => {
        const tangent = tf.tidy(() => {
          const p = tf.tensor1d([1, 2]);
          return jvp(a => tf.sum(tf.square(a)), [p], [tf.onesLike(p)]).tangent;
        });
        seen.push((await tangent.data())[0]);
        tangent.dispose();
      }},
    });
    expect(seen).toEqual([6, 6, 6, 6]);
    expect(history.history.loss.length).toBe(2);
    model.dispose();
    tf.dispose([xs, ys]);
  });
});
