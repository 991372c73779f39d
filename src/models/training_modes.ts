/**
 * The eleven training modes of the paper (Table 3; docs/fidelity.md) over one LocalMixer:
 * which stop-gradients are active, whether the local losses train the backbone, the backward
 * weights (exact or fixed random: FA), DFA taps, and how the optimizer gets its gradients
 * (backprop, weight perturbation or activity perturbation). One option picks all of them.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {ValueError} from '../errors';
import {ClassifierHead, ContrastiveHead, LocalLossHead} from '../layers/local_loss_head';
import {Feedback, LocalMixerBlock} from '../layers/local_mixer_block';
import {StopGrad} from '../layers/stop_grad';
import {contrastive} from '../losses/contrastive';
import {localCrossEntropy, LossFunction} from '../losses/local_cross_entropy';
import {checkLearningRate, checkSeed, ForwardGradientOptimizer, Perturbation} from '../optimizers/forward_gradient_optimizer';
import {NoiseKind} from '../optimizers/noise';

/** The training modes of the paper, in the order of its Table 3. */
export const TRAINING_MODES =
    ['BP', 'L-BP', 'LG-BP', 'FA', 'L-FA', 'LG-FA', 'DFA', 'FG-W', 'FG-A', 'LG-FG-W', 'LG-FG-A'] as const;

/** One of `TRAINING_MODES`. */
export type TrainingMode = typeof TRAINING_MODES[number];

/** What a mode switches. */
export interface ModeSpec {
  /** How the backbone's gradient is obtained. */
  perturb: Perturbation;
  /** Stop-gradient between blocks (greedy, "G"). */
  blockStop: boolean;
  /** Stop-gradient before the final classifier (the classifier never trains the backbone). */
  readoutStop: boolean;
  /** The local losses train the backbone ("L"), each block credited by its own losses. */
  localLosses: boolean;
  /**
   * Global forward-gradient modes with `globalObjective: 'last-head'`: the last block's local loss
   * is the objective of the whole backbone, credited per example (not per patch and group); the
   * classifier trains on stop-gradient features. (False in the default, the code's: the final
   * classifier's loss is the objective.)
   */
  lastHeadObjective: boolean;
  /**
   * The backbone's activity estimate is the gradient of the batch *sum* of the per-example losses
   * (the code's global FG-A, `avg_batch=False`), not their mean.
   */
  sumOverBatch: boolean;
  /** Backward weights of backprop modes. */
  feedback: Feedback;
  /** The paper code's DFA: a fixed random projection and local loss per layer, sg after each. */
  dfa: boolean;
}

const S = (perturb: Perturbation, blockStop: boolean, readoutStop: boolean, localLosses: boolean,
           feedback: Feedback = 'exact', dfa = false): ModeSpec =>
    ({perturb, blockStop, readoutStop, localLosses, feedback, dfa, lastHeadObjective: false,
      sumOverBatch: perturb === 'activity' && !localLosses});

/**
 * The switches of each mode. Global modes train the backbone end to end from one loss, the final
 * classifier's, credited per example (as the paper's code: `update_backprop`,
 * `update_global_forward_grad_weights` / `_activations` with `readout=False`; global FG-A sums the
 * per-example losses over the batch, `avg_batch=False`); L- modes add the local losses (errors of
 * later blocks still reach earlier ones); LG- modes stop gradients between blocks, so each block
 * learns from its own losses only, credited per (patch, group).
 */
export const MODE_SPECS: {readonly [mode in TrainingMode]: ModeSpec} = {
  'BP': S('none', false, false, false),
  'L-BP': S('none', false, true, true),
  'LG-BP': S('none', true, true, true),
  'FA': S('none', false, false, false, 'random'),
  'L-FA': S('none', false, true, true, 'random'),
  'LG-FA': S('none', true, true, true, 'random'),
  'DFA': S('none', true, true, false, 'exact', true),
  'FG-W': S('weight', false, false, false),
  'FG-A': S('activity', false, false, false),
  'LG-FG-W': S('weight', true, true, true),
  'LG-FG-A': S('activity', true, true, true),
};

