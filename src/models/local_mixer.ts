/**
 * `fg.models.localMixer`: the paper's LocalMixer (§3, Table 2) as a functional tfjs LayersModel:
 * patchify → blocks, each with its local head, stop-gradients between blocks, and a final
 * classifier on stop-gradient features. Outputs: the B local heads' logits, then the classifier's.
 */
import * as tfl from '@tensorflow/tfjs-layers';

import {ValueError} from '../errors';
import {ClassifierHead, ContrastiveHead, LocalLossHead} from '../layers/local_loss_head';
import {LocalMixerBlock} from '../layers/local_mixer_block';
import {Patchify} from '../layers/patchify';
import {StopGrad} from '../layers/stop_grad';
import {isPositiveInt} from '../layers/utils';
import {FirstView, ViewsToBatch} from '../layers/views';

import {LocalMixerModel} from './local_mixer_model';

/** The paper's configurations (Table 2). */
export type LocalMixerPreset = 'S/1/1'|'M/1/16'|'M/8/16'|'L/8/64'|'L/32/64';

/** Shape of a LocalMixer; every field has a default from the preset. */
interface MixerShape {
  inputShape: [number, number, number];
  patchSize: number;
  blocks: number;
  channels: number;
  groups: number;
}

const PRESETS: {[name in LocalMixerPreset]: MixerShape} = {
  'S/1/1': {inputShape: [28, 28, 1], patchSize: 28, blocks: 1, channels: 256, groups: 1},
  'M/1/16': {inputShape: [28, 28, 1], patchSize: 28, blocks: 1, channels: 512, groups: 16},
  'M/8/16': {inputShape: [32, 32, 3], patchSize: 4, blocks: 4, channels: 512, groups: 16},
  'L/8/64': {inputShape: [32, 32, 3], patchSize: 4, blocks: 4, channels: 2048, groups: 64},
  'L/32/64': {inputShape: [224, 224, 3], patchSize: 7, blocks: 4, channels: 2048, groups: 64},
};

/** The preset names, in the paper's order. */
export const LOCAL_MIXER_PRESETS = Object.keys(PRESETS) as LocalMixerPreset[];

/** Options of `fg.models.localMixer`. */
export interface LocalMixerArgs {
  /** A configuration of the paper; the other options override its values. */
  preset?: LocalMixerPreset;
  /** Image shape [height, width, channels]. Default: the preset's data set (MNIST 28×28×1). */
  inputShape?: [number, number, number];
  /** Side of the square patches; must divide the image. */
  patchSize?: number;
  /** Number of blocks. */
  blocks?: number;
  /** D: channels of every block. */
  channels?: number;
  /** H: hidden channels of the channel FC. Defaults to `channels`. */
  hidden?: number;
  /** G: channel groups (grouped FC and local losses); must divide the channels. */
  groups?: number;
  /** Number of classes. Defaults to 10. */
  classes?: number;
  /** LayerNorm ε. Defaults to 1e-5. */
  epsilon?: number;
  /** Seed of the initial weights. Defaults to 0. */
  seed?: number;
  /** Model name. Defaults to 'local_mixer'. */
  name?: string;
  /**
   * 'supervised' (default): local cross-entropy heads. 'contrastive': the input is two views per
   * example [N, 2, H, W, C], the local heads are 128-d projectors for the contrastive (InfoNCE)
   * loss, and the classifier is a linear readout of the first view's stop-gradient features.
   */
  objective?: 'supervised'|'contrastive';
  /** Units of the contrastive projectors. Defaults to 128. */
  projection?: number;
}

/** Resolves a preset and overrides into a full shape, with clear errors. */
function resolveShape(args: LocalMixerArgs): MixerShape {
  if (args.preset != null && PRESETS[args.preset] == null) {
    throw new ValueError(
        `localMixer: unknown preset '${args.preset}'. Use one of ${LOCAL_MIXER_PRESETS.join(', ')}, or ` +
        `give patchSize, blocks, channels and groups.`);
  }
  const base = args.preset != null ? PRESETS[args.preset] : PRESETS['S/1/1'];
  const shape: MixerShape = {
    inputShape: args.inputShape ?? base.inputShape,
    patchSize: args.patchSize ?? base.patchSize,
    blocks: args.blocks ?? base.blocks,
    channels: args.channels ?? base.channels,
    groups: args.groups ?? base.groups,
  };
  for (const key of ['patchSize', 'blocks', 'channels', 'groups'] as const) {
    if (!isPositiveInt(shape[key])) {
      throw new ValueError(`localMixer: ${key} must be a positive integer. Received: ${JSON.stringify(shape[key])}.`);
    }
  }
  if (!Array.isArray(shape.inputShape) || shape.inputShape.length !== 3 || !shape.inputShape.every(isPositiveInt)) {
    throw new ValueError(
        `localMixer: inputShape must be [height, width, channels]. Received: ${JSON.stringify(shape.inputShape)}.`);
  }
  if (shape.channels % shape.groups !== 0) {
    throw new ValueError(`localMixer: groups ${shape.groups} does not divide channels ${shape.channels}.`);
  }
  return shape;
}

