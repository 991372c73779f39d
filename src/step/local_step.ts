/**
 * The protocol by which layers declare how they learn locally, during one training step: the
 * activity-perturbation sites of the LocalMixer (paper §3.3 and §4), the credit layout of their units and
 * weights (which per-(example, patch, group) local derivative credits which unit; the official code's `update_forward_grad_*`), and
 * step-scoped annotations that carry what a local loss needs from the layer that produced its input
 * (the head's features and kernel, the DFA taps).
 *
 * Layers call `declareSite` / `annotate`; the optimizer opens the step with `runLocalStep` and
 * listens. Outside a step (predict, evaluate) every call here is a cheap no-op, so layers need not
 * know whether they are being trained. The optional capabilities a layer declares to the step are
 * one interface, `StepCapabilities`. Data flows one way: layers, losses and the optimizer import
 * this file; it imports none of them (it describes a training step, not a layer).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {untraced} from '../autodiff/internal';
import {TracingError} from '../errors';

/**
 * How the per-(example n, patch p, group g) local derivatives s[n,p,g] of a local loss credit the
 * units of an activity `z`:
 * - `channels`: z is [N, P, C] (or [N, P, G, C/G]); unit (n,p,c) gets s[n,p, c div (C/G)];
 * - `tokens`: z is [N, C, P] (the transposed token-mixing layout); unit (n,c,p) gets Σ_g s[n,p,g]
 *   (a token-mixing unit at patch p reaches every group of patch p and no other patch).
 */
export type ActivityLayout = 'channels'|'tokens';

/**
 * How the per-(block, group) derivatives Σ_{n,p} s[n,p,g] credit a weight under weight
 * perturbation (LG-FG-W; the official code's `update_forward_grad_weights`):
 * - `columns`: the last axis (output units) is split into G consecutive groups;
 * - `groups`: the first axis indexes the G groups (grouped linear weights [G, in/G, out/G] and
 *   biases [G, out/G]);
 * - `shared`: every group (token mixing): Σ_g.
 */
export type WeightLayout = 'columns'|'groups'|'shared';

/**
 * The optional capabilities a layer declares to the training step (all optional: a plain tfjs
 * layer declares none). The optimizer reads them through `capabilitiesOf`.
 */
export interface StepCapabilities {
  /** True while the layer lets no derivative into its input: no loss downstream reaches upstream layers. */
  readonly stopsDerivatives?: boolean;
  /** V: rows per example of the layer's output (the views of a contrastive model); they share noise. */
  readonly viewsPerExample?: number;
  /** LocalLearner: the weights its declared sites estimate (the optimizer does not weight-perturb these). */
  activitySiteWeights?(): tf.Variable[];
  /** LocalLearner: the weight-perturbation credit layout of one of its weights, or null for the global credit. */
  weightLayout?(v: tf.Variable): WeightLayout|null;
}

/** The step capabilities of `layer` (see `StepCapabilities`). */
export function capabilitiesOf(layer: object): StepCapabilities {
  return layer as StepCapabilities;
}

/** A layer whose weights learn from local activity perturbation (declared sites) rather than
 *  from the kernel sites the optimizer detects by itself. */
export type LocalLearner = Required<Pick<StepCapabilities, 'activitySiteWeights'|'weightLayout'>>;

/** True for layers that implement `LocalLearner`. */
export function isLocalLearner(layer: unknown): layer is LocalLearner {
  const l = layer as StepCapabilities|null;
  return l != null && typeof l.activitySiteWeights === 'function' && typeof l.weightLayout === 'function';
}

/** What a layer tells the optimizer about one activity-perturbation site. */
export interface SiteDeclaration {
  /** Name of the declaring layer (error messages, reachability of losses). */
  layerName: string;
  /** The perturbed activity: the normalized pre-activation (after LayerNorm, before ReLU). */
  z: Tensor;
  layout: ActivityLayout;
  /** The weights this site's estimate trains, in the order `gradients` returns theirs. */
  weights: tf.Variable[];
  /** Tensors `gradients` needs (the linear layer's input and output): kept for the step. */
  saved: Tensor[];
  /**
   * The local one-layer VJP: weight gradients from the activity gradient `gz` (shape of z),
   * given copies of `saved` in the same order. No derivative crosses the layer's input.
   */
  gradients(gz: Tensor, saved: Tensor[]): Tensor[];
}

