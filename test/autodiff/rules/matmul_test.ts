import * as tf from '@tensorflow/tfjs-core';

import {checkJvp, describeBackends, hasKernel, randn} from '../../util';

describeBackends('JVP rules: matmul', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    it(`BatchMatMul 2-D transposeA=${ta} transposeB=${tb}`, () => {
      const a = randn(ta ? [5, 4] : [4, 5]), b = randn(tb ? [3, 5] : [5, 3]);
      checkJvp((x, y) => tf.matMul(x, y, ta, tb), [a, b]);
      tf.dispose([a, b]);
    });
  }

  it('BatchMatMul 3-D with a broadcast batch', () => {
    const a = randn([2, 4, 5]), b = randn([1, 5, 3]);
    // tfjs's BatchMatMul gradient does not reduce a broadcast batch axis: no adjoint oracle here.
    checkJvp((x, y) => tf.matMul(x, y), [a, b], {skipAdjoint: true});
    tf.dispose([a, b]);
  });

  it('BatchMatMul with a tangent on one side only', () => {
    const a = randn([4, 5]), b = randn([5, 3]);
    checkJvp((x, y) => tf.matMul(x, y), [a, b], {wrt: [1]});
    tf.dispose([a, b]);
  });

  for (const activation of ['linear', 'relu', 'elu', 'relu6', 'sigmoid', 'leakyrelu'] as const) {
    it(`_FusedMatMul with bias and activation ${activation}`, () => {
      // Pre-activations within ε of a kink (0, or 6 for relu6) are checked one-sided by checkJvp.
      const a = randn([6, 4]), b = randn([4, 3]), bias = randn([3], 0.5);
      checkJvp((x, w, c) => tf.fused.matMul({a: x, b: w, bias: c, activation, leakyreluAlpha: 0.1}),
               [a, b, bias]);
      tf.dispose([a, b, bias]);
    });
  }

  it('_FusedMatMul with prelu', () => {
    const a = randn([6, 4]), b = randn([4, 3]), alpha = randn([3], 0.3);
    checkJvp((x, w, p) => tf.fused.matMul({a: x, b: w, activation: 'prelu', preluActivationWeights: p}),
             [a, b, alpha], {fdEps: 1e-3, skipAdjoint: true});
    tf.dispose([a, b, alpha]);
  });

  it('Einsum (two operands)', () => {
    if (!hasKernel('Einsum')) {
      pending(`no Einsum kernel on ${tf.getBackend()}`);
    }
    const a = randn([2, 3, 4]), b = randn([4, 5]);
    checkJvp((x, y) => tf.einsum('bij,jk->bik', x, y), [a, b], {skipAdjoint: true});
    tf.dispose([a, b]);
  });
});
