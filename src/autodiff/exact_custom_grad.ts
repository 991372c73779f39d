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
import {InputGradient, runCustomGradOp} from './tracer_tape';

/**
 * What `tf.customGrad` takes — `f(...inputs, save)` → `{value, gradFunc}` — where `gradFunc` may
 * give an input's gradient as a function that computes it, called only when the backward pass needs
 * that input's gradient (a layer whose input is the model's input never computes it).
 */
export type ExactCustomGradFunc = (...args: Array<Tensor|((tensors: Tensor[]) => void)>) =>
    {value: Tensor, gradFunc: (dy: Tensor, saved: Tensor[]) => InputGradient|InputGradient[]};

/**
 * `f` as a `tf.customGrad` op named `name` (an op scope, as tfjs's `op()` makes), declared exact:
 * `f`'s gradient must be the true gradient of its value, since forward mode differentiates the
 * value's kernels. Returns the op, called like the function `tf.customGrad` returns.
 */
export function exactCustomGrad(name: string, f: ExactCustomGradFunc): (...inputs: Tensor[]) => Tensor {
  const run = (...inputs: Tensor[]) => {
    let gradFunc: ((dy: Tensor, saved: Tensor[]) => InputGradient|InputGradient[])|null = null;
    return runCustomGradOp(inputs, save => {
      const res = f(...inputs, save);
      tf.util.assert(res.value instanceof tf.Tensor && typeof res.gradFunc === 'function',
                     () => `${name}: f must return {value: Tensor, gradFunc: function}.`);
      gradFunc = res.gradFunc;
      return res.value;
    }, (dy, saved) => {
      const grads = gradFunc!(dy, saved);
      return Array.isArray(grads) ? grads : [grads];
    });
  };
  const op = tf.op({[name]: run});
  declareExactCustomGradScope(`${name}__op`);
  return op as (...inputs: Tensor[]) => Tensor;
}
