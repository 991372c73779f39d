/**
 * The JVP rule registry: one rule per tfjs kernel name, the forward-mode counterpart of tfjs's
 * `registerGradient` / `getGradient`.
 */
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';

/** A tangent, or `null` for a symbolic zero (no work is done for it). */
export type Tangent = Tensor|null;

/** The tangents of a kernel's inputs, keyed like its inputs (`x`, `a`, `b`, `filter`, ...). */
export type NamedTangentMap = {[inputName: string]: Tangent};

/** Facts about the running trace that a rule may need. */
export interface JvpContext {
  /**
   * Leading axes that every tangent carries before the primal's own axes: `[]` for one direction,
   * `[K]` for K directions pushed through in one pass. A tangent of a primal of shape `s` has
   * shape `[...batchShape, ...s]`.
   */
  readonly batchShape: readonly number[];
  /**
   * A tangent that a kernel observer (see `KernelObserver`) adds to this kernel's pre-activation:
   * rules of kernels with a fused activation add it before the activation's derivative; for other
   * kernels the tracer adds it to the output tangent. `null` almost always.
   */
  readonly preActivationTangent?: Tensor|null;
}

/** A kernel invocation seen by a `KernelObserver`. */
export interface KernelInvocationInfo {
  kernelName: string;
  inputs: NamedTensorMap;
  attrs: NamedAttrMap;
  outputs: Tensor[];
}

/**
 * Sees every kernel that runs while tracing (not those run by JVP rules) and may return a tangent
 * to add to the kernel's pre-activation (shape `[...batchShape, ...outputs[0].shape]`): the hook
 * for activity perturbation, which perturbs the linear part of a layer even where tfjs fuses it
 * with its activation.
 */
export type KernelObserver = (kernel: KernelInvocationInfo, ctx: JvpContext) => Tensor|null;

/** Kernels whose rules apply `ctx.preActivationTangent` themselves (before a fused activation). */
export const FUSED_ACTIVATION_KERNELS: ReadonlySet<string> =
    new Set(['_FusedMatMul', 'FusedConv2D', 'FusedDepthwiseConv2D']);

/**
 * A JVP rule: given a kernel's primal inputs, their tangents, the kernel's attrs and its primal
 * outputs (already computed), return the tangent of each output (`null` = zero).
 */
export type JvpRule = (
    inputs: NamedTensorMap, tangents: NamedTangentMap, attrs: NamedAttrMap, outputs: Tensor[],
    ctx: JvpContext) => Tangent|Tangent[];

/** A registered JVP rule, in the shape of tfjs's `GradConfig`. */
export interface JvpConfig {
  kernelName: string;
  jvp: JvpRule;
}

const REGISTRY_KEY = '__tfjsForwardGradientJvpRegistry';

function registry(): Map<string, JvpConfig> {
  // Global like tfjs's own registries, so duplicate copies of this package share one table.
  const g = globalThis as unknown as {[REGISTRY_KEY]?: Map<string, JvpConfig>};
  if (g[REGISTRY_KEY] == null) {
    g[REGISTRY_KEY] = new Map();
  }
  return g[REGISTRY_KEY]!;
}

/**
 * Registers (or replaces) the JVP rule of a kernel. Use it to teach forward mode a custom kernel,
 * or to override a built-in rule.
 *
 * ```js
 * fg.registerJvpRule('Softsign', (inputs, tangents) =>
 *     tf.div(tangents.x, tf.square(tf.add(1, tf.abs(inputs.x)))));
 * ```
 */
export function registerJvpRule(kernelName: string, jvp: JvpRule): void {
  if (typeof kernelName !== 'string' || kernelName.length === 0) {
    throw new ValueError(`registerJvpRule: kernelName must be a non-empty string, got ${kernelName}.`);
  }
  if (typeof jvp !== 'function') {
    throw new ValueError(`registerJvpRule('${kernelName}'): the rule must be a function.`);
  }
  registry().set(kernelName, {kernelName, jvp});
}

/** Registers a list of rule configs (a family file's table). */
export function registerJvpConfigs(configs: JvpConfig[]): void {
  for (const c of configs) {
    registerJvpRule(c.kernelName, c.jvp);
  }
}

/** The rule registered for a kernel, or `undefined`. */
export function getJvpRule(kernelName: string): JvpRule|undefined {
  return registry().get(kernelName)?.jvp;
}

/** Removes a kernel's rule; throws if it has none (like tfjs's `unregisterGradient`). */
export function unregisterJvpRule(kernelName: string): void {
  if (!registry().delete(kernelName)) {
    throw new ValueError(`unregisterJvpRule: kernel '${kernelName}' has no JVP rule.`);
  }
}

/** Names of every kernel that has a JVP rule, sorted. */
export function listJvpRules(): string[] {
  return [...registry().keys()].sort();
}
