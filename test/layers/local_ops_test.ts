/**
 * The LocalMixer's one-backward-op kernels (LayerNorm, dense and grouped linear maps, residual
 * ReLU): values and gradients equal the straightforward formulation with plain tfjs ops and tfjs's
 * own gradients; forward mode through them agrees with the oracles; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {normalize} from '../../src/layers';
import {addRelu, denseLinear, groupLinear} from '../../src/layers/local_ops';
import {checkJvp, describeBackends, expectClose, randn, tolScale} from '../util';

/** Plain LN over `axis` (centered variance), autodiff-differentiated by tfjs. */
function plainLn(x: Tensor, axis: number): Tensor {
  const centered = tf.sub(x, tf.mean(x, axis, true));
  return tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), 1e-5)));
}

/** Gradients of ⟨f(...xs), u⟩ for a fixed random cotangent u. */
function vjp(f: (...xs: Tensor[]) => Tensor, xs: Tensor[], u: Tensor): Tensor[] {
  return tf.grads((...a: Tensor[]) => tf.sum(tf.mul(f(...a), u)))(xs);
}

function expectSameVjp(f: (...xs: Tensor[]) => Tensor, g: (...xs: Tensor[]) => Tensor, xs: Tensor[], what: string): void {
  tf.tidy(() => {
    const fy = f(...xs);
    expectClose(fy, g(...xs), 1e-5 * tolScale(), 1e-5 * tolScale(), `${what}: value`);
    const u = randn(fy.shape);
    const got = vjp(f, xs, u), want = vjp(g, xs, u);
    got.forEach((t, i) => expectClose(t, want[i], 1e-4 * tolScale(), 1e-4 * tolScale(), `${what}: gradient ${i}`));
  });
}

