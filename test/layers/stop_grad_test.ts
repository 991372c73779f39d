/** StopGrad layer: identity in value, exactly zero gradient (tf.grad, model backprop) and tangent. */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {jvp} from '../../src/autodiff';
import {StopGrad, stopGrad} from '../../src/layers';
import {checkJvp, describeBackends, expectClose, maxAbs, randn, seedWeights} from '../util';

describeBackends('layers: StopGrad', () => {
  it('infers symbolic shapes in a functional model (one input or a list)', () => {
    const x = tfl.input({shape: [3, 4]});
    const y = stopGrad().apply(x) as tfl.SymbolicTensor;
    expect(y.shape).toEqual([null, 3, 4]);
    const z = tfl.input({shape: [2]});
    const ys = stopGrad().apply([x, z]) as tfl.SymbolicTensor[];
    expect(ys.map(s => s.shape)).toEqual([[null, 3, 4], [null, 2]]);
    expect(new StopGrad().getClassName()).toBe('fg.StopGrad');
  });

  it('is the identity in value, and has no weights', () => {
    const layer = stopGrad();
    const x = randn([2, 3]);
    const before = tf.memory().numTensors;
    const y = layer.apply(x) as Tensor;
    expect(y).not.toBe(x);
    expectClose(y, x, 0, 0);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(layer.weights.length).toBe(0);
    x.dispose();
  });

  it('tf.grad through it is exactly zero; other paths are untouched', () => {
    const layer = stopGrad();
    const x = randn([4]);
    tf.tidy(() => {
      const g0 = tf.grad(a => tf.sum(tf.mul(layer.apply(a) as Tensor, 3)))(x);
      expect(maxAbs(g0)).toBe(0);
      // d/dx Σ x·sg(x) = sg(x) = x
      const g1 = tf.grad(a => tf.sum(tf.mul(layer.apply(a) as Tensor, a)))(x);
      expectClose(g1, x, 0, 0);
    });
    x.dispose();
  });

  it('forward mode: the tangent through it is exactly zero', () => {
    const layer = stopGrad();
    const x = randn([2, 3]), v = randn([2, 3]), vb = randn([4, 2, 3]);
    tf.tidy(() => {
      const r = jvp(a => layer.apply(a) as Tensor, [x], [v]);
      expectClose(r.value, x, 0, 0);
      expect(maxAbs(r.tangent)).toBe(0);
      // x·sg(x): tangent x·v only
      const s = jvp(a => tf.mul(layer.apply(a) as Tensor, a), [x], [v]);
      expectClose(s.tangent, tf.mul(x, v), 0, 0);
      // batched tangents
      const b = jvp(a => layer.apply(a) as Tensor, [x], [vb]);
      expect(b.tangent.shape).toEqual([4, 2, 3]);
      expect(maxAbs(b.tangent)).toBe(0);
    });
    // Adjoint identity with tf.grad (finite differences see the full derivative, by design).
    checkJvp(a => tf.add(tf.mul(layer.apply(a) as Tensor, a), tf.sin(a)), [x], {skipFd: true});
    tf.dispose([x, v, vb]);
  });

  it('model backprop: weights upstream of it get an exactly zero gradient', () => {
    const inp = tfl.input({shape: [3]});
    const h = tfl.layers.dense({units: 4, activation: 'relu', name: 'up'}).apply(inp) as tfl.SymbolicTensor;
    const s = stopGrad().apply(h) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({units: 2, name: 'down'}).apply(s) as tfl.SymbolicTensor;
    const model = seedWeights(tfl.model({inputs: inp, outputs: out}));
    const x = randn([5, 3]);
    tf.tidy(() => {
      const {grads} = tf.variableGrads(() => tf.sum(tf.square(model.apply(x, {training: true}) as Tensor)) as tf.Scalar);
      const up = Object.keys(grads).filter(k => k.startsWith('up/'));
      const down = Object.keys(grads).filter(k => k.startsWith('down/'));
      expect(up.length).toBe(2);
      expect(down.length).toBe(2);
      up.forEach(k => expect(maxAbs(grads[k])).withContext(k).toBe(0));
      expect(maxAbs(grads[down[0]])).toBeGreaterThan(0);
    });
    model.dispose();
    x.dispose();
  });
});
