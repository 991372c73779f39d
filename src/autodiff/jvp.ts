/**
 * Public forward-mode API: `jvp` (the JAX / PyTorch / Keras 3 shape) and the dual-number API
 * (`withTangents`, `seedTangent`, `tangentOf`) for perturbing tensors created mid-computation.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {TracingError, ValueError} from '../errors';
import {zerosTangent} from './helpers';
import {KernelObserver} from './registry';
import {activeTrace, CustomGradMode, runTraced, Trace, untraced} from './tracer';

/** How forward mode differentiates `tf.customGrad` ops: an option of `jvp` and `withTangents`. */
export interface CustomGradOption {
  /**
   * `'vjp'` (the default): a customGrad op's tangent follows its custom gradient, so forward mode
   * agrees with `tf.grad` (a straight-through estimator passes tangents through, a gradient
   * reversal flips them); the op is opaque (a kernel observer does not see the kernels inside it).
   * `'forward'`: differentiate its forward function, ignoring the custom gradient (the true
   * derivative). tfjs's own customGrad ops (fused matMul / conv2d / depthwiseConv2d,
   * softmaxCrossEntropy, logSoftmax, logSigmoid), whose custom gradients are exact, are traced
   * through their kernels either way.
   */
  customGrad?: CustomGradMode;
}

/** Options of `withTangents`. */
export interface WithTangentsOptions extends CustomGradOption {
  /**
   * Leading batch axes of every tangent: `[]` (the default) pushes one direction, `[K]` pushes K
   * directions through in a single pass.
   */
  batchShape?: number[];
  /**
   * Sees every kernel run inside `fn` and may add a tangent to its pre-activation (activity
   * perturbation); the tracer disposes the tensor it returns. See `KernelObserver`.
   */
  observer?: KernelObserver;
}

/**
 * Runs `fn` with forward-mode tracing on. Inside it, `seedTangent` attaches tangents to tensors and
 * `tangentOf` reads the tangent any tensor computed from them has acquired. Every tangent is freed
 * when `fn` returns or throws; tensors returned by `fn` are unaffected. `tf.customGrad` ops follow
 * their custom gradient unless `options.customGrad` is `'forward'` (see `CustomGradOption`).
 *
 * ```js
 * const dy = fg.withTangents(() => {
 *   const x = tf.tensor1d([1, 2, 3]);
 *   fg.seedTangent(x, tf.ones([3]));
 *   return fg.tangentOf(tf.sum(tf.square(x)));   // ⟨∇Σx², 1⟩ = 12
 * });
 * ```
 */
export function withTangents<T>(fn: () => T, options: WithTangentsOptions = {}): T {
  const batchShape = options.batchShape ?? [];
  if (!Array.isArray(batchShape) || batchShape.some(d => !Number.isInteger(d) || d < 1)) {
    throw new ValueError(
        `withTangents: batchShape must be an array of positive integers. Received: ${batchShape}.`);
  }
  const customGrad = checkCustomGrad('withTangents', options);
  return runTraced(batchShape, () => fn(), options.observer ?? null, customGrad);
}

function checkCustomGrad(fnName: string, options: CustomGradOption): CustomGradMode {
  const mode = options.customGrad ?? 'vjp';
  if (mode !== 'vjp' && mode !== 'forward') {
    throw new ValueError(
        `${fnName}: customGrad must be 'vjp' (follow custom gradients) or 'forward' (differentiate ` +
        `the forward function). Received: ${mode}.`);
  }
  return mode;
}

function requireTrace(fnName: string): Trace {
  const trace = activeTrace();
  if (trace == null) {
    throw new TracingError(`${fnName} must be called inside withTangents() or jvp().`);
  }
  return trace;
}

/**
 * Adds `tangent` to the tangent of `x` (a tensor with none gets `tangent`): the perturbation
 * `x + ε·tangent` seen by forward mode only; the value of `x` is unchanged. The tangent's shape is
 * `[...batchShape, ...x.shape]`. The tracer keeps its own reference; the caller still owns `tangent`.
 */
export function seedTangent(x: Tensor, tangent: Tensor): void {
  const trace = requireTrace('seedTangent');
  if (!(x instanceof Tensor) || !(tangent instanceof Tensor)) {
    throw new ValueError('seedTangent(x, tangent): both arguments must be tensors.');
  }
  if (x.dtype !== 'float32') {
    throw new ValueError(
        `seedTangent: only float32 tensors have tangents. Received x of dtype ${x.dtype}.`);
  }
  const expected = [...trace.batchShape, ...x.shape];
  if (!tf.util.arraysEqual(tangent.shape, expected)) {
    throw new ValueError(
        `seedTangent: the tangent of a tensor of shape [${x.shape}] with tangent batch shape ` +
        `[${trace.batchShape}] must have shape [${expected}]. Received: [${tangent.shape}].`);
  }
  untraced(() => {
    const t = tf.cast(tangent, 'float32');  // a copy the trace owns (shares data; no compute)
    const old = trace.getTangent(x);
    trace.setTangent(x, old == null ? t : tf.tidy(() => tf.add(old, t)));
    if (old != null) {
      t.dispose();
    }
  });
}

/**
 * The tangent of `x` in the active trace, as a new tensor owned by the caller (dispose it or
 * create it in a `tf.tidy`), or `null` when `x` does not depend on any seeded tangent.
 */
