/**
 * JVP rules: elementwise arithmetic and math kernels. Derivatives at ties and kinks follow tfjs's
 * gradients (e.g. max(a, b) sends a tie to `a`, |x|'(0) = −1, clip is 1 on the closed interval).
 */
import * as tf from '@tensorflow/tfjs-core';
import {ClipByValueAttrs, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';

import {binaryJvp, elementwiseJvp, sumTangents} from '../helpers';
import {JvpConfig, JvpRule} from '../registry';

/** `ẏ = ẋ · f'(x)` for a one-input kernel whose input is `x`; `d` gets x, y and the attrs. */
function unary(d: (x: Tensor, y: Tensor, attrs: NamedAttrMap) => Tensor): JvpRule {
  return elementwiseJvp((inputs, y, attrs) => d(inputs.x, y, attrs));
}

const float = (t: Tensor) => tf.cast(t, 'float32');

/** JVP rules of the math kernel family. */
export const mathJvps: JvpConfig[] = [
  // ẏ = ȧ + ḃ
  {kernelName: tf.Add, jvp: binaryJvp('one', 'one')},
  // ẏ = ȧ − ḃ
  {kernelName: tf.Sub, jvp: binaryJvp('one', 'minusOne')},
  // ẏ = ȧ·b + a·ḃ
  {kernelName: tf.Multiply, jvp: binaryJvp((_a, b) => b, a => a)},
  // ẏ = ȧ/b − ḃ·a/b²
  {kernelName: tf.RealDiv, jvp: binaryJvp((_a, b) => tf.reciprocal(b), (a, b) => tf.neg(tf.div(a, tf.square(b))))},
  // ẏ = −ẋ
  {kernelName: tf.Neg, jvp: (_inputs, {x}) => x == null ? null : tf.neg(x)},
  // ẏ = Σᵢ ẋᵢ (inputs keyed '0', '1', ...; all of one shape)
  {kernelName: tf.AddN, jvp: (_inputs, tangents) => sumTangents(...Object.values(tangents))},
  // ẏ = ȧ·[a ≥ b] + ḃ·[a < b]
  {kernelName: tf.Maximum, jvp: binaryJvp((a, b) => float(tf.greaterEqual(a, b)), (a, b) => float(tf.less(a, b)))},
  // ẏ = ȧ·[a ≤ b] + ḃ·[a > b]
  {kernelName: tf.Minimum, jvp: binaryJvp((a, b) => float(tf.lessEqual(a, b)), (a, b) => float(tf.greater(a, b)))},
  // ẏ = 2(a − b)·(ȧ − ḃ)
  {
    kernelName: tf.SquaredDifference,
    jvp: binaryJvp((a, b) => tf.mul(2, tf.sub(a, b)), (a, b) => tf.mul(2, tf.sub(b, a))),
  },
  // ẏ = ȧ·b·a^(b−1) + ḃ·y·log(a), with log(a) taken as 0 where a ≤ 0 (as tfjs's gradient)
  {
    kernelName: tf.Pow,
    jvp: binaryJvp((a, b) => tf.mul(b, tf.pow(a, tf.sub(b, 1))),
                   (a, _b, y) => tf.mul(y, tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a)))),
  },
  // ẏ = (ȧ·b − ḃ·a) / (a² + b²)
  {
    kernelName: tf.Atan2,
    jvp: binaryJvp((a, b) => tf.div(b, tf.add(tf.square(a), tf.square(b))),
                   (a, b) => tf.neg(tf.div(a, tf.add(tf.square(a), tf.square(b))))),
  },
  // y = a − b·floor(a/b):  ẏ = ȧ − ḃ·floor(a/b)
  {kernelName: tf.Mod, jvp: binaryJvp('one', (a, b) => tf.neg(tf.floor(tf.div(a, b))))},
  // ẏ = 2x·ẋ
  {kernelName: tf.Square, jvp: unary(x => tf.mul(2, x))},
  // ẏ = ẋ / 2√x = ẋ / 2y
  {kernelName: tf.Sqrt, jvp: unary((_x, y) => tf.div(0.5, y))},
  // y = x^(−1/2):  ẏ = −ẋ·y / 2x
  {kernelName: tf.Rsqrt, jvp: unary((x, y) => tf.div(tf.mul(-0.5, y), x))},
  // y = 1/x:  ẏ = −ẋ·y²
  {kernelName: tf.Reciprocal, jvp: unary((_x, y) => tf.neg(tf.square(y)))},
  // ẏ = ẋ·(x > 0 ? 1 : −1)  (tfjs: step(x, −1), so |x|'(0) = −1)
  {kernelName: tf.Abs, jvp: unary(x => tf.step(float(x), -1))},
  // ẏ = ẋ·y
  {kernelName: tf.Exp, jvp: unary((_x, y) => y)},
  // ẏ = ẋ·(y + 1)
  {kernelName: tf.Expm1, jvp: unary((_x, y) => tf.add(y, 1))},
  // ẏ = ẋ / x
  {kernelName: tf.Log, jvp: unary(x => tf.reciprocal(x))},
  // ẏ = ẋ / (1 + x)
  {kernelName: tf.Log1p, jvp: unary(x => tf.reciprocal(tf.add(1, x)))},
  // ẏ = ẋ·cos x
  {kernelName: tf.Sin, jvp: unary(x => tf.cos(x))},
  // ẏ = −ẋ·sin x
  {kernelName: tf.Cos, jvp: unary(x => tf.neg(tf.sin(x)))},
  // ẏ = ẋ / cos²x
  {kernelName: tf.Tan, jvp: unary(x => tf.reciprocal(tf.square(tf.cos(x))))},
  // ẏ = ẋ / √(1 − x²)
  {kernelName: tf.Asin, jvp: unary(x => tf.rsqrt(tf.sub(1, tf.square(x))))},
  // ẏ = −ẋ / √(1 − x²)
  {kernelName: tf.Acos, jvp: unary(x => tf.neg(tf.rsqrt(tf.sub(1, tf.square(x)))))},
  // ẏ = ẋ / (1 + x²)
  {kernelName: tf.Atan, jvp: unary(x => tf.reciprocal(tf.add(1, tf.square(x))))},
  // ẏ = ẋ·cosh x
  {kernelName: tf.Sinh, jvp: unary(x => tf.cosh(x))},
  // ẏ = ẋ·sinh x
  {kernelName: tf.Cosh, jvp: unary(x => tf.sinh(x))},
  // ẏ = ẋ / √(x² + 1)
  {kernelName: tf.Asinh, jvp: unary(x => tf.rsqrt(tf.add(tf.square(x), 1)))},
  // ẏ = ẋ / √(x² − 1)
  {kernelName: tf.Acosh, jvp: unary(x => tf.rsqrt(tf.sub(tf.square(x), 1)))},
  // ẏ = ẋ / (1 − x²)
  {kernelName: tf.Atanh, jvp: unary(x => tf.reciprocal(tf.sub(1, tf.square(x))))},
  // ẏ = ẋ·(2/√π)·exp(−x²)
  {kernelName: tf.Erf, jvp: unary(x => tf.mul(2 / Math.sqrt(Math.PI), tf.exp(tf.neg(tf.square(x)))))},
  // ẏ = ẋ·[min ≤ x ≤ max]
  {
    kernelName: tf.ClipByValue,
    jvp: unary((x, _y, attrs) => {
      const {clipValueMin, clipValueMax} = attrs as unknown as ClipByValueAttrs;
      return float(tf.logicalAnd(tf.greaterEqual(x, clipValueMin), tf.lessEqual(x, clipValueMax)));
    }),
  },
];
