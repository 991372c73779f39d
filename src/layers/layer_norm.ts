/**
 * Parameter-free layer normalization, as the LocalMixer uses it before and after every linear layer
 * (paper §3.1 and Appendix 14: no gain, no bias, eps 1e-5), optionally per channel group ("local
 * LN"). Written with broadcasting element-wise ops and two means only on a rank-2/3 view of the
 * input, so that its forward-mode tangent stays a handful of kernels, and with its closed-form
 * gradient, which keeps only its output and 1/σ for the backward pass (tfjs-layers'
 * LayerNormalization has a gain and a bias, and its gradient runs several times as many kernels).
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';

import {exactCustomGrad, ExactCustomGradFunc} from '../autodiff/exact_custom_grad';
import {ValueError} from '../errors';
import {customGradOk, fmtShape, isPositiveInt, layerLabel, reshapeTo, singleInput, singleShape} from './utils';

/** Options of `normalize` (and the arguments the `LayerNorm` layer adds to the common ones). */
export declare interface LayerNormOptions {
  /**
   * The axis normalized over (negative counts from the end). Defaults to -1, the last axis. With
   * `groups` > 1 it must be the last axis.
   */
  axis?: number;
  /**
   * G: the last axis (D channels) is split into G consecutive groups of D/G channels, each
   * normalized on its own. Must divide D. Defaults to 1 (the whole axis).
   */
  groups?: number;
  /** Added to the variance before the inverse square root (≥ 0). Defaults to 1e-5, as the paper. */
  epsilon?: number;
}

/** Arguments of the `LayerNorm` layer: `axis` (not the batch axis), `groups` and `epsilon`. */
export declare interface LayerNormArgs extends LayerArgs, LayerNormOptions {}

const DEFAULT_EPSILON = 1e-5;

/** Validated options with defaults filled in. */
interface ResolvedOptions {
  axis: number;
  groups: number;
  epsilon: number;
}

/** Checks the rank-independent options; `who` names the caller in messages. */
function resolveOptions(options: LayerNormOptions, who: string): ResolvedOptions {
  const {axis = -1, groups = 1, epsilon = DEFAULT_EPSILON} = options ?? {};
  if (typeof axis !== 'number' || !Number.isInteger(axis)) {
    throw new ValueError(`${who}: axis must be an integer. Received: axis=${JSON.stringify(axis)}.`);
  }
  if (!isPositiveInt(groups)) {
    throw new ValueError(`${who}: groups must be a positive integer. Received: groups=${JSON.stringify(groups)}.`);
  }
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) {
    throw new ValueError(
        `${who}: epsilon must be a finite number ≥ 0. Received: epsilon=${JSON.stringify(epsilon)}.`);
  }
  return {axis, groups, epsilon};
}

/**
 * Checks the options against an input shape; returns the non-negative axis. `who` names the
 * caller in messages.
 */
function checkAgainstShape(o: ResolvedOptions, shape: ReadonlyArray<number|null>, who: string): number {
  const rank = shape.length;
  if (rank < 1) {
    throw new ValueError(`${who}: the input must have rank ≥ 1. Received: a scalar.`);
  }
  if (o.axis < -rank || o.axis >= rank) {
    throw new ValueError(
        `${who}: axis ${o.axis} is out of range for an input of rank ${rank}. ` +
        `Received: axis=${o.axis}, input shape ${fmtShape(shape)}.`);
  }
  const axis = o.axis < 0 ? o.axis + rank : o.axis;
  if (o.groups > 1) {
    if (axis !== rank - 1) {
      throw new ValueError(
          `${who}: groups > 1 normalizes groups of the last axis only; axis must be -1 (or ${rank - 1}). ` +
          `Received: axis=${o.axis}, groups=${o.groups}, input shape ${fmtShape(shape)}.`);
    }
    const d = shape[rank - 1];
    if (d != null && d % o.groups !== 0) {
      throw new ValueError(
          `${who}: groups ${o.groups} does not divide the last axis of size ${d}. ` +
          `Received: groups=${o.groups}, input shape ${fmtShape(shape)}.`);
    }
  }
  return axis;
}

