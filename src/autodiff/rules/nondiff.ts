/**
 * JVP rules: kernels with zero derivative: piecewise-constant float results (rounding, sign, step,
 * floor division), comparisons and logic, index-valued results, and kernels that take no
 * differentiable input. Kernels whose outputs are all integer or boolean never reach their rule (the
 * tracer gives such outputs no tangent); they are listed anyway, as documentation.
 *
 * Deliberately absent: `Unique` (its float `values` output selects entries of x, so its derivative
 * is not zero) and `NonMaxSuppressionV5` (its `selectedScores` depend on the scores).
 * `Bincount` / `DenseBincount` are linear in their weights and get a real rule below.
 */
import * as tf from '@tensorflow/tfjs-core';

import {zeroJvp} from '../helpers';
import {JvpConfig, JvpRule} from '../registry';

/** Kernels whose every output has zero derivative with respect to every input. */
const ZERO_DERIVATIVE_KERNELS: string[] = [
  // Piecewise-constant float results.
  tf.Floor, tf.Ceil, tf.Round, tf.Sign, tf.Step, tf.FloorDiv,
  // Results that do not depend on the input's values.
  tf.ZerosLike, tf.OnesLike, tf.Fill, tf.Range, tf.LinSpace, tf.OneHot, tf.Multinomial,
  // Comparisons, predicates and logic (boolean results).
  tf.Equal, tf.NotEqual, tf.Greater, tf.GreaterEqual, tf.Less, tf.LessEqual, tf.LogicalAnd,
  tf.LogicalNot, tf.LogicalOr, tf.LogicalXor, tf.IsNan, tf.IsInf, tf.IsFinite, tf.All, tf.Any,
  // Index- or integer-valued results.
  tf.ArgMax, tf.ArgMin, tf.SearchSorted, tf.LowerBound, tf.UpperBound, tf.NonMaxSuppressionV3,
  tf.NonMaxSuppressionV4, tf.BitwiseAnd, tf.BroadcastArgs, tf.RaggedRange,
];

/**
 * y[..., j] = Σ_i w[..., i]·[x[..., i] = j] is linear in the weights: ẏ = Σ_i ẇ_i·onehot(x_i);
 * with binaryOutput (0/1 results) or no weight tangent the derivative is zero.
 */
const bincountJvp: JvpRule = (inputs, {weights: tw}, attrs, [y], ctx) => {
  if (tw == null || attrs.binaryOutput === true || inputs.weights.size === 0) {
    return null;
  }
  const size = attrs.size as number;
  const hot = tf.oneHot(tf.cast(inputs.x, 'int32'), size);  // [..., n, size]; out of range → 0
  const contrib = tf.mul(tf.expandDims(tw, -1), hot);     // [batch, ..., n, size]
  return tf.reshape(tf.sum(contrib, -2), [...ctx.batchShape, ...y.shape]);
};

/** JVP rules of the nondiff kernel family. */
export const nondiffJvps: JvpConfig[] = [
  // ẏ = 0.
  ...ZERO_DERIVATIVE_KERNELS.map(kernelName => ({kernelName, jvp: zeroJvp})),
  {kernelName: tf.Bincount, jvp: bincountJvp},
  {kernelName: tf.DenseBincount, jvp: bincountJvp},
];
