/**
 * The perturbation sites of activity perturbation (FG-A) and the kernel observer that finds them.
 *
 * A site is a kernel that applies a layer's weight matrix or filter (`_FusedMatMul`, `BatchMatMul`,
 * `FusedConv2D`, `Conv2D`, depthwise convs, `Conv2DBackpropInput`): noise u (independent per example
 * and position) is added to the tangent of its pre-activation z, through the tracer's kernel
 * observer, so it works where tfjs fuses z with the activation. The observer also follows a
 * weight through the reshapes tfjs applies to it, the layer's bias add and separate ReLU (to mask
 * dead units), and the sample weights that multiply a per-example loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {JvpContext, KernelInvocationInfo, KernelObserver} from '../autodiff';
import {LossRecord} from './credit';

/** How a site kernel takes its weight: input names and the gradient config that differentiates it. */
export interface SiteKernelSpec {
  weightInput: string;
  /** The kernel whose registered gradient is the one-layer VJP of the linear part. */
  gradKernel: string;
  /** Inputs of that gradient's `saved` list, in order. */
  saved: string[];
}

/** The kernels that are perturbation sites, by kernel name. */
export const SITE_KERNELS: {[kernelName: string]: SiteKernelSpec} = {
  [tf._FusedMatMul]: {weightInput: 'b', gradKernel: tf.BatchMatMul, saved: ['a', 'b']},
  [tf.BatchMatMul]: {weightInput: 'b', gradKernel: tf.BatchMatMul, saved: ['a', 'b']},
  [tf.FusedConv2D]: {weightInput: 'filter', gradKernel: tf.Conv2D, saved: ['x', 'filter']},
  [tf.Conv2D]: {weightInput: 'filter', gradKernel: tf.Conv2D, saved: ['x', 'filter']},
  [tf.FusedDepthwiseConv2D]:
      {weightInput: 'filter', gradKernel: tf.DepthwiseConv2dNative, saved: ['x', 'filter']},
  [tf.DepthwiseConv2dNative]:
      {weightInput: 'filter', gradKernel: tf.DepthwiseConv2dNative, saved: ['x', 'filter']},
  [tf.Conv2DBackpropInput]:
      {weightInput: 'filter', gradKernel: tf.Conv2DBackpropInput, saved: ['dy', 'filter']},
};

/** Kernels through which a weight keeps its identity (tfjs reshapes kernels before matmuls). */
const ALIAS_KERNELS = new Set<string>([tf.Reshape, tf.Identity, tf.Cast, tf.ExpandDims]);

/** tfjs-layers passes a Dense kernel through an identity `Transpose` for inputs of rank > 2. */
function isIdentityTranspose(k: KernelInvocationInfo): boolean {
  const perm = (k.attrs as {perm?: number[]}).perm;
  return k.kernelName === tf.Transpose && perm != null && perm.every((p, i) => p === i);
}

/** True where the ReLU (or ReLU6) output `y` has a non-zero derivative (a bool tensor: 1 byte a unit). */
export function reluActiveMask(y: Tensor, kind: 'relu'|'relu6'): Tensor {
  return tf.tidy(() => kind === 'relu' ? tf.greater(y, 0) : tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)));
}

/** `gz` with the units where `mask` (bool, see `reluActiveMask`) is false set to 0. */
export function masked(gz: Tensor, mask: Tensor|null): Tensor {
  return mask == null ? gz : tf.mul(gz, tf.cast(mask, 'float32'));
}

/**
 * A site's activity noise, by what determines it: noise is a function of its seed, so beyond a
 * budget (`keepNoiseBytes`) a step keeps this instead of the tensor and draws the noise again
 * when it assembles the gradients (one activation-sized tensor less per site alive through the
 * forward pass).
 */
export interface NoiseDraw {
  /** The tangent batch shape [K] of the step. */
  batchShape: number[];
  /** The activity shape of the site. */
  shape: number[];
  seed: number;
}

/** A layer weight that activity perturbation estimates. */
export interface SiteWeight {
  variable: tf.Variable;
  layerName: string;
  /** The layer's bias, credited from this weight's site (the layer's last kernel), if any. */
  bias: tf.Variable|null;
  /** Indices of the model outputs whose losses this layer can reach. */
  outputs: number[];
  /**
   * The layer's own activation if it is ReLU or ReLU6 and applies to this weight's site (the
   * layer's last kernel): where tfjs runs it as a separate kernel, the dead units are still masked.
   */
  reluActivation: 'relu'|'relu6'|null;
}

/** One perturbed kernel invocation of the current step. */
export interface KernelSite {
  weight: SiteWeight;
  spec: SiteKernelSpec;
  kernelName: string;
  /** Kept copies of the kernel inputs the one-layer VJP needs. */
  saved: Tensor[];
  attrs: NamedAttrMap;
  /** The noise, shape [...batchShape, ...z.shape] (see `NoiseDraw`). */
  noise: NoiseDraw;
  /** True where the fused activation's derivative is non-zero (bool, kept), or null. */
  mask: Tensor|null;
  zShape: number[];
}

/** The site weights and biases of a model (see `ModelAttachment`), by variable id. */
export interface SiteTables {
  readonly siteWeights: ReadonlyMap<number, SiteWeight>;
  readonly siteBiases: ReadonlySet<number>;
}

