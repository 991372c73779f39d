/**
 * The protocol by which layers declare how they learn locally, during one training step: the
 * activity-perturbation sites of the LocalMixer (paper §1.7), the credit layout of their units and
 * weights (which per-(example, patch, group) local derivative credits which unit, §1.8–1.9), and
 * step-scoped annotations that carry what a local loss needs from the layer that produced its input
 * (the head's features and kernel, the DFA taps).
 *
 * Layers call `declareSite` / `annotate`; the optimizer opens the step with `runLocalStep` and
 * listens. Outside a step (predict, evaluate) every call here is a cheap no-op, so layers need not
 * know whether they are being trained. Data flows one way: layers and losses import this file, the
 * optimizer imports it too; it imports neither.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {untraced} from '../autodiff/tracer';

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
 * perturbation (LG-FG-W, paper §1.9):
 * - `columns`: the last axis (output units) is split into G consecutive groups;
 * - `groups`: the first axis indexes the G groups (grouped linear weights [G, in/G, out/G] and
 *   biases [G, out/G]);
 * - `shared`: every group (token mixing): Σ_g.
 */
export type WeightLayout = 'columns'|'groups'|'shared';

/** A layer whose weights learn from local activity perturbation (declared sites) rather than
 *  from the kernel sites the optimizer detects by itself. */
export interface LocalLearner {
  /** The weights its declared sites estimate (the optimizer does not weight-perturb these). */
  activitySiteWeights(): tf.Variable[];
  /** The weight-perturbation credit layout of one of its weights, or null for the global credit. */
  weightLayout(v: tf.Variable): WeightLayout|null;
}

/** True for layers that implement `LocalLearner`. */
export function isLocalLearner(layer: unknown): layer is LocalLearner {
  const l = layer as Partial<LocalLearner>|null;
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

/** Side information attached to a tensor for the rest of the step (see `annotate`). */
export interface Annotation {
  [key: string]: unknown;
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
    throw new Error('runLocalStep: a local training step is already running.');
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