/** The forward pass over `axis`: y and 1/√(σ² + ε) (kept dims). Plain kernels, no custom gradient. */
export function normalizeForward(x: Tensor, axis: number, epsilon: number): {y: Tensor, rstd: Tensor} {
  const mean = tf.mean(x, axis, true);
  const centered = tf.sub(x, mean);
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), epsilon));
  return {y: tf.mul(centered, rstd), rstd};
}

/**
 * The pull-back of y = (x − μ)/σ over `axis`, from its output y and 1/σ:
 * dx = (dy − mean(dy) − y·mean(dy·y)) / σ (the closed form of the parameter-free LN's VJP; the code's
 * `norm_grad`, paper §3.6).
 */
export function normalizePullback(y: Tensor, rstd: Tensor, dy: Tensor, axis: number): Tensor {
  return tf.tidy(() => {
    const dyMean = tf.mean(dy, axis, true);
    const dyyMean = tf.mean(tf.mul(dy, y), axis, true);
    return tf.mul(tf.sub(tf.sub(dy, dyMean), tf.mul(y, dyyMean)), rstd);
  });
}

/**
 * The view of an input that is normalized over its `axis`: the input itself when it has rank ≤ 3 and
 * no groups, else [outer, size] or [outer, size, inner], normalized over axis 1.
 */
export interface View {
  shape: number[];
  axis: number;
}

function viewOf(shape: number[], axis: number, groups: number): View {
  if (groups === 1 && shape.length <= 3) {
    return {shape, axis};
  }
  const size = groups > 1 ? shape[shape.length - 1] / groups : shape[axis];
  const inner = groups > 1 ? 1 : tf.util.sizeFromShape(shape.slice(axis + 1));
  const outer = tf.util.sizeFromShape(shape) / (size * inner);
  return {shape: inner === 1 ? [outer, size] : [outer, size, inner], axis: 1};
}

/**
 * `normalize` with plain kernels (no custom gradient), also returning 1/σ and the view it normalized
 * (shape and axis): for a forward-mode step, where a local pull-back (`normalizePullback` on that
 * view) reuses them instead of recomputing the statistics. Same value as `normalize`.
 */
export function normalizeWithStats(x: Tensor, options: LayerNormOptions = {}): {y: Tensor, rstd: Tensor, view: View} {
  const o = resolveOptions(options, 'normalizeWithStats');
  const view = viewOf(x.shape, checkAgainstShape(o, x.shape, 'normalizeWithStats'), o.groups);
  const {y, rstd} = tf.tidy(() => {
    const r = normalizeForward(reshapeTo(x, view.shape), view.axis, o.epsilon);
    return {y: reshapeTo(r.y, x.shape), rstd: r.rstd};
  });
  return {y, rstd, view};
}

/**
 * The normalization itself, options already checked. An input of rank > 3 or with groups is viewed
 * as [outer, size] (the axis last) or [outer, size, inner], so that every kernel of the value, its tangent and its gradient
 * runs on tensors of rank ≤ 3 (≤ 4 with batched tangents). It is one backward op: its gradient is
 * the closed-form pull-back from the saved output and 1/σ (seven kernels; the autodiff-derived one
 * takes several times as many, and keeps the centered input, its square and the views alive until
 * the backward pass). The forward mode differentiates the kernels of its forward function, which is
 * exact.
 */
function normalizeChecked(x: Tensor, axis: number, groups: number, epsilon: number): Tensor {
  const shape = x.shape;
  const {shape: view, axis: ax} = viewOf(shape, axis, groups);
  if (!customGradOk()) {
    return tf.tidy(() => reshapeTo(normalizeForward(reshapeTo(x, view), ax, epsilon).y, shape));
  }
  const op = exactCustomGrad('fgLayerNorm', ((xi: Tensor, save: (ts: Tensor[]) => void) => {
    const {y, rstd} = normalizeForward(reshapeTo(xi, view), ax, epsilon);
    save([y, rstd]);
    return {
      value: reshapeTo(y, shape),
      gradFunc: (dy: Tensor, [sy, sr]: Tensor[]) =>
          tf.tidy(() => reshapeTo(normalizePullback(sy, sr, reshapeTo(dy, view), ax), shape)),
    };
  }) as unknown as ExactCustomGradFunc);
  return op(x);
}