/**
 * What the global forward-gradient modes (FG-W, FG-A) of a supervised LocalMixer differentiate:
 * - `'classifier'` (default; the paper's code): the final classifier's loss, through the
 *   classifier (no stop-gradient before it), the batch sum of the per-example losses for FG-A.
 * - `'last-head'`: the last block's local loss, batch mean, the classifier on stop-gradient
 *   features. Then FG-A ≡ LG-FG-A and FG-W ≡ LG-FG-W on a one-block, one-patch, one-group model
 *   (S/1/1), as the paper's Table 3 prints them.
 * A contrastive LocalMixer's global modes always use the last block's loss (it has no labelled
 * objective to train the backbone with).
 */
export type GlobalObjective = 'classifier'|'last-head';

const GLOBAL_OBJECTIVES: readonly GlobalObjective[] = ['classifier', 'last-head'];

/** The switches of `mode` with the global objective `objective` (see `GlobalObjective`). */
export function modeSpec(mode: TrainingMode, objective: GlobalObjective = 'classifier'): ModeSpec {
  const spec = MODE_SPECS[checkMode(mode)];
  if (!GLOBAL_OBJECTIVES.includes(objective)) {
    throw new ValueError(
        `globalObjective must be one of ${GLOBAL_OBJECTIVES.join(', ')}. Received: ${JSON.stringify(objective)}.`);
  }
  if (objective === 'classifier' || spec.perturb === 'none' || spec.localLosses) {
    return spec;
  }
  return {...spec, readoutStop: true, lastHeadObjective: true, sumOverBatch: false};
}

function checkMode(mode: string): TrainingMode {
  if (!(TRAINING_MODES as readonly string[]).includes(mode)) {
    throw new ValueError(`Unknown training mode '${mode}'. Use one of ${TRAINING_MODES.join(', ')}.`);
  }
  return mode as TrainingMode;
}

function mixerLayers(model: tfl.LayersModel) {
  const layers = model.layers;
  const blocks = layers.filter((l): l is LocalMixerBlock => l instanceof LocalMixerBlock);
  const heads = layers.filter((l): l is LocalLossHead|ContrastiveHead =>
                                  l instanceof LocalLossHead || l instanceof ContrastiveHead);
  const classifiers = layers.filter((l): l is ClassifierHead => l instanceof ClassifierHead);
  const stops = layers.filter((l): l is StopGrad => l instanceof StopGrad);
  if (blocks.length === 0 || heads.length === 0 || classifiers.length !== 1) {
    throw new ValueError(
        `Training modes apply to LocalMixer models (fg.models.localMixer): model '${model.name}' has ` +
        `${blocks.length} LocalMixerBlock(s), ${heads.length} LocalLossHead(s) and ` +
        `${classifiers.length} ClassifierHead(s).`);
  }
  return {blocks, heads, classifier: classifiers[0], stops, contrastive: heads[0] instanceof ContrastiveHead};
}

/** The readout's stop-gradient: a contrastive model's readout (labels) never trains the backbone. */
function readoutStopOf(spec: ModeSpec, contrastive: boolean): boolean {
  return spec.readoutStop || contrastive;
}

/**
 * Whether a head's loss reaches the backbone: every head's in L- modes; the last block's in global
 * FG modes, and in every global mode of a contrastive model (it has no labelled classifier to
 * learn from).
 */
function headTrainsBackbone(spec: ModeSpec, contrastive: boolean, last: boolean): boolean {
  return spec.localLosses || ((spec.lastHeadObjective || contrastive) && last);
}

/**
 * Switches a LocalMixer to `mode`: its stop-gradients, head detachment, feedback weights and DFA
 * taps. The weights are untouched, so one model can be trained in any mode. (Use
 * `compileLocalMixer`, which also sets up the optimizer and losses of the mode.)
 */