export function tangentOf(x: Tensor): Tensor|null {
  const trace = requireTrace('tangentOf');
  const t = trace.getTangent(x);
  return t == null ? null : untraced(() => t.clone());
}

/** True while forward-mode tracing is active (inside `withTangents` or `jvp`). */
export function isTracing(): boolean {
  return activeTrace() != null;
}

/** Options of `jvp`. */
export interface JvpOptions extends CustomGradOption {
  /** `f` returns `[output, aux]`; `aux` is returned as is, without a tangent. Defaults to false. */
  hasAux?: boolean;
}

/** Result of `jvp`: the primal output, its tangent (same structure), and `aux` if requested. */
export interface JvpResult<O, A = unknown> {
  value: O;
  tangent: O;
  aux?: A;
}

/**
 * Forward-mode Jacobian-vector product: evaluates `f(...primals)` and, in the same pass, the
 * directional derivative of its output along `tangents`. Tangents may carry leading batch axes
 * (the same for all): `tangents[i]` of shape `[...B, ...primals[i].shape]` pushes prod(B)
 * directions through at once, and the output tangent then has shape `[...B, ...output.shape]`.
 * `tf.customGrad` ops inside `f` follow their custom gradient, like `tf.grad`, unless
 * `options.customGrad` is `'forward'` (see `CustomGradOption`).
 *
 * ```js
 * const {value, tangent} = fg.jvp(x => tf.sum(tf.square(x)), [tf.tensor1d([1, 2])],
 *                                 [tf.tensor1d([1, 0])]);
 * // value = 5, tangent = 2   (∂/∂x₀ of x₀² + x₁² at x₀ = 1)
 * ```
 */
export function jvp<O extends Tensor|Tensor[], A = unknown>(
    f: (...primals: Tensor[]) => [O, A], primals: Tensor[], tangents: Tensor[],
    options: JvpOptions&{hasAux: true}): JvpResult<O, A>&{aux: A};
/**
 * `jvp` of a function with one output (`tangent` is a Tensor) or several (`f` returns an array of
 * Tensors: `tangent` is an array of the same length).
 */
export function jvp<O extends Tensor|Tensor[]>(
    f: (...primals: Tensor[]) => O, primals: Tensor[], tangents: Tensor[],
    options?: JvpOptions&{hasAux?: false}): JvpResult<O, never>;
export function jvp<O extends Tensor|Tensor[], A = unknown>(
    f: (...primals: Tensor[]) => O | [O, A], primals: Tensor[], tangents: Tensor[],
    options: JvpOptions = {}): JvpResult<O, A> {
  if (typeof f !== 'function') {
    throw new ValueError('jvp(f, primals, tangents): f must be a function.');
  }
  if (!Array.isArray(primals) || !Array.isArray(tangents) || primals.length !== tangents.length) {
    throw new ValueError(
        'jvp(f, primals, tangents): primals and tangents must be arrays of the same length. ' +
        `Received: ${Array.isArray(primals) ? primals.length : typeof primals} primals and ` +
        `${Array.isArray(tangents) ? tangents.length : typeof tangents} tangents.`);
  }
  const batchShape = inferBatchShape(primals, tangents);
  const customGrad = checkCustomGrad('jvp', options);
  if (new Set(primals).size !== primals.length) {
    throw new ValueError('jvp: the same tensor appears twice in primals.');
  }
  return withTangents(() => tf.tidy(() => {
    primals.forEach((p, i) => seedTangent(p, tangents[i]));
    const out = f(...primals);
    let value: O, aux: A|undefined;
    if (options.hasAux) {
      if (!Array.isArray(out) || out.length !== 2) {
        throw new ValueError('jvp with hasAux: f must return [output, aux].');
      }
      [value, aux] = out as [O, A];
    } else {
      value = out as O;
    }
    const outs = Array.isArray(value) ? value : [value];
    if (!outs.every(o => o instanceof Tensor)) {
      throw new ValueError('jvp: f must return a Tensor or an array of Tensors.');
    }
    const tangentOuts = outs.map(o => tangentOf(o) ?? zerosTangent(o, {batchShape}));
    const tangent = (Array.isArray(value) ? tangentOuts : tangentOuts[0]) as O;
    // Keep aux tensors alive past the tidy: tidy keeps only what it returns.
    return {value, tangent, aux} as unknown as tf.TensorContainer;
  }) as unknown as JvpResult<O, A>, {batchShape, customGrad});
}

function inferBatchShape(primals: Tensor[], tangents: Tensor[]): number[] {
  let batch: number[]|null = null;
  primals.forEach((p, i) => {
    const t = tangents[i];
    if (!(p instanceof Tensor) || !(t instanceof Tensor)) {
      throw new ValueError(`jvp: primals[${i}] and tangents[${i}] must be tensors.`);
    }
    const extra = t.rank - p.rank;
    if (extra < 0 || !tf.util.arraysEqual(t.shape.slice(extra), p.shape)) {
      throw new ValueError(
          `jvp: tangents[${i}] must have the shape of primals[${i}] ([${p.shape}]), optionally ` +
          `with leading batch axes. Received: [${t.shape}].`);
    }
    const b = t.shape.slice(0, extra);
    if (batch == null) {
      batch = b;
    } else if (!tf.util.arraysEqual(batch, b)) {
      throw new ValueError(
          `jvp: all tangents must have the same leading batch axes. Received [${batch}] and ` +
          `[${b}] (tangents[${i}]).`);
    }
  });
  return batch ?? [];
}
