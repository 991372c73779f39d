/**
 * `exactCustomGrad`: a `tf.customGrad` op whose custom gradient is the true gradient, written in
 * closed form for speed or memory (fewer tape nodes, fewer saved intermediates). Forward mode
 * follows a user's customGrad op by its custom VJP (a surrogate gradient is meant to be followed);
 * an op made here is instead traced inline, kernel by kernel, like tfjs's own fused ops: the same
 * tangent, one rule per kernel instead of a taped VJP and a backward pass per direction.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {declareExactCustomGradScope} from './tracer';

/** The function `tf.customGrad` takes: inputs and `save` → `{value, gradFunc}`. */
export type ExactCustomGradFunc = Parameters<typeof tf.customGrad>[0];

/**
 * `tf.customGrad(f)` run as the op `name` (an op scope, as tfjs's `op()` makes), declared exact:
 * `f`'s gradient must be the true gradient of its value, since forward mode differentiates the
 * value's kernels. Returns the op, called like the function `tf.customGrad` returns.
 */
export function exactCustomGrad(name: string, f: ExactCustomGradFunc): (...inputs: Tensor[]) => Tensor {
  const g = tf.customGrad(f);
  const op = tf.op({[name]: (...inputs: Tensor[]) => g(...inputs)});
  declareExactCustomGradScope(`${name}__op`);
  return op as (...inputs: Tensor[]) => Tensor;
}
