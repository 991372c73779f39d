/**
 * The one adapter between activity perturbation and tfjs-layers internals: it reads a compiled
 * model's layers, their kernel properties and inbound nodes (which weights are perturbation sites,
 * which outputs each layer reaches), and, for the duration of one step only, wraps the compiled loss
 * functions (to record the per-example losses and their tangents) and the layers' `call` (to pause
 * the tape where no backward pass is needed). Everything else of FG-A works on tensors and tables.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {isTracing, tangentOf} from '../autodiff';
import {untraced, withTapePaused} from '../autodiff/internal';
import {TracingError, ValueError} from '../errors';
import {annotationOf, capabilitiesOf, isLocalLearner, LocalLearner} from '../step/local_step';
import {LossRecord} from './credit';
import {SiteTables, SiteWeight} from './sites';

/** Layer properties holding perturbable weights, in the order their kernels run. */
const KERNEL_PROPERTIES = ['kernel', 'depthwiseKernel', 'pointwiseKernel'];

/** Layers whose training-mode computation mixes examples: per-example credit would be biased. */
const EXAMPLE_COUPLING_LAYERS = new Set(['BatchNormalization']);

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
      if (capabilitiesOf(layer).stopsDerivatives === true) {
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
export class ModelAttachment implements SiteTables {
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
    this.views = Math.max(1, ...layers.map(l => capabilitiesOf(l).viewsPerExample ?? 1));
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
   * (whatever they are now) record the per-example losses into `records` (the step's record, see
   * `StepRecorder`; null: none are recorded), and the tape is paused in the layers
   * that need no backward pass. Everything is restored when `fn` returns or throws, so nothing of
   * a step (nor of a fit that failed mid-way) outlives it; outside `run` the model is untouched.
   */
  run<T>(fn: () => T, records: Array<LossRecord|null>|null = null): T {
    if (this.running) {
      throw new TracingError('ModelAttachment.run: a step of this model is already running; steps do not nest.');
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
        lossFunctions[i] = (yTrue: Tensor, yPred: Tensor) => record(records, i, fn(yTrue, yPred));
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

/** Records output `i`'s per-example loss of a traced step into `records` (see `ModelAttachment.run`). */
function record(records: Array<LossRecord|null>|null, i: number, loss: Tensor): Tensor {
  if (records != null && isTracing()) {
    const t = tangentOf(loss);
    const local = annotationOf(loss)?.localTangents;
    records[i] = {
      perExample: loss, tangent: t == null ? null : tf.keep(t),
      localTangents: local == null ? null : tf.keep(untraced(() => local.clone())), sampleWeights: null,
    };
  }
  return loss;
}
