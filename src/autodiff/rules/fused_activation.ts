/**
 * The derivative of the activations that tfjs fuses into `_FusedMatMul`, `FusedConv2D` and
 * `FusedDepthwiseConv2D` (attr `activation`), as a factor multiplying the pre-activation tangent.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

/**
 * Multiplies `tz`, the tangent of the pre-activation z, by act'(z). `y` = act(z) is the kernel's
 * output; `z` is computed lazily only for activations whose derivative needs it (prelu, relu6,
 * leakyrelu). `tprelu` is the tangent of the prelu weights, if any (it also contributes when `tz` is
 * a zero tensor).
 * Derivatives at kinks follow tfjs's gradients (relu'(0) = 0, relu6'(6) = 1).
 */
export function applyFusedActivationJvp(
    tz: Tensor, activation: string|undefined, y: Tensor, z: () => Tensor,
    leakyreluAlpha: number|undefined, prelu: Tensor|null, tprelu: Tensor|null = null): Tensor {
  switch (activation ?? 'linear') {
    case 'linear':
      return tz;
    case 'relu':
      return tf.mul(tz, tf.step(y));
    case 'relu6': {
      const zz = z();
      return tf.mul(tz, tf.mul(tf.step(zz), tf.cast(tf.lessEqual(zz, 6), 'float32')));
    }
    case 'elu':  // elu'(z) = 1 for z > 0, else exp(z) = y + 1
      return tf.mul(tz, tf.where(tf.greater(y, 0), tf.onesLike(y), tf.add(y, 1)));
    case 'sigmoid':
      return tf.mul(tz, tf.mul(y, tf.sub(1, y)));
    case 'leakyrelu': {
      const alpha = leakyreluAlpha ?? 0.2;
      return tf.mul(tz, tf.where(tf.greater(z(), 0), tf.onesLike(y), tf.fill(y.shape, alpha)));
    }
    case 'prelu': {
      if (prelu == null) {
        throw new Error('fused prelu activation without preluActivationWeights');
      }
      // y = z for z > 0, else α·z:  ẏ = ż·(z > 0 ? 1 : α) + (z > 0 ? 0 : α̇·z)
      const zz = z();
      const positive = tf.greater(zz, 0);
      const t = tf.mul(tz, tf.where(positive, tf.onesLike(zz), tf.mul(tf.onesLike(zz), prelu)));
      return tprelu == null ? t : tf.add(t, tf.mul(tprelu, tf.where(positive, tf.zerosLike(zz), zz)));
    }
    default:
      throw new Error(`unknown fused activation '${activation}'`);
  }
}
