/** `stopGradient`: identity in value, zero derivative in both reverse and forward mode. */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';
import {untraced} from './tracer';

const stopGradientOp = tf.customGrad(((x: Tensor) => ({
  // Never return x itself: the engine would then bypass the custom gradient.
  value: x.clone(),
  gradFunc: (dy: Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * Returns a tensor equal to `x` through which no derivative flows: `tf.grad` sees a zero gradient
 * and forward mode (`jvp`, `withTangents`) a zero tangent. tfjs has no stop-gradient op of its own.
 *
 * ```js
 * const g = tf.grad(x => tf.sum(tf.mul(x, fg.stopGradient(x))))(tf.tensor1d([3]));  // [3], not [6]
 * ```
 */
export function stopGradient<T extends Tensor>(x: T): T {
  if (!(x instanceof Tensor)) {
    throw new ValueError(`stopGradient: x must be a Tensor. Received: ${typeof x}.`);
  }
  return untraced(() => stopGradientOp(x)) as T;
}
