import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {getJvpRule, Tangent} from '../../../src/autodiff';
import {checkJvp, CheckJvpOptions, describeBackends, expectClose, hasKernel, randAwayFromZero, randn, values} from '../../util';

function skipIfMissing(kernel: string): void {
  if (!hasKernel(kernel)) {
    pending(`no ${kernel} kernel on ${tf.getBackend()}`);
  }
}

/** Values on both sides of relu6's kinks at 0 and 6, none within 0.4 of either. */
const relu6Input = () => tf.tensor2d([[-3, -0.5, 0.7, 2], [5.5, 6.5, 7.9, -7]]);
/** Values exactly on the kinks (0 and 6): only the adjoint check against tfjs applies there. */
const kinkInput = () => tf.tensor2d([[0, 6, -1], [1, 0, 7]]);

interface UnaryCase {
  kernel: string;
  f: (x: Tensor) => Tensor;
  gen: () => Tensor;
  opts?: CheckJvpOptions;
}

const unaryCases: UnaryCase[] = [
  {kernel: tf.Relu, f: tf.relu, gen: () => randAwayFromZero([2, 3])},
  {kernel: tf.Relu6, f: tf.relu6, gen: relu6Input},
  // elu is C¹ at 0 but its second derivative jumps there: keep finite differences off it.
  {kernel: tf.Elu, f: tf.elu, gen: () => randAwayFromZero([2, 3])},
  {kernel: tf.Selu, f: tf.selu, gen: () => randAwayFromZero([2, 3])},
  {kernel: tf.LeakyRelu, f: x => tf.leakyRelu(x, 0.15), gen: () => randAwayFromZero([2, 3])},
  {kernel: tf.Sigmoid, f: tf.sigmoid, gen: () => randn([2, 3], 2)},
  {kernel: tf.Tanh, f: tf.tanh, gen: () => randn([2, 3])},
  {kernel: tf.Softplus, f: tf.softplus, gen: () => randn([2, 3], 2)},
  {kernel: tf.Softmax, f: x => tf.softmax(x), gen: () => randn([2, 4])},
];

/**
 * Every activation identifier tfjs-layers 4.22 accepts (the classNames registered in activations.js).
 * Its `ActivationIdentifier` type omits 'logSoftmax', which it accepts all the same: hence the cast.
 */
type ActivationId = Parameters<typeof tfl.layers.activation>[0]['activation'];
const layerActivations = [
  'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hardSigmoid', 'tanh', 'softmax', 'logSoftmax',
  'softplus', 'softsign', 'gelu', 'gelu_new', 'swish', 'mish', 'linear',
] as unknown as ActivationId[];

/** Inputs away from each activation's kinks (relu: 0; relu6: 0, 6; hardSigmoid: ±2.5; selu: 0). */
function layerInput(activation: string): Tensor {
  switch (activation) {
    case 'relu6':
      return relu6Input();
    case 'hardSigmoid':
      return tf.tensor2d([[-4, -2, -1, 0.3], [1.5, 2.2, 3, 5]]);
    case 'relu':
    case 'elu':
    case 'selu':
    case 'softsign':
      return randAwayFromZero([2, 4]);
    default:
      return randn([2, 4], 1.5);
  }
}