/**
 * Layer normalization without gain or bias: (x − μ) / √(σ² + ε), μ and σ² the mean and the biased
 * variance over `axis`, or, with `groups` G > 1, over each of the G consecutive channel groups of
 * the last axis (the paper's per-group "local LN").
 *
 * The variance is computed centered, σ² = mean((x − μ)²). The paper's code uses
 * mean(x²) − mean(x)², which is the same number in exact arithmetic; the centered form cancels no
 * large terms (for |μ| ≫ σ the other loses about log10(μ²/σ²) digits of float32 precision and can go
 * negative), and it also needs fewer kernels, in the value and in its tangent. Differences from the
 * paper's formula are float32 rounding only.
 *
 * ```js
 * const x = tf.tensor2d([[1, 2, 3, 4], [0, 10, 10, 30]]);
 * fg.layers.normalize(x).print();               // each row: mean 0, variance ≈ 1
 * fg.layers.normalize(x, {groups: 2}).print();  // each half row: [-1, 1] (up to ε)
 * ```
 */
export function normalize<T extends Tensor>(x: T, options: LayerNormOptions = {}): T {
  if (!(x instanceof Tensor)) {
    throw new ValueError(`normalize: x must be a Tensor. Received: ${typeof x}.`);
  }
  if (x.dtype !== 'float32') {
    throw new ValueError(`normalize: x must be float32. Received: dtype ${x.dtype}.`);
  }
  const o = resolveOptions(options, 'normalize');
  const axis = checkAgainstShape(o, x.shape, 'normalize');
  return normalizeChecked(x, axis, o.groups, o.epsilon) as T;
}

/**
 * Parameter-free layer normalization as a layer (see `normalize`): normalizes over `axis` (default
 * the last), or per channel group with `groups`. Output shape = input shape; no weights. The batch
 * axis cannot be normalized over: every example stays independent of the others.
 */
export class LayerNorm extends tfl.layers.Layer {
  /** @nocollapse */
  static get className(): string {
    return 'fg.LayerNorm';
  }

  readonly axis: number;
  readonly groups: number;
  readonly epsilon: number;

  constructor(args: LayerNormArgs = {}) {
    super(args ?? {});
    const o = resolveOptions(args ?? {}, layerLabel(this));
    this.axis = o.axis;
    this.groups = o.groups;
    this.epsilon = o.epsilon;
  }

  /** Checks an input shape; returns the non-negative axis. */
  private checkShape(shape: ReadonlyArray<number|null>): number {
    const who = layerLabel(this);
    if (shape.length < 2) {
      throw new ValueError(
          `${who} expects inputs of rank ≥ 2 [batch, ...]. Received: input shape ${fmtShape(shape)}.`);
    }
    const axis = checkAgainstShape(this, shape, who);
    if (axis === 0) {
      throw new ValueError(
          `${who}: cannot normalize over the batch axis. Received: axis=${this.axis}, ` +
          `input shape ${fmtShape(shape)}.`);
    }
    return axis;
  }

  override build(inputShape: tfl.Shape|tfl.Shape[]): void {
    this.checkShape(singleShape(this, inputShape));
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    return shape;
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = singleInput(this, inputs);
      const axis = this.checkShape(x.shape);
      return normalizeChecked(x, axis, this.groups, this.epsilon);
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), axis: this.axis, groups: this.groups, epsilon: this.epsilon};
  }
}
serialization.registerClass(LayerNorm);

/**
 * A parameter-free layer normalization layer (no gain, no bias): over the last axis by default, over
 * another `axis`, or per channel group of the last axis with `groups` — the LocalMixer's "local LN".
 *
 * ```js
 * const tokens = tf.input({shape: [16, 64]});                          // [batch, patches, channels]
 * const perPatch = fg.layers.layerNorm().apply(tokens);       // over the 64 channels
 * const perGroup = fg.layers.layerNorm({groups: 4}).apply(tokens);  // 4 groups of 16
 * ```
 */
export function layerNorm(args: LayerNormArgs = {}): LayerNorm {
  return new LayerNorm(args);
}