/** Returned by `declareSite`: the layer reports the site's ReLU once it has applied it. */
export interface SiteHandle {
  /** `post` is the post-ReLU activity of the site's units: units with post ≤ 0 get no estimate. */
  setActive(post: Tensor): void;
}

/** What the optimizer listens to during a step. */
export interface LocalStepListener {
  declareSite(site: SiteDeclaration): SiteHandle;
}

/**
 * What a local head tells its local loss about its output during a forward-mode training step: how
 * the output's tangent splits over the (patch, group) losses, in whichever of two forms is smaller
 * for the head's sizes (kept for the step, so the smaller, the less memory a step holds).
 */
export interface LocalHeadInfo {
  /**
   * [...K, N, P, G, C]: the tangent of each (patch p, group g)'s share of the output,
   * Σ_{d∈g} ẋ[n,p,d]·W[d,c] / P, ẋ the tangent of the features the head averages over the patches
   * and W its kernel [D, C]. Null when the head gives `featuresTangent` instead.
   */
  shares: Tensor|null;
  /** [...K, N, P, D]: ẋ itself, with `kernel`; null when the head gives `shares`. */
  featuresTangent: Tensor|null;
  /** The kernel W [D, C] (with `featuresTangent`). */
  kernel: Tensor|null;
  groups: number;
}

/** A direct-feedback-alignment tap of a block: its activity `x` and the fixed projection to the classes. */
export interface DfaTap {
  x: Tensor;
  projection: Tensor;
}

/** Side information attached to a tensor for the rest of the step (see `annotate`). */
export interface Annotation {
  /** On a local head's logits: what its local loss needs (set by `LocalLossHead`). */
  localHead?: LocalHeadInfo;
  /** On a block's output, and passed on to its head's logits: the block's DFA taps. */
  dfaTaps?: DfaTap[]|null;
  /** On a head's logits under feedback alignment: the logits through the fixed random matrix. */
  feedbackLogits?: Tensor|null;
  /** On a local loss: its per-(row, patch, group) tangents [...K, N, P, G] (the optimizer's credit). */
  localTangents?: Tensor;
}

class LocalStep {
  readonly annotations = new Map<number, Annotation>();
  readonly kept: Tensor[] = [];
  constructor(readonly listener: LocalStepListener|null) {}
}

let current: LocalStep|null = null;

const NO_SITE: SiteHandle = {setActive: () => {}};

/**
 * Runs one training step's forward computation with `listener` receiving the layers' site
 * declarations (null: annotations only, e.g. backprop modes). Everything kept for annotations is
 * freed when `fn` returns or throws. Steps do not nest.
 */
export function runLocalStep<T>(listener: LocalStepListener|null, fn: () => T): T {
  if (current != null) {
    throw new TracingError('runLocalStep: a local training step is already running; steps do not nest.');
  }
  const step = new LocalStep(listener);
  current = step;
  try {
    return fn();
  } finally {
    current = null;
    tf.dispose(step.kept);
  }
}

/** True inside `runLocalStep`. */
export function inLocalStep(): boolean {
  return current != null;
}

/** Declares an activity-perturbation site (a no-op outside a step that listens for sites). */
export function declareSite(site: SiteDeclaration): SiteHandle {
  return current?.listener == null ? NO_SITE : current.listener.declareSite(site);
}

/**
 * Attaches `info` to tensor `t` until the step ends (a no-op outside a step). The tensors listed in
 * `keep` are kept alive until then (use it for tensors of `info` that a tidy would free).
 */
export function annotate(t: Tensor, info: Annotation, keep: Tensor[] = []): void {
  if (current == null) {
    return;
  }
  for (const k of keep) {
    current.kept.push(tf.keep(k));
  }
  current.annotations.set(t.id, {...(current.annotations.get(t.id) ?? {}), ...info});
}

/** The annotation of `t` in the running step, or null. */
export function annotationOf(t: Tensor): Annotation|null {
  return current?.annotations.get(t.id) ?? null;
}

/** A copy of `t` that carries no tangent and is kept until the step ends (or `t` outside a step). */
export function keepForStep(t: Tensor): Tensor {
  const c = untraced(() => t.clone());
  if (current == null) {
    return c;
  }
  current.kept.push(tf.keep(c));
  return c;
}