/**
 * Builds a LocalMixer (paper §3.1, Fig. 1–2): patchify, then `blocks` LocalMixerBlocks; after
 * each block a LocalLossHead (its local loss), and a stop-gradient before the next block; the
 * final ClassifierHead on the stop-gradient'd last block output. The model's outputs are
 * `[head_0, …, head_{B−1}, classifier]` (logits): compile and train it with
 * `fg.models.compileLocalMixer`, which picks the training mode (the stop-gradients, feedback,
 * losses and optimizer), and give every output the same targets (`localMixerTargets`).
 *
 * Presets (with 10 classes): S/1/1 = 271,892 parameters; M/1/16 = 429,076; M/8/16 = 918,770;
 * L/8/64 = 13,074,674; L/32/64 = 16,413,746 (224×224 images).
 *
 * ```js
 * const model = fg.models.localMixer({preset: 'M/1/16'});
 * model.countParams();   // 429076
 * ```
 */
export function localMixer(args: LocalMixerArgs = {}): tfl.LayersModel {
  const shape = resolveShape(args);
  const classes = args.classes ?? 10;
  if (!isPositiveInt(classes)) {
    throw new ValueError(`localMixer: classes must be a positive integer. Received: ${JSON.stringify(classes)}.`);
  }
  const hidden = args.hidden ?? shape.channels;
  if (!isPositiveInt(hidden) || hidden % shape.groups !== 0) {
    throw new ValueError(
        `localMixer: hidden must be a positive integer divisible by groups (${shape.groups}). Received: ${hidden}.`);
  }
  const epsilon = args.epsilon ?? 1e-5;
  const seed = args.seed ?? 0;
  const {channels, groups} = shape;
  const objective = args.objective ?? 'supervised';
  if (objective !== 'supervised' && objective !== 'contrastive') {
    throw new ValueError(`localMixer: objective must be 'supervised' or 'contrastive'. Received: ${objective}.`);
  }
  const contrastive = objective === 'contrastive';
  const input = tfl.input({shape: contrastive ? [2, ...shape.inputShape] : shape.inputShape, name: contrastive ? 'views' : 'image'});
  let x = contrastive ? new ViewsToBatch({views: 2, name: 'views_to_batch'}).apply(input) as tfl.SymbolicTensor : input;
  x = new Patchify({patchSize: shape.patchSize, name: 'patchify'}).apply(x) as tfl.SymbolicTensor;
  const outputs: tfl.SymbolicTensor[] = [];
  for (let b = 0; b < shape.blocks; b++) {
    if (b > 0) {
      x = new StopGrad({role: 'block', name: `stop_${b}`}).apply(x) as tfl.SymbolicTensor;
    }
    x = new LocalMixerBlock({
      index: b, channels, hidden, groups, classes, epsilon, seed: seed + 10_000 * (b + 1), name: `block_${b}`,
    }).apply(x) as tfl.SymbolicTensor;
    const headSeed = seed + 10_000 * (b + 1) + 5000;
    const head = contrastive ?
        new ContrastiveHead({units: args.projection ?? 128, groups, views: 2, epsilon, seed: headSeed, name: `head_${b}`}) :
        new LocalLossHead({classes, groups, epsilon, seed: headSeed, name: `head_${b}`});
    outputs.push(head.apply(x) as tfl.SymbolicTensor);
  }
  let features = new StopGrad({role: 'readout', name: 'readout_stop'}).apply(x) as tfl.SymbolicTensor;
  if (contrastive) {
    features = new FirstView({views: 2, name: 'first_view'}).apply(features) as tfl.SymbolicTensor;
  }
  outputs.push(new ClassifierHead({classes, epsilon, seed: seed + 7, name: 'classifier'}).apply(features) as tfl.SymbolicTensor);
  return new LocalMixerModel({inputs: input, outputs, name: args.name ?? 'local_mixer'});
}