export function setTrainingMode(
    model: tfl.LayersModel, mode: TrainingMode, options: {globalObjective?: GlobalObjective} = {}): void {
  const spec = modeSpec(checkMode(mode), options.globalObjective);
  const {blocks, heads, classifier, stops, contrastive} = mixerLayers(model);
  if (contrastive && spec.dfa) {
    throw new ValueError(
        `Mode DFA needs labels at every layer; a contrastive LocalMixer has none. Use another mode.`);
  }
  for (const s of stops) {
    if (s.role === 'block') {
      s.active = spec.blockStop;
    } else if (s.role === 'readout') {
      s.active = readoutStopOf(spec, contrastive);
    }
  }
  for (const b of blocks) {
    b.feedback = spec.feedback;
    b.dfa = spec.dfa;
  }
  heads.forEach((h, i) => {
    h.feedback = spec.feedback;
    h.detach = !headTrainsBackbone(spec, contrastive, i === heads.length - 1);
  });
  classifier.feedback = spec.feedback;
}

/**
 * The gradient scale of the backbone and heads of a contrastive LocalMixer in the backprop modes
 * (BP, L-BP, LG-BP, FA family): the paper code's ×2 (see `compileLocalMixer`).
 */
export const CONTRASTIVE_BACKPROP_SCALE = 2;

/** Options of `compileLocalMixer`. */
export interface CompileLocalMixerArgs {
  /** The training mode. Defaults to 'LG-FG-A'. */
  mode?: TrainingMode;
  /** Inner optimizer applying the gradients. Defaults to SGD with momentum 0.9 (the paper's). */
  optimizer?: tf.Optimizer;
  /** Learning rate of the default inner optimizer, a finite number > 0. Defaults to 0.01 (MNIST / CIFAR-10). */
  learningRate?: number;
  /** Added to the gradient of every weight matrix (not biases), ×w. Defaults to 1e-4. */
  weightDecay?: number;
  /**
   * Multiplier of the final classifier's gradient (the code's last_layer_lr). Defaults to 0.1; 0 for
   * a contrastive model, whose readout the paper's code trains apart, after each epoch (see
   * `trainReadout`).
   */
  classifierScale?: number;
  /** Perturbation samples per step (FG modes). Defaults to 1. */
  samples?: number;
  /** Perturbation distribution (FG modes). Defaults to 'gaussian'. */
  noise?: NoiseKind;
  /** Seed of the perturbations, an integer in [0, 2^32). Defaults to random. */
  seed?: number|null;
  /** τ of the contrastive loss (contrastive models). Defaults to 0.5. */
  temperature?: number;
  /** What FG-W and FG-A differentiate (see `GlobalObjective`). Defaults to 'classifier', the code's. */
  globalObjective?: GlobalObjective;
  /** Activity noise a step keeps instead of drawing it again, bytes (see `ForwardGradientOptimizerArgs`). */
  keepNoiseBytes?: number;
}

/**
 * Puts a LocalMixer in `mode` and compiles it: one local cross-entropy per head, a softmax
 * cross-entropy for the classifier (accuracy reported for it), and a ForwardGradientOptimizer set
 * up for the mode (exact gradients for the heads and the classifier in FG modes, weight decay, the
 * classifier's 0.1 gradient scale). Train with `model.fit(x, localMixerTargets(model, y), {callbacks:
 * [fg.callbacks.forwardGradient()]})`. Returns the optimizer.
 *
 * ```js
 * const model = fg.models.localMixer({preset: 'M/1/16'});
 * fg.models.compileLocalMixer(model, {mode: 'LG-FG-A'});
 * await model.fit(xs, fg.models.localMixerTargets(model, ys), {epochs: 1, batchSize: 128,
 *                 callbacks: [fg.callbacks.forwardGradient()]});
 * ```
 */
