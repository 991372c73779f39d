/**
 * Activity perturbation (FG-A) for tfjs-layers models: which kernels are perturbation sites, the
 * per-example losses, and the assembly of weight gradients from activity estimates.
 *
 * A site is a kernel that applies a layer's weight matrix or filter (`_FusedMatMul`, `BatchMatMul`,
 * `FusedConv2D`, `Conv2D`, depthwise convs, `Conv2DBackpropInput`): noise u (independent per example
 * and position) is added to the tangent of its pre-activation z, through the tracer's kernel
 * observer, so it works where tfjs fuses z with the activation. One JVP yields the per-example
 * directional derivatives d_n of the per-example losses; the activity gradient estimate is
 * ĝ_z = d_n·u (masked where the layer's ReLU is inactive) and the weight gradient is the one-layer VJP
 * of z with cotangent ĝ_z (tfjs's own gradient of that one kernel): no backward pass through the
 * network.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {isTracing, JvpContext, KernelInvocationInfo, KernelObserver, seedTangent, tangentOf} from '../autodiff';
import {untraced, withTapePaused} from '../autodiff/tracer';
import {ValueError} from '../errors';
import {ActivityLayout, annotationOf, isLocalLearner, LocalLearner, LocalStepListener, SiteDeclaration, SiteHandle, WeightLayout} from '../layers/local_step';
import {noiseSeed, NoiseKind, sampleNoise} from './noise';

/** How a site kernel takes its weight: input names and the gradient config that differentiates it. */
interface SiteKernelSpec {
  weightInput: string;
  /** The kernel whose registered gradient is the one-layer VJP of the linear part. */
  gradKernel: string;
  /** Inputs of that gradient's `saved` list, in order. */
  saved: string[];
}