/** What the observer writes into: the step's record (see `StepRecorder`). */
export interface SiteSink {
  /** The kernel sites found so far in this step, in order. */
  readonly sites: KernelSite[];
  /** The per-example losses recorded so far, by output index (their sample weights are filled in). */
  readonly records: ReadonlyArray<LossRecord|null>;
  /** The noise of the next site, of activity shape `shape`. */
  drawNoise(batchShape: readonly number[], shape: number[]): NoiseDraw;
  /** The noise `draw` describes (a new tensor). */
  noiseOf(draw: NoiseDraw): Tensor;
  /** Keeps `t` until the step ends. */
  keep<T extends Tensor>(t: T): T;
}

/** The kernel observer of one step: perturbs every site's pre-activation and records the site. */
export class KernelSiteObserver {
  private readonly aliases = new Map<number, SiteWeight>();
  /** Ids of reshapes of the site biases, by the bias variable's id. */
  private readonly biasAliases = new Map<number, number>();
  /** Tensors that are a site's pre-activation (plus its layer's bias) awaiting the layer's ReLU. */
  private readonly preActivations = new Map<number, KernelSite>();

  constructor(private readonly tables: SiteTables, private readonly sink: SiteSink) {}

  /** The kernel observer (see `withTangents`' `observer` option). */
  readonly observe: KernelObserver = (k: KernelInvocationInfo, ctx: JvpContext) => {
    if (ALIAS_KERNELS.has(k.kernelName) || isIdentityTranspose(k)) {
      const x = k.inputs.x;
      const w = x == null ? undefined : this.siteWeightOf(x);
      if (w != null) {
        this.aliases.set(k.outputs[0].id, w);
      }
      const bias = x == null ? undefined : this.biasIdOf(x);
      if (bias != null) {
        this.biasAliases.set(k.outputs[0].id, bias);
      }
      return null;
    }
    if (k.kernelName === tf.Add) {
      this.followBiasAdd(k);
      return null;
    }
    if (k.kernelName === tf.Relu || k.kernelName === tf.Relu6) {
      this.maskFromActivation(k);
      return null;
    }
    if (k.kernelName === tf.Multiply) {
      this.followSampleWeights(k.inputs);
      return null;
    }
    const spec = SITE_KERNELS[k.kernelName];
    const w = spec == null ? undefined : this.siteWeightOf(k.inputs[spec.weightInput]);
    if (spec == null || w == null) {
      return null;
    }
    const y = k.outputs[0];
    const noise = this.sink.drawNoise(ctx.batchShape, y.shape);
    this.sink.sites.push({
      weight: w, spec, kernelName: k.kernelName,
      saved: spec.saved.map(name => this.sink.keep(k.inputs[name].clone())),
      attrs: k.attrs, noise, mask: this.activeMask(k), zShape: y.shape,
    });
    const site = this.sink.sites[this.sink.sites.length - 1];
    if (site.mask == null && w.reluActivation != null) {
      this.preActivations.set(y.id, site);
    }
    return this.sink.noiseOf(noise);  // the tracer disposes what it is given
  };

  private biasIdOf(t: Tensor): number|undefined {
    return this.tables.siteBiases.has(t.id) ? t.id : this.biasAliases.get(t.id);
  }

  /** z + bias (the layer's own bias) is still the site's pre-activation for the mask. */
  private followBiasAdd(k: KernelInvocationInfo): void {
    const {a, b} = k.inputs;
    for (const [z, other] of [[a, b], [b, a]]) {
      const site = z == null ? undefined : this.preActivations.get(z.id);
      if (site != null && other != null && site.weight.bias != null &&
          this.biasIdOf(other) === site.weight.bias.id) {
        this.preActivations.set(k.outputs[0].id, site);
        return;
      }
    }
  }

  /**
   * The layer's own ReLU / ReLU6, run as a separate kernel on its pre-activation: its units with a
   * zero derivative get no activity estimate (as for fused activations).
   */
  private maskFromActivation(k: KernelInvocationInfo): void {
    const x = k.inputs.x;
    const site = x == null ? undefined : this.preActivations.get(x.id);
    const kind = k.kernelName === tf.Relu ? 'relu' : 'relu6';
    if (site == null || site.mask != null || site.weight.reluActivation !== kind) {
      return;
    }
    const y = k.outputs[0];
    site.mask = this.sink.keep(reluActiveMask(y, kind));
  }

  private siteWeightOf(t: Tensor|null|undefined): SiteWeight|undefined {
    if (t == null) {
      return undefined;
    }
    return this.tables.siteWeights.get(t.id) ?? this.aliases.get(t.id);
  }

  /** Sample weights multiply the per-example loss right after the loss function: remember them. */
  private followSampleWeights(inputs: NamedTensorMap): void {
    this.sink.records.forEach(r => {
      if (r != null && r.sampleWeights == null) {
        const other = inputs.a === r.perExample ? inputs.b : inputs.b === r.perExample ? inputs.a : null;
        if (other != null) {
          r.sampleWeights = this.sink.keep(other.clone());
        }
      }
    });
  }

  /** Where a fused ReLU-family activation is inactive its derivative is exactly 0: mask those. */
  private activeMask(k: KernelInvocationInfo): Tensor|null {
    const activation = (k.attrs as {activation?: string}).activation;
    return activation === 'relu' || activation === 'relu6' ? this.sink.keep(reluActiveMask(k.outputs[0], activation)) : null;
  }
}