describeBackends('layers: the LocalMixer ops with closed-form gradients', () => {
  it('normalize: value and gradient equal the plain formulation (last axis, axis 1, per group)', () => {
    const x = tf.add(randn([3, 5, 12], 2), 0.5);
    expectSameVjp(a => normalize(a), a => plainLn(a, -1), [x], 'last axis');
    expectSameVjp(a => normalize(a, {axis: 1}), a => plainLn(a, 1), [x], 'axis 1');
    expectSameVjp(a => normalize(a, {groups: 3}),
                  a => tf.reshape(plainLn(tf.reshape(a, [3, 5, 3, 4]), -1), [3, 5, 12]), [x], 'groups');
    expectSameVjp(a => normalize(a, {axis: 1, epsilon: 0.5}),
                  a => tf.div(tf.sub(a, tf.mean(a, 1, true)), tf.sqrt(tf.add(tf.moments(a, 1, true).variance, 0.5))),
                  [x], 'epsilon');
    x.dispose();
  });

  it('denseLinear and groupLinear: value and gradients equal the plain formulation; feedback replaces w in dx only', () => {
    const x = randn([4, 3, 6]), w = randn([6, 5]), b = randn([5]);
    expectSameVjp((a, ww, bb) => denseLinear(a, ww, bb, null),
                  (a, ww, bb) => tf.add(tf.reshape(tf.matMul(tf.reshape(a, [-1, 6]), ww), [4, 3, 5]), bb), [x, w, b], 'dense');
    const wg = randn([2, 3, 4]), bg = randn([2, 4]);
    const plainGroup = (a: Tensor, ww: Tensor, bb: Tensor) => tf.concat([0, 1].map(i => tf.add(
        tf.matMul(tf.reshape(tf.slice(a, [0, 0, 3 * i], [-1, -1, 3]), [-1, 3]), tf.squeeze(tf.slice(ww, [i, 0, 0], [1, -1, -1]), [0])),
        tf.squeeze(tf.slice(bb, [i, 0], [1, -1]), [0]))), 1);
    expectSameVjp((a, ww, bb) => groupLinear(a, ww, bb, null, [12, 8]), plainGroup, [x, wg, bg], 'group, flat');
    expectSameVjp((a, ww, bb) => groupLinear(tf.reshape(a, [4, 3, 2, 3]), ww, bb, null),
                  (a, ww, bb) => tf.reshape(plainGroup(a, ww, bb), [4, 3, 2, 4]), [x, wg, bg], 'group, [.., G, in/G]');
    expectSameVjp((a, ww, bb) => groupLinear(tf.reshape(a, [4, 3, 1, 6]), ww, bb, null),
                  (a, ww, bb) => tf.reshape(tf.add(tf.matMul(tf.reshape(a, [-1, 6]), tf.reshape(ww, [6, 5])), tf.reshape(bb, [5])), [4, 3, 1, 5]),
                  [x, tf.reshape(w, [1, 6, 5]), tf.reshape(b, [1, 5])], 'group, G = 1');
    // Feedback alignment: dx through the feedback matrix, dW and db exact.
    tf.tidy(() => {
      const fb = randn([6, 5]), fbg = randn([2, 3, 4]);
      const u = randn([4, 3, 5]), ug = randn([12, 8]);
      const [dx, dw, db] = vjp((a, ww, bb) => denseLinear(a, ww, bb, fb), [x, w, b], u);
      const want = vjp((a, ww, bb) => denseLinear(a, ww, bb, null), [x, fb, b], u);
      const exact = vjp((a, ww, bb) => denseLinear(a, ww, bb, null), [x, w, b], u);
      expectClose(dx, want[0], 1e-5, 1e-5, 'dense FA dx');
      expectClose(dw, exact[1], 1e-5, 1e-5, 'dense FA dW');
      expectClose(db, exact[2], 1e-5, 1e-5, 'dense FA db');
      const [gx, gw] = vjp((a, ww, bb) => groupLinear(a, ww, bb, fbg, [12, 8]), [x, wg, bg], ug);
      const wantG = vjp((a, ww, bb) => groupLinear(a, ww, bb, null, [12, 8]), [x, fbg, bg], ug);
      const exactG = vjp((a, ww, bb) => groupLinear(a, ww, bb, null, [12, 8]), [x, wg, bg], ug);
      expectClose(gx, wantG[0], 1e-5, 1e-5, 'group FA dx');
      expectClose(gw, exactG[1], 1e-5, 1e-5, 'group FA dW');
    });
    tf.dispose([x, w, b, wg, bg]);
  });

  it('addRelu: value and gradients equal relu(z + x)', () => {
    const z = randn([4, 3, 6]), x = randn([4, 3, 6]);
    expectSameVjp(addRelu, (a, c) => tf.relu(tf.add(a, c)), [z, x], 'addRelu');
    tf.dispose([z, x]);
  });

  it('forward mode through every op agrees with the oracles, and gradients leak no tensor', () => {
    checkJvp((a: Tensor) => normalize(a, {axis: 1}), [randn([2, 6, 4])]);
    checkJvp((a: Tensor) => normalize(a, {groups: 2}), [randn([2, 3, 8])]);
    checkJvp((a: Tensor, w: Tensor) => denseLinear(a, w, tf.zeros([3]), null), [randn([2, 4, 5]), randn([5, 3])]);
    checkJvp((a: Tensor, w: Tensor) => groupLinear(a, w, tf.zeros([2, 3]), null, [5, 6]), [randn([5, 8]), randn([2, 4, 3])]);
    checkJvp((a: Tensor, c: Tensor) => addRelu(a, c), [randn([3, 4]), randn([3, 4])]);
    const x = randn([3, 4, 8]), w = randn([2, 4, 4]), b = randn([2, 4]);
    const before = tf.memory().numTensors;
    const gs = tf.grads((a: Tensor, ww: Tensor) =>
        tf.sum(addRelu(normalize(groupLinear(normalize(a, {groups: 2}), ww, b, null, [3, 4, 8]), {groups: 2}), a)))([x, w]);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([...gs, x, w, b]);
  });
});