describeBackends('JVP rules: activations', () => {
  for (const c of unaryCases) {
    it(`${c.kernel}`, () => {
      skipIfMissing(c.kernel);
      const x = c.gen();
      checkJvp(c.f, [x], c.opts);
      tf.dispose(x);
    });
  }

  for (const [name, f] of [
           ['Relu', tf.relu], ['Relu6', tf.relu6], ['Elu', tf.elu], ['Selu', tf.selu],
           ['LeakyRelu', (x: Tensor) => tf.leakyRelu(x, 0.15)],
           ['Prelu', (x: Tensor) => tf.prelu(x, tf.scalar(0.3))],
         ] as Array<[string, (x: Tensor) => Tensor]>) {
    it(`${name} at its kinks follows tfjs's gradient`, () => {
      skipIfMissing(name);
      const x = kinkInput();
      // Exactly on a kink, finite differences are meaningless; tfjs's gradient is the oracle.
      checkJvp(f, [x], {skipFd: true});
      tf.dispose(x);
    });
  }

  for (const alphaShape of [[2, 3], [3], [2, 1], []]) {
    it(`Prelu with alpha of shape [${alphaShape}]`, () => {
      skipIfMissing(tf.Prelu);
      if (tf.getBackend() === 'wasm' && alphaShape.length === 2 && alphaShape[1] === 1) {
        // tfjs-backend-wasm 4.22's Prelu indexes alpha cyclically (alpha[i % alpha.size]), so its
        // forward value is wrong for this broadcast: prelu([[-1,-2,-3],[-4,-5,-6]], [[1],[10]])
        // gives [[-1,-20,-3],[-40,-5,-60]] instead of cpu's [[-1,-2,-3],[-40,-50,-60]].
        pending('wasm Prelu mis-broadcasts an alpha of shape [n, 1]');
      }
      const x = randAwayFromZero([2, 3]), alpha = randn(alphaShape, 0.3);
      // tfjs's Prelu gradient reduces over broadcast axes, so the adjoint check applies throughout.
      checkJvp(tf.prelu, [x, alpha]);
      tf.dispose([x, alpha]);
    });
  }

  for (const wrt of [0, 1]) {
    it(`Prelu with a tangent on ${wrt === 0 ? 'x' : 'alpha'} only`, () => {
      skipIfMissing(tf.Prelu);
      const x = randAwayFromZero([2, 3]), alpha = randn([3], 0.3);
      checkJvp(tf.prelu, [x, alpha], {wrt: [wrt]});
      tf.dispose([x, alpha]);
    });
  }

  it('Softmax of rank 3 with two tangent batch axes', () => {
    skipIfMissing(tf.Softmax);
    const x = randn([2, 3, 4]);
    checkJvp(x => tf.softmax(x), [x], {batchShape: [2, 2]});
    tf.dispose(x);
  });

  it('LogSoftmax kernel (when a backend registers it)', () => {
    skipIfMissing(tf.LogSoftmax);  // tfjs 4.22's backends have none: tf.logSoftmax is a composite
    const x = randn([2, 4]);
    checkJvp(t => tf.engine().runKernel(tf.LogSoftmax, {logits: t}, {axis: -1}) as Tensor, [x]);
    tf.dispose(x);
  });

  it('LogSoftmax rule, called directly, against finite differences and tfjs\'s gradient', () => {
    // No backend has a LogSoftmax kernel, so the tracer never calls this rule: check it directly.
    const rule = getJvpRule(tf.LogSoftmax)!;
    expect(rule).toBeDefined();
    const x = randn([2, 4]), t = randn([2, 4]), u = randn([2, 4]), tb = randn([3, 2, 4]);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const y = tf.logSoftmax(x);
      const call = (tan: Tensor, batchShape: number[], axis: number) =>
          rule({logits: x}, {logits: tan}, {axis}, [y], {batchShape}) as Tangent as Tensor;
      for (const axis of [-1, 1]) {
        const jv = call(t, [], axis);
        const eps = 1e-2;
        const fd = tf.div(tf.sub(tf.logSoftmax(tf.add(x, tf.mul(t, eps))), tf.logSoftmax(tf.sub(x, tf.mul(t, eps)))), 2 * eps);
        expectClose(jv, fd, 1e-2, 1e-3, 'finite differences');
        // ⟨J·t, u⟩ = ⟨t, Jᵀ·u⟩ with tfjs's (custom) gradient of logSoftmax.
        const g = tf.grad(z => tf.sum(tf.mul(tf.logSoftmax(z), u)))(x);
        expectClose(tf.sum(tf.mul(jv, u)), tf.sum(tf.mul(t, g)), 1e-4, 1e-5, 'adjoint');
        // Batched tangents: each direction as on its own.
        const batched = call(tb, [3], axis);
        expect(batched.shape).toEqual([3, 2, 4]);
        const singles = tf.unstack(tb).map(d => call(d, [], axis));
        expectClose(batched, tf.stack(singles), 1e-5, 1e-6, 'batched');
      }
      expect(values(call(t, [], -1)).every(Number.isFinite)).toBe(true);
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, t, u, tb]);
  });

  for (const activation of layerActivations) {
    it(`tfjs-layers activation '${activation}'`, () => {
      const layer = tfl.layers.activation({activation});
      const x = layerInput(activation);
      checkJvp(t => layer.apply(t) as Tensor, [x]);
      tf.dispose(x);
    });
  }

  it('tfjs-layers leakyReLU layer', () => {
    const layer = tfl.layers.leakyReLU({alpha: 0.25});
    const x = randAwayFromZero([2, 4]);
    checkJvp(t => layer.apply(t) as Tensor, [x]);
    tf.dispose(x);
  });

  it('tfjs-layers prelu layer, with its weights as a primal', () => {
    const layer = tfl.layers.prelu({});
    const x = randAwayFromZero([2, 4]), alpha = randn([4], 0.3);
    tf.dispose(layer.apply(x) as Tensor);  // builds the layer (alpha of shape [4])
    const weight = layer.weights[0];
    const read = weight.read;
    // The layer reads its alpha through LayerVariable.read(): hand it the primal instead.
    const f = (t: Tensor, a: Tensor) => {
      weight.read = () => a;
      try {
        return layer.apply(t) as Tensor;
      } finally {
        weight.read = read;
      }
    };
    checkJvp(f, [x, alpha]);
    layer.dispose();
    tf.dispose([x, alpha]);
  });
});
