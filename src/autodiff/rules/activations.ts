/**
 * JVP rules: activation kernels. Derivatives at kinks follow tfjs's gradients (relu'(0) = 0,
 * relu6'(6) = 1, leakyRelu'(0) = α, elu'(0) = 1).
 */
import * as tf from '@tensorflow/tfjs-core';
import {LeakyReluAttrs, LogSoftmaxAttrs, NamedAttrMap, SoftmaxAttrs, Tensor} from '@tensorflow/tfjs-core';

import {binaryJvp, elementwiseJvp, tangentAxis} from '../helpers';
import {JvpConfig, JvpRule} from '../registry';

/** tfjs's SELU constants (tfjs-core ops/selu_util, not exported): scale and scale·alpha. */
const SELU_SCALE = 1.0507009873554804934193349852946;
const SELU_SCALEALPHA = 1.7580993408473768599402175208123;

/** `ẏ = ẋ · f'(x)` for a one-input kernel whose input is `x`; `d` gets x, y and the attrs. */
function unary(d: (x: Tensor, y: Tensor, attrs: NamedAttrMap) => Tensor): JvpRule {
  return elementwiseJvp((inputs, y, attrs) => d(inputs.x, y, attrs));
}

const float = (t: Tensor) => tf.cast(t, 'float32');

/** JVP rules of the activations kernel family. */
export const activationsJvps: JvpConfig[] = [
  // ẏ = ẋ·[x > 0]
  {kernelName: tf.Relu, jvp: unary(x => tf.step(float(x)))},
  // ẏ = ẋ·[0 < x ≤ 6]
  {kernelName: tf.Relu6, jvp: unary(x => tf.mul(tf.step(float(x)), float(tf.lessEqual(x, 6))))},
  // y = x > 0 ? x : eˣ − 1:  ẏ = ẋ·(y ≥ 0 ? 1 : y + 1)  (tfjs's EluGrad)
  {kernelName: tf.Elu, jvp: unary((_x, y) => tf.where(tf.greaterEqual(y, 0), tf.onesLike(y), tf.add(y, 1)))},
  // y = x > 0 ? λx : λα(eˣ − 1):  ẏ = ẋ·(x > 0 ? λ : y + λα)
  {
    kernelName: tf.Selu,
    jvp: unary((x, y) => tf.where(tf.greater(x, 0), tf.fill(y.shape, SELU_SCALE), tf.add(y, SELU_SCALEALPHA))),
  },
  // ẏ = ẋ·(x > 0 ? 1 : α)
  {
    kernelName: tf.LeakyRelu,
    jvp: unary((x, y, attrs) =>
        tf.where(tf.greater(x, 0), tf.onesLike(y), tf.fill(y.shape, (attrs as unknown as LeakyReluAttrs).alpha))),
  },
  // y = x > 0 ? x : α·x:  ẏ = ẋ·(x > 0 ? 1 : α) + α̇·(x > 0 ? 0 : x)
  {
    kernelName: tf.Prelu,
    jvp: binaryJvp((x, alpha) => tf.where(tf.greater(x, 0), tf.onesLike(x), tf.mul(tf.onesLike(x), alpha)),
                   x => tf.where(tf.greater(x, 0), tf.zerosLike(x), x), ['x', 'alpha']),
  },
  // ẏ = ẋ·y(1 − y)
  {kernelName: tf.Sigmoid, jvp: unary((_x, y) => tf.mul(y, tf.sub(1, y)))},
  // ẏ = ẋ·(1 − y²)
  {kernelName: tf.Tanh, jvp: unary((_x, y) => tf.sub(1, tf.square(y)))},
  // ẏ = ẋ·σ(x)
  {kernelName: tf.Softplus, jvp: unary(x => tf.sigmoid(x))},
  // ẏ = y ⊙ (ṫ − Σ_dim y ⊙ ṫ)
  {
    kernelName: tf.Softmax,
    jvp: ({logits}, {logits: t}, attrs, [y], ctx) => {
      if (t == null) {
        return null;
      }
      const axis = tangentAxis((attrs as unknown as SoftmaxAttrs).dim, logits.rank, ctx);
      return tf.mul(y, tf.sub(t, tf.sum(tf.mul(y, t), axis, true)));
    },
  },
  // ẏ = ṫ − Σ_axis softmax ⊙ ṫ, with softmax = exp(y)
  {
    kernelName: tf.LogSoftmax,
    jvp: ({logits}, {logits: t}, attrs, [y], ctx) => {
      if (t == null) {
        return null;
      }
      const axis = tangentAxis((attrs as unknown as LogSoftmaxAttrs).axis, logits.rank, ctx);
      return tf.sub(t, tf.sum(tf.mul(tf.exp(y), t), axis, true));
    },
  },
];