const SITE_KERNELS: {[kernelName: string]: SiteKernelSpec} = {
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

/**
 * The mean over the leading axis of directions [K, ...]: with one direction the tensor itself,
 * without a kernel (the mean of one value is that value, bit for bit).
 */
function meanOverDirections(t: Tensor): Tensor {
  return t.shape[0] === 1 ? tf.reshape(t, t.shape.slice(1)) : tf.mean(t, 0);
}

/** 1 where the ReLU (or ReLU6) output `y` has a non-zero derivative, else 0. */
function reluActiveMask(y: Tensor, kind: 'relu'|'relu6'): Tensor {
  return tf.tidy(() => kind === 'relu' ? tf.step(y) : tf.mul(tf.step(y), tf.cast(tf.less(y, 6), 'float32')));
}

/** Layer properties holding perturbable weights, in the order their kernels run. */
const KERNEL_PROPERTIES = ['kernel', 'depthwiseKernel', 'pointwiseKernel'];

/** Layers whose training-mode computation mixes examples: per-example credit would be biased. */
const EXAMPLE_COUPLING_LAYERS = new Set(['BatchNormalization']);

/** A layer weight that activity perturbation estimates. */
interface SiteWeight {
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
interface Site {
  weight: SiteWeight;
  spec: SiteKernelSpec;
  kernelName: string;
  /** Kept copies of the kernel inputs the one-layer VJP needs. */
  saved: Tensor[];
  attrs: NamedAttrMap;
  /** The noise, shape [...batchShape, ...z.shape] (kept). */
  noise: Tensor;
  /** 1 where the fused activation's derivative is non-zero (kept), or null. */
  mask: Tensor|null;
  zShape: number[];
}

/** The per-example loss of one model output in the current step. */
interface LossRecord {
  perExample: Tensor;
  tangent: Tensor|null;
  /** Per-(example, patch, group) tangents [...K, N, P, G] of a local loss, if it records them. */
  localTangents: Tensor|null;
  sampleWeights: Tensor|null;
}

/** The directional derivatives credited by one output's loss, normalized as the batch loss. */
interface OutputDerivatives {
  /** Per example, [K, N]. */
  perExample: Tensor;
  /** Per (example, patch, group), [K, N, P, G], for local losses. */
  local: Tensor|null;
}

/** A site declared by a layer (the LocalMixer's normalized pre-activations). */
interface DeclaredSite {
  decl: SiteDeclaration;
  saved: Tensor[];
  noise: Tensor;
  mask: Tensor|null;
  zShape: number[];
}

type LossFn = (yTrue: Tensor, yPred: Tensor) => Tensor;

function innerModel(model: tfl.LayersModel): tfl.LayersModel {
  return (model as unknown as {model?: tfl.LayersModel}).model ?? model;
}

/** Every layer of a model, nested models flattened. */
function flatLayers(layer: tfl.layers.Layer): tfl.layers.Layer[] {
  const nested = (layer as unknown as {layers?: tfl.layers.Layer[]}).layers;
  return nested == null ? [layer] : [layer, ...nested.flatMap(flatLayers)];
}

/** For each output of `model`, the names of the layers its value depends on. */
function layersReachingOutputs(model: tfl.LayersModel): Array<Set<string>> {
  return model.outputLayers.map(out => {
    const seen = new Set<string>();
    const stack: tfl.layers.Layer[] = [out];
    while (stack.length > 0) {
      const layer = stack.pop()!;
      if (seen.has(layer.name)) {
        continue;
      }
      for (const l of flatLayers(layer)) {
        seen.add(l.name);
      }
      if ((layer as unknown as {stopsDerivatives?: boolean}).stopsDerivatives === true) {
        continue;  // a stop-gradient: nothing upstream can change this output's loss
      }
      for (const node of layer.inboundNodes) {
        stack.push(...node.inboundLayers);
      }
    }
    return seen;
  });
}

function variableOf(w: unknown): tf.Variable|null {
  const lv = w as {read?: () => tf.Tensor}|null|undefined;
  return lv != null && typeof lv.read === 'function' ? lv.read() as tf.Variable : null;
}

/**
 * What activity perturbation knows about a model: its perturbable weights, which outputs each can
 * reach, and the hooks (installed only for the duration of a step, by `run`) that expose the
 * per-example losses. Created by `optimizer.attach` (the forward-gradient callback does it when
 * training begins); it never leaves the model modified, so dropping it needs no clean-up.
 */
export class ModelAttachment {
  readonly model: tfl.LayersModel;
  /** Site weights by variable id. */
  readonly siteWeights = new Map<number, SiteWeight>();
  /** Variable ids of the biases credited by sites. */
  readonly siteBiases = new Set<number>();
  /** Weights of layers that declare their own sites (LocalLearner), by variable id. */
  readonly localWeights = new Map<number, {layer: LocalLearner, layerName: string}>();
  /** For each layer name, the indices of the model outputs whose losses it can reach. */
  readonly outputsOfLayer = new Map<string, number[]>();
  /**
   * For each output, the layers that feed its output layer directly: a local loss's per-(patch,
   * group) credit applies to them; layers further upstream get per-example (per-row) credit.
   */
  readonly directInputs: Array<Set<string>>;
  /** V: rows per example (views of a contrastive model); they share their noise. */
  readonly views: number;
  /** Number of model outputs (loss functions). */
  readonly numOutputs: number;
  /** Layers whose `call` runs with the gradient tape paused during a step (see `run`). */
  private readonly tapePausedLayers: tfl.layers.Layer[] = [];
  private running = false;
  /** Per-example losses of the running step, by output index. */
  records: Array<LossRecord|null> = [];

  /**
   * `forActivity` false: for weight perturbation (local credit only): layers that couple examples
   * are fine and no kernel site is collected.
   */
  constructor(model: tfl.LayersModel, readonly forActivity = true, exactLayers: readonly string[] = []) {
    this.model = innerModel(model);
    const layers = flatLayers(this.model);
    const coupling = layers.filter(l => EXAMPLE_COUPLING_LAYERS.has(l.getClassName()));
    if (forActivity && coupling.length > 0) {
      throw new ValueError(
          `forwardGradient({perturb: 'activity'}): layer '${coupling[0].name}' ` +
          `(${coupling[0].getClassName()}) mixes the examples of a batch in training mode, so ` +
          `per-example credit would be biased. Use perturb: 'weight', or a per-example ` +
          `normalization (LayerNormalization, this package's layer norm) instead.`);
    }
    const lossFunctions = (this.model as unknown as {lossFunctions?: LossFn[]}).lossFunctions;
    if (lossFunctions == null) {
      throw new ValueError('forwardGradient: the model must be compiled before training.');
    }
    const reach = layersReachingOutputs(this.model);
    this.directInputs = this.model.outputLayers.map(
        out => new Set(out.inboundNodes.flatMap(node => node.inboundLayers.map(l => l.name))));
    this.views = Math.max(1, ...layers.map(l => (l as unknown as {viewsPerExample?: number}).viewsPerExample ?? 1));
    for (const layer of layers) {
      this.outputsOfLayer.set(layer.name, reach.map((set, k) => set.has(layer.name) ? k : -1).filter(k => k >= 0));
      if (isLocalLearner(layer)) {
        for (const v of layer.activitySiteWeights()) {
          this.localWeights.set(v.id, {layer, layerName: layer.name});
        }
        continue;
      }
      if (!forActivity || exactLayers.includes(layer.name)) {
        continue;  // exact layers get their gradient by backprop, not from a site
      }
      const l = layer as unknown as {[key: string]: unknown};
      const kernels = KERNEL_PROPERTIES.map(p => variableOf(l[p])).filter((v): v is tf.Variable => v != null);
      const bias = variableOf(l.bias);
      kernels.forEach((variable, i) => {
        if (!variable.trainable) {
          return;
        }
        const last = i === kernels.length - 1;
        const outputs = reach.map((set, k) => set.has(layer.name) ? k : -1).filter(k => k >= 0);
        const activation = (l.activation as {getClassName?: () => string}|undefined)?.getClassName?.();
        this.siteWeights.set(variable.id, {
          variable, layerName: layer.name, bias: last && bias != null && bias.trainable ? bias : null, outputs,
          reluActivation: last && (activation === 'relu' || activation === 'relu6') ? activation : null,
        });
        if (last && bias != null) {
          this.siteBiases.add(bias.id);
        }
      });
    }
    if (exactLayers.length > 0) {
      // Exact layers get one backward pass over the step's forward pass. Only they, the losses and
      // what follows need the tape: every other layer runs with it paused (see `run`), so the
      // backward pass keeps none of the backbone's activations alive (it stops at the exact
      // layers' inputs).
      this.tapePausedLayers = layers.filter(layer => !(
          layer === this.model || exactLayers.includes(layer.name) || layer.getClassName() === 'InputLayer' ||
          (layer as unknown as {layers?: unknown}).layers != null));
    }
    this.numOutputs = lossFunctions.length;
  }

  /**
   * Runs one training step's `fn` with the model patched for it: the compiled loss functions
   * (whatever they are now) record the per-example losses, and the tape is paused in the layers
   * that need no backward pass. Everything is restored when `fn` returns or throws, so nothing of
   * a step (nor of a fit that failed mid-way) outlives it; outside `run` the model is untouched.
   */
  run<T>(fn: () => T): T {
    if (this.running) {
      throw new Error('ModelAttachment.run: a step of this model is already running.');
    }
    const lossFunctions = (this.model as unknown as {lossFunctions?: LossFn[]}).lossFunctions;
    if (lossFunctions == null || lossFunctions.length !== this.numOutputs) {
      throw new ValueError(
          'forwardGradient: the model was recompiled with other outputs since the optimizer was ' +
          'attached; attach it again (optimizer.attach(model)).');
    }
    const originalLosses = lossFunctions.slice();
    const paused = new Set(this.tapePausedLayers);
    const originalCalls = this.model.layers.map(layer => ({layer, own: Object.prototype.hasOwnProperty.call(layer, 'call'), call: layer.call}));
    this.running = true;
    try {
      originalLosses.forEach((fn, i) => {
        lossFunctions[i] = (yTrue: Tensor, yPred: Tensor) => this.record(i, fn(yTrue, yPred));
      });
      for (const {layer, call} of originalCalls) {
        layer.call = (inputs, kwargs) => {
          checkNotEmpty(layer, inputs);
          return paused.has(layer) ? withTapePaused(() => call.call(layer, inputs, kwargs)) : call.call(layer, inputs, kwargs);
        };
      }
      return fn();
    } finally {
      originalLosses.forEach((fn, i) => lossFunctions[i] = fn);
      for (const {layer, own, call} of originalCalls) {
        if (own) {
          layer.call = call;
        } else {
          delete (layer as unknown as {call?: unknown}).call;  // back to the prototype's
        }
      }
      this.running = false;
    }
  }

  /** Records output `i`'s per-example loss of the traced step (see `run`). */
  private record(i: number, loss: Tensor): Tensor {
    if (isTracing() && this.records.length > 0) {
      const t = tangentOf(loss);
      const local = annotationOf(loss)?.localTangents as Tensor|undefined;
      this.records[i] = {
        perExample: loss, tangent: t == null ? null : tf.keep(t),
        localTangents: local == null ? null : tf.keep(untraced(() => local.clone())), sampleWeights: null,
      };
    }
    return loss;
  }


  /** The trainable variables of the named layers (a ValueError names an unknown layer). */
  variablesOfLayers(names: readonly string[]): tf.Variable[] {
    const layers = flatLayers(this.model);
    return names.flatMap(name => {
      const layer = layers.find(l => l.name === name);
      if (layer == null) {
        throw new ValueError(
            `forwardGradient: exactLayers names layer '${name}', which the model does not have. ` +
            `Its layers: ${layers.map(l => l.name).join(', ')}.`);
      }
      return layer.trainableWeights.map(w => w.read() as tf.Variable);
    });
  }
}

/** The perturbation sites and losses of one training step. */
export class ActivityStep implements LocalStepListener {
  readonly sites: Site[] = [];
  readonly declaredSites: DeclaredSite[] = [];
  private readonly aliases = new Map<number, SiteWeight>();
  /** Ids of reshapes of the site biases, by the bias variable's id. */
  private readonly biasAliases = new Map<number, number>();
  /** Tensors that are a site's pre-activation (plus its layer's bias) awaiting the layer's ReLU. */
  private readonly preActivations = new Map<number, Site>();
  private readonly kept: Tensor[] = [];

  /**
   * `perturbActivities` false: only the losses are recorded (weight perturbation with local
   * credit); no site is perturbed.
   */
  constructor(
      private readonly attachment: ModelAttachment, private readonly noise: NoiseKind,
      private readonly seed: number|null, private readonly step: number,
      readonly perturbActivities = true, readonly localCredit = true, readonly sumOverBatch = false) {
    attachment.records = new Array(attachment.numOutputs).fill(null);
  }

  /**
   * Noise of a site with activity shape `shape`: i.i.d. per example and position; the V rows of one
   * example (the views of a contrastive model) get the same noise.
   */
  private siteNoise(batchShape: readonly number[], shape: number[]): Tensor {
    const views = this.attachment.views;
    const seed = this.siteSeed();
    if (views === 1 || shape.length === 0 || shape[0] % views !== 0) {
      return sampleNoise([...batchShape, ...shape], this.noise, seed);
    }
    return tf.tidy(() => {
      const u = sampleNoise([...batchShape, shape[0] / views, ...shape.slice(1)], this.noise, seed);
      return tf.concat(new Array(views).fill(u), batchShape.length);
    });
  }

  /** The next site's noise seed (kernel and declared sites share the counter). */
  private siteSeed(): number|null {
    const index = this.sites.length + this.declaredSites.length;
    return this.seed == null ? null : noiseSeed(this.seed, this.step, 1 + index);
  }

  /**
   * LocalStepListener: a layer's site. Its noise u is added to the tangent of z (the primal is not
   * perturbed); its weights' gradients come from the layer's local VJP of the activity estimate.
   */
  declareSite(decl: SiteDeclaration): SiteHandle {
    if (!this.perturbActivities || !isTracing()) {
      return {setActive: () => {}};
    }
    const batchShape = this.batchShape();
    const noise = this.keep(this.siteNoise(batchShape, decl.z.shape));
    seedTangent(decl.z, noise);
    const site: DeclaredSite = {
      decl, saved: decl.saved.map(t => this.keep(untraced(() => t.clone()))), noise, mask: null,
      zShape: decl.z.shape,
    };
    this.declaredSites.push(site);
    return {
      setActive: (post: Tensor) => {
        site.mask = this.keep(untraced(() => tf.tidy(() => tf.reshape(tf.step(post), site.zShape))));
      },
    };
  }

  private batchShapeCache: readonly number[]|null = null;
  /** The tangent batch shape of the running step. */
  private batchShape(): readonly number[] {
    return this.batchShapeCache ?? [];
  }
  /** Set by the optimizer before the forward pass. */
  setBatchShape(batchShape: readonly number[]): void {
    this.batchShapeCache = [...batchShape];
  }

  /** The kernel observer that perturbs every site's pre-activation. */
  readonly observer: KernelObserver = (k: KernelInvocationInfo, ctx: JvpContext) => {
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
    const noise = this.keep(this.siteNoise(ctx.batchShape, y.shape));
    this.sites.push({
      weight: w, spec, kernelName: k.kernelName,
      saved: spec.saved.map(name => this.keep(k.inputs[name].clone())),
      attrs: k.attrs, noise, mask: this.activeMask(k), zShape: y.shape,
    });
    const site = this.sites[this.sites.length - 1];
    if (site.mask == null && w.reluActivation != null) {
      this.preActivations.set(y.id, site);
    }
    return noise.clone();  // the tracer disposes what it is given
  };

  private biasIdOf(t: Tensor): number|undefined {
    return this.attachment.siteBiases.has(t.id) ? t.id : this.biasAliases.get(t.id);
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
    site.mask = this.keep(reluActiveMask(y, kind));
  }

  private siteWeightOf(t: Tensor|null|undefined): SiteWeight|undefined {
    if (t == null) {
      return undefined;
    }
    return this.attachment.siteWeights.get(t.id) ?? this.aliases.get(t.id);
  }

  /** Sample weights multiply the per-example loss right after the loss function: remember them. */
  private followSampleWeights(inputs: NamedTensorMap): void {
    this.attachment.records.forEach(r => {
      if (r != null && r.sampleWeights == null) {
        const other = inputs.a === r.perExample ? inputs.b : inputs.b === r.perExample ? inputs.a : null;
        if (other != null) {
          r.sampleWeights = this.keep(other.clone());
        }
      }
    });
  }

  /** Where a fused ReLU-family activation is inactive its derivative is exactly 0: mask those. */
  private activeMask(k: KernelInvocationInfo): Tensor|null {
    const activation = (k.attrs as {activation?: string}).activation;
    return activation === 'relu' || activation === 'relu6' ? this.keep(reluActiveMask(k.outputs[0], activation)) : null;
  }

  private keep<T extends Tensor>(t: T): T {
    this.kept.push(t);
    return tf.keep(t);
  }

  /**
   * The directional derivatives credited to each output's loss, normalized like the batch loss
   * (weighted loss of example n / number of loss elements; with `sumOverBatch`, not divided by the
   * batch size: the batch sum of the per-example losses): per example [K, N], and per
   * (example, patch, group) [K, N, P, G] for local losses. Non-finite values (the step will be
   * skipped) are zeroed: the gradients feed the inner optimizer's state.
   */
  private outputDerivatives(batchShape: readonly number[]): Array<OutputDerivatives|null> {
    if (this.derivatives == null) {
      this.derivatives = this.computeOutputDerivatives(batchShape);
    }
    return this.derivatives;
  }

  /** Computed once per step (the tensors live in the optimizer's tidy). */
  private derivatives: Array<OutputDerivatives|null>|null = null;

  private computeOutputDerivatives(batchShape: readonly number[]): Array<OutputDerivatives|null> {
    const nb = batchShape.length;
    const k = batchShape.reduce((a, b) => a * b, 1);
    const finite = (t: Tensor) => tf.where(tf.isFinite(t), t, tf.zerosLike(t));
    return this.attachment.records.map((r, i) => {
      if (r == null || r.tangent == null) {
        return null;
      }
      const lossShape = r.perExample.shape;
      let t = r.tangent;
      if (lossShape.length === 0) {
        // A loss already reduced to a scalar (e.g. tf.losses.*): one term shared by the batch. Its
        // tangent credits every example's activities (unbiased, FG-W-like variance). The training
        // loss is then mean(loss · w) = loss · mean(w).
        t = tf.reshape(t, [k, 1]);
        return {perExample: finite(r.sampleWeights == null ? t : tf.mul(t, tf.mean(r.sampleWeights))), local: null};
      }
      const n = lossShape[0];
      // the batch mean (or, sumOverBatch, the batch sum) of the per-example losses
      const denominator = this.sumOverBatch ? r.perExample.size / n : r.perExample.size;
      if (n === 0) {
        throw new ValueError(
            `forwardGradient: the batch has 0 examples (the loss of output ` +
            `'${this.attachment.model.outputNames[i]}' is empty); per-example credit needs at least ` +
            `one. Check the data and the batch size.`);
      }
      if (r.sampleWeights != null) {
        t = tf.mul(t, r.sampleWeights);
      }
      // Sum the non-example axes (e.g. time steps) of the per-example loss.
      const extra = lossShape.slice(1).map((_, i) => nb + 1 + i);
      if (extra.length > 0) {
        t = tf.sum(t, extra);
      }
      const perExample = finite(tf.reshape(tf.div(t, denominator), [k, n]));
      let local: Tensor|null = null;
      if (r.localTangents != null) {
        // rows: N, or V·N for V views per example (view-major)
        const [rows, p, g] = r.localTangents.shape.slice(-3) as number[];
        let l = tf.reshape(r.localTangents, [k, rows / n, n, p, g]);
        if (r.sampleWeights != null) {
          l = tf.mul(l, tf.reshape(r.sampleWeights, [1, 1, n, 1, 1]));
        }
        local = finite(tf.reshape(tf.div(l, denominator), [k, rows, p, g]));
      }
      return {perExample, local};
    });
  }

  /**
   * Gradients of the site weights and biases from the activity estimates, keyed by variable name.
   * Sites of the same weight (a layer applied twice) add up.
   */
  weightGradients(batchShape: readonly number[]): Map<string, Tensor> {
    const grads = new Map<string, Tensor>();
    const add = (v: tf.Variable, g: Tensor) => {
      const prev = grads.get(v.name);
      grads.set(v.name, prev == null ? g : tf.add(prev, g));
    };
    const derivatives = this.outputDerivatives(batchShape);
    const k = batchShape.reduce((a, b) => a * b, 1);
    for (const site of this.sites) {
      const terms = site.weight.outputs.map(i => derivatives[i]?.perExample).filter((d): d is Tensor => d != null);
      if (terms.length === 0) {
        continue;  // no loss depends on this site in this step
      }
      const d = terms.length === 1 ? terms[0] : tf.addN(terms);  // [K, N]
      const n = d.shape[1] as number;
      const zSize = site.zShape.reduce((a, b) => a * b, 1);
      // ĝ_z = mean over directions of d_n · u (broadcast over the example's positions and units)
      const u = tf.reshape(site.noise, [k, n, zSize / n]);
      let gz = tf.reshape(meanOverDirections(tf.mul(tf.reshape(d, [k, n, 1]), u)), site.zShape);
      if (site.mask != null) {
        gz = tf.mul(gz, site.mask);
      }
      const vjp = tf.getGradient(site.spec.gradKernel)!.gradFunc(gz, site.saved, site.attrs);
      const w = site.weight.variable;
      add(w, tf.reshape(vjp[site.spec.weightInput](), w.shape));
      const bias = site.weight.bias;
      if (bias != null) {
        const channelAxis = gz.rank - 1;
        const axes = gz.shape.map((_, i) => i).filter(i => i !== channelAxis);
        add(bias, tf.reshape(tf.sum(gz, axes), bias.shape));
      }
    }
    for (const site of this.declaredSites) {
      const outputs = this.attachment.outputsOfLayer.get(site.decl.layerName) ?? [];
      const terms = outputs.filter(i => derivatives[i] != null).map(i => this.creditedEstimate(
          site, derivatives[i]!, k, this.localCredit && this.attachment.directInputs[i].has(site.decl.layerName)));
      if (terms.length === 0) {
        continue;
      }
      let gz = terms.length === 1 ? terms[0] : tf.addN(terms);
      if (site.mask != null) {
        gz = tf.mul(gz, site.mask);
      }
      const g = site.decl.gradients(gz, site.saved);
      site.decl.weights.forEach((w, i) => add(w, g[i]));
    }
    return grads;
  }

  /**
   * mean_k credit_k ⊙ u_k for a declared site, shape z: each unit is credited by the local
   * derivative of the (example, patch, group) losses it can reach (its layout), or by its
   * example's derivative for losses without local structure.
   */
  private creditedEstimate(site: DeclaredSite, d: OutputDerivatives, k: number, direct: boolean): Tensor {
    const z = site.zShape;
    const n = z[0];
    const size = z.reduce((a, b) => a * b, 1);
    if (d.local == null || !direct) {
      // per example (per row): a loss without local structure, or a layer upstream of the layer
      // the local loss reads (its units reach every patch and group of the loss)
      const perRow = d.local == null ? d.perExample : tf.sum(d.local, [2, 3]);
      if (perRow.shape[1] !== n) {
        throw new ValueError(
            `forwardGradient: the loss credits ${perRow.shape[1]} rows per batch but layer ` +
            `'${site.decl.layerName}' has ${n} (views of an example need a loss with per-row tangents).`);
      }
      const u = tf.reshape(site.noise, [k, n, size / n]);
      return tf.reshape(meanOverDirections(tf.mul(tf.reshape(perRow, [k, n, 1]), u)), z);
    }
    const [p, g] = d.local.shape.slice(2) as number[];
    const layout: ActivityLayout = site.decl.layout;
    const patchAxis = layout === 'tokens' ? z.length - 1 : 1;
    if (z[patchAxis] !== p || (layout === 'channels' && (size / (n * p)) % g !== 0)) {
      throw new ValueError(
          `forwardGradient: the local loss of layer '${site.decl.layerName}' has ${p} patches and ` +
          `${g} groups, which do not match its activity of shape [${z}] (layout '${layout}'). ` +
          `Give the block and its head the same groups.`);
    }
    if (layout === 'channels') {
      // rank-3 views (wasm's broadcasting kernels are per-element index loops, slower at rank 5)
      const u = tf.reshape(site.noise, [k, n * p * g, size / (n * p * g)]);
      return tf.reshape(meanOverDirections(tf.mul(tf.reshape(d.local, [k, n * p * g, 1]), u)), z);
    }
    const u = tf.reshape(site.noise, [k * n, size / (n * p), p]);
    return tf.reshape(meanOverDirections(tf.reshape(tf.mul(tf.reshape(tf.sum(d.local, -1), [k * n, 1, p]), u), [k, -1])), z);
  }

  /**
   * Weight perturbation with local credit (LG-FG-W, paper §1.9): for a weight of a LocalLearner,
   * the credit of each direction broadcast to the weight's shape [K, ...w.shape], from the
   * per-(block, group) sums of its local losses' derivatives; null for the global credit.
   */
  weightCredit(v: tf.Variable, batchShape: readonly number[]): Tensor|null {
    const local = this.attachment.localWeights.get(v.id);
    const layout: WeightLayout|null = local?.layer.weightLayout(v) ?? null;
    if (local == null || layout == null) {
      return null;
    }
    const k = batchShape.reduce((a, b) => a * b, 1);
    const derivatives = this.outputDerivatives(batchShape);
    const outputs = this.attachment.outputsOfLayer.get(local.layerName) ?? [];
    const terms: Tensor[] = [];
    for (const i of outputs) {
      const d = derivatives[i];
      if (d == null) {
        continue;
      }
      if (d.local == null || layout === 'shared' || !this.localCredit ||
          !this.attachment.directInputs[i].has(local.layerName)) {
        const total = tf.sum(d.local ?? d.perExample, d.local == null ? 1 : [1, 2, 3]);  // [K]
        terms.push(tf.reshape(total, [k, ...v.shape.map(() => 1)]));
        continue;
      }
      const g = d.local.shape[3] as number;
      const perGroup = tf.sum(d.local, [1, 2]);  // [K, G]
      const last = v.shape[v.rank - 1];
      if (layout === 'columns') {
        if (last % g !== 0) {
          throw new ValueError(`forwardGradient: ${g} groups do not divide the columns of weight '${v.name}' [${v.shape}].`);
        }
        const c = tf.reshape(perGroup, [k, ...v.shape.slice(0, -1).map(() => 1), g, 1]);
        terms.push(tf.reshape(tf.tile(c, [1, ...v.shape.slice(0, -1).map(() => 1), 1, last / g]), [k, ...v.shape.slice(0, -1).map(() => 1), last]));
      } else {
        if (v.shape[0] !== g) {
          throw new ValueError(`forwardGradient: weight '${v.name}' [${v.shape}] has not ${g} groups on its first axis.`);
        }
        terms.push(tf.reshape(perGroup, [k, g, ...v.shape.slice(1).map(() => 1)]));
      }
    }
    if (terms.length === 0) {
      return tf.zeros([k, ...v.shape.map(() => 1)]);
    }
    return terms.reduce((a, b) => tf.add(a, b));
  }

  /** Frees everything the step kept. */
  dispose(): void {
    tf.dispose(this.kept);
    for (const r of this.attachment.records) {
      r?.tangent?.dispose();
      r?.localTangents?.dispose();
    }
    this.attachment.records = [];
  }
}

/**
 * Per-example credit needs examples: a ValueError before a layer runs on an empty batch (some
 * backends fail on empty tensors inside the forward pass, with messages that do not say why).
 */
function checkNotEmpty(layer: tfl.layers.Layer, inputs: Tensor|Tensor[]): void {
  const first = Array.isArray(inputs) ? inputs[0] : inputs;
  if (first != null && first.rank > 0 && first.shape[0] === 0) {
    throw new ValueError(
        `forwardGradient: the batch has 0 examples (the input of layer '${layer.name}' is empty); ` +
        `per-example credit needs at least one. Check the data and the batch size.`);
  }
}
