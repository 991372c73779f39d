/**
 * The one signature of the gradient estimators: `estimate(f, vars, ctx)` runs one training step's
 * loss `f` and returns the loss, the (raw) gradients of `vars` and whether all of it is finite. The
 * optimizer picks the estimator, post-processes the gradients (see `transforms.ts`) and applies them.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {Perturbation} from '../args';
import {ModelAttachment} from '../model_attachment';
import {NoiseKind} from '../noise';

/** What an estimator needs to know about the step beyond the loss and the variables. */
export interface EstimatorContext {
  readonly perturb: Perturbation;
  /** The optimizer's step counter (it selects the noise stream of a seeded run). */
  readonly step: number;
  /** K: directions averaged, pushed through in one pass. */
  readonly samples: number;
  readonly noise: NoiseKind;
  readonly seed: number|null;
  /** The model, for activity perturbation, local credit and exact layers (see `attach`). */
  readonly attachment: ModelAttachment|null;
  readonly exactLayers: readonly string[];
  readonly localCredit: boolean;
  readonly sumOverBatch: boolean;
  /** Activity perturbation: the bytes of noise a step may keep instead of drawing it again. */
  readonly keepNoiseBytes: number;
}

/** What an estimator returns (tensors owned by the caller's tidy). */
export interface Estimate {
  value: tf.Scalar;
  /** The raw gradient estimates by variable name (some variables may have none). */
  grads: NamedTensorMap;
  /** A bool scalar: whether the loss, its directional derivative and every gradient are finite. */
  finite: Tensor;
  /** The directional derivative of the loss per direction [K] (forward estimators), else null. */
  directionalDerivative: Tensor|null;
}

/** A gradient estimator. */
export type Estimator = (f: () => tf.Scalar, vars: tf.Variable[], ctx: EstimatorContext) => Estimate;