export function compileLocalMixer(model: tfl.LayersModel, args: CompileLocalMixerArgs = {}): ForwardGradientOptimizer {
  const mode = checkMode(args.mode ?? 'LG-FG-A');
  const spec = modeSpec(mode, args.globalObjective);
  const {blocks, heads, classifier, contrastive: contrastiveModel} = mixerLayers(model);
  // (every argument is checked before the model is touched)
  const learningRate = checkLearningRate('compileLocalMixer', args.learningRate ?? 0.01);
  const seed = checkSeed('compileLocalMixer', args.seed);
  const optimizer = new ForwardGradientOptimizer({
    perturb: spec.perturb,
    optimizer: args.optimizer ?? tf.train.momentum(learningRate, 0.9),
    weightDecay: args.weightDecay ?? 1e-4,
    gradientScale: {
      // The code's contrastive backprop modes differentiate Σ_rows(local loss)/N + 2·mean(final
      // loss) over the 2N view rows: twice the gradient of our per-example mean of the two views
      // (its FG modes average the two views' estimates: the same scale as ours).
      ...(contrastiveModel && spec.perturb === 'none' ?
              Object.fromEntries([...blocks, ...heads].map(l => [l.name, CONTRASTIVE_BACKPROP_SCALE])) : {}),
      // (a contrastive model's readout learns only from `trainReadout`, as the code's readout)
      [classifier.name]: args.classifierScale ?? (contrastiveModel ? 0 : 0.1),
    },
    exactLayers: spec.perturb === 'none' ? [] : [...heads.map(h => h.name), classifier.name],
    localCredit: spec.localLosses,
    // (a contrastive model's global modes keep the last block's batch-mean loss)
    sumOverBatch: spec.sumOverBatch && !contrastiveModel,
    samples: args.samples,
    noise: args.noise,
    seed,
    keepNoiseBytes: args.keepNoiseBytes,
  });
  let loss: LossFunction[];
  try {
    loss = model.outputNames.map(name => name === classifier.name || !contrastiveModel ?
        localCrossEntropy() : contrastive({temperature: args.temperature}));
    setTrainingMode(model, mode, {globalObjective: args.globalObjective});
  } catch (e) {
    optimizer.dispose();
    throw e;
  }
  // (a LocalMixerModel records the losses by name: the model saves with its optimizer)
  model.compile({optimizer, loss, metrics: {[classifier.name]: 'accuracy'}});
  return optimizer;
}

/**
 * The targets of a LocalMixer for `fit`: `labels` for every supervised output (heads and
 * classifier); for a contrastive model's projectors, zeros of their shape (the loss ignores them:
 * dispose them when done, e.g. `tf.dispose(targets.filter(t => t !== labels))`).
 */
export function localMixerTargets(model: tfl.LayersModel, labels: Tensor): Tensor[] {
  return model.outputs.map(o => o.shape.length === 3 ?
      tf.zeros([labels.shape[0], ...(o.shape.slice(1) as number[])]) : labels);
}

/** Two views per example for a contrastive LocalMixer: [N, H, W, C] × 2 → [N, 2, H, W, C]. */
export function pairViews(view1: Tensor, view2: Tensor): Tensor {
  return tf.stack([view1, view2], 1);
}

/** The mode a LocalMixer is in, read from its switches (null if they match no mode). */
export function trainingModeOf(model: tfl.LayersModel, perturb: Perturbation): TrainingMode|null {
  const {blocks, heads, stops, contrastive} = mixerLayers(model);
  const blockStop = stops.filter(s => s.role === 'block').every(s => s.active);
  const readoutStop = stops.filter(s => s.role === 'readout').every(s => s.active);
  // the mode whose switches (as setTrainingMode sets them, for either global objective) are the model's
  const candidates = GLOBAL_OBJECTIVES.flatMap(o => TRAINING_MODES.map(mode => ({mode, s: modeSpec(mode, o)})));
  for (const {mode, s} of candidates) {
    if (s.perturb === perturb && (blocks.length === 1 || s.blockStop === blockStop) &&
        readoutStopOf(s, contrastive) === readoutStop &&
        heads.every((h, i) => h.detach === !headTrainsBackbone(s, contrastive, i === heads.length - 1)) &&
        s.feedback === blocks[0].feedback && s.dfa === blocks[0].dfa) {
      return mode;
    }
  }
  return null;
}
