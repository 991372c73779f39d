/**
 * The LocalMixer's linear heads on patch tokens [N, P, D]:
 * - `LocalLossHead`: one per block, shared by every (patch, group): per-group LN, mean over the
 *   patches, linear to the classes (paper §2.2, `inter_ln`). Its logits feed a local loss
 *   (`fg.losses.localCrossEntropy`), which credits patch p / group g only with what flows through
 *   them (the replicated loss of eqs. 4–5, in closed form).
 * - `ClassifierHead`: the final classifier: mean over the patches, LN, linear, zero-initialized
 *   (`last_layer_ln`), normally on stop-gradient features (`detach`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {DisposeResult, LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';
import type {Initializer} from '@tensorflow/tfjs-layers/dist/initializers';

import {isTracing, tangentOf} from '../autodiff/jvp';
import {untraced} from '../autodiff/internal';
import {stopGradient} from '../autodiff/stop_gradient';
import {ValueError} from '../errors';
import {normalize} from './layer_norm';
import type {Feedback} from './local_mixer_block';
import {denseLinear, initScale, logitShareTangents} from './local_ops';
import {annotate, annotationOf, inLocalStep, keepForStep, LocalHeadInfo, StepCapabilities} from '../step/local_step';
import {fmtShape, isPositiveInt, layerLabel, singleInput, singleShape} from './utils';

/** Arguments common to both heads. */
export declare interface HeadArgs extends LayerArgs {
  /** Number of classes (output units). */
  classes: number;
  /** LayerNorm ε. Defaults to 1e-5. */
  epsilon?: number;
  /** Seed of the initial kernel and of the random feedback matrix. Default 0. */
  seed?: number;
  /** Backward weights in backprop modes: 'exact' (default) or 'random' (feedback alignment). */
  feedback?: Feedback;
  /** Stop-gradient on the input: the head learns, but sends no derivative into the backbone. */
  detach?: boolean;
}

/** Arguments of `LocalLossHead`. */
export declare interface LocalLossHeadArgs extends HeadArgs {
  /** G: channel groups of the per-group LayerNorm and of the local losses. Default 1. */
  groups?: number;
}

/** The shared part of the two heads: one linear map [D, classes] + bias. */
abstract class LinearHead extends tfl.layers.Layer implements StepCapabilities {
  readonly classes: number;
  readonly epsilon: number;
  readonly seed: number;
  /** Mode switch: fixed random backward weights (FA family). */
  feedback: Feedback;
  /** Mode switch: the head sends no derivative into its input. */
  detach: boolean;
  protected kernel: tfl.LayerVariable|null = null;
  protected bias: tfl.LayerVariable|null = null;
  private feedbackMatrix: Tensor|null = null;

  constructor(args: HeadArgs) {
    super(args);
    const who = layerLabel(this);
    if (!isPositiveInt(args.classes)) {
      throw new ValueError(`${who}: classes must be a positive integer. Received: ${JSON.stringify(args.classes)}.`);
    }
    if (args.feedback != null && args.feedback !== 'exact' && args.feedback !== 'random') {
      throw new ValueError(`${who}: feedback must be 'exact' or 'random'. Received: ${args.feedback}.`);
    }
    this.classes = args.classes;
    this.epsilon = args.epsilon ?? 1e-5;
    this.seed = args.seed ?? 0;
    this.feedback = args.feedback ?? 'exact';
    this.detach = args.detach ?? false;
  }

  /** The initializer of the kernel [D, classes]. */
  protected abstract kernelInitializer(shape: number[]): Initializer;

  /** True while the head lets no derivative into its input (reachability of losses). */
  get stopsDerivatives(): boolean {
    return this.detach;
  }

  protected checkShape(shape: ReadonlyArray<number|null>): void {
    if (shape.length !== 3 || shape[2] == null) {
      throw new ValueError(
          `${layerLabel(this)} expects patch tokens [batch, patches, channels] with known channels. ` +
          `Received: input shape ${fmtShape(shape)}.`);
    }
  }

  override build(inputShape: tfl.Shape|tfl.Shape[]): void {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    const kernelShape = [shape[2] as number, this.classes];
    this.kernel = this.addWeight('kernel', kernelShape, 'float32', this.kernelInitializer(kernelShape));
    this.bias = this.addWeight('bias', [this.classes], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    return [shape[0], this.classes];
  }

  /** features [N, D] → logits [N, classes]. */
  protected logits(features: Tensor): Tensor {
    const kernel = this.kernel!.read();
    if (this.feedback === 'random' && this.feedbackMatrix == null) {
      this.feedbackMatrix = tf.keep(tf.randomNormal(kernel.shape, 0, initScale(kernel.shape), 'float32', this.seed + 1000));
    }
    return denseLinear(features, kernel, this.bias!.read(), this.feedback === 'random' ? this.feedbackMatrix : null);
  }

  /**
   * Feedback alignment, the paper code's head (`loss`: `sg(L − L_bw) + L_bw`, L_bw through the
   * fixed random matrix B, then `update_*feedback_alignment` gives the kernel B's gradient): logits
   * with the value features·B + b whose derivative reaches the input through B and the kernel as
   * featuresᵀ·δ (the bias as δ). The local loss trains on them (see `localCrossEntropy`). Null
   * unless `feedback` is 'random'.
   */
  protected feedbackLogits(features: Tensor): Tensor|null {
    if (this.feedback !== 'random') {
      return null;
    }
    const kernel = this.kernel!.read();
    const b = this.feedbackMatrix!;  // (made by `logits`, which ran first)
    return tf.add(denseLinear(features, kernel, this.bias!.read(), b), stopGradient(tf.matMul(features, tf.sub(b, kernel))));
  }

  /**
   * In a training step, tells the local loss of `out` what it needs (see `LocalHeadInfo`): how the
   * tangent of `features` (whose patch mean the kernel maps) splits over the (patch, group) losses,
   * and the DFA taps of the block that produced `raw` (the head's input). Outside a step nothing is
   * done.
   */
  protected annotateLocal(out: Tensor, raw: Tensor, features: Tensor, groups: number, pooled?: Tensor): void {
    if (!inLocalStep()) {
      return;
    }
    const t = isTracing() ? tangentOf(features) : null;
    const kernel = this.kernel!.read();
    const [d, classes] = kernel.shape;
    // Per (patch, group) the shares hold C numbers where the features' tangent holds D/G.
    const shares = t != null && groups * classes < d ? untraced(() => logitShareTangents(t, kernel, groups)) : null;
    const info: LocalHeadInfo = {
      shares, featuresTangent: shares == null ? t : null, kernel: shares == null && t != null ? keepForStep(kernel) : null,
      groups,
    };
    const feedbackLogits = pooled == null ? null : this.feedbackLogits(pooled);
    const kept = [shares ?? t, feedbackLogits].filter((k): k is Tensor => k != null);
    annotate(out, {localHead: info, dfaTaps: annotationOf(raw)?.dfaTaps ?? null, feedbackLogits}, kept);
  }

  protected headInput(inputs: Tensor|Tensor[]): Tensor {
    const x = singleInput(this, inputs);
    this.checkShape(x.shape);
    return this.detach ? stopGradient(x) : x;
  }

  override dispose(): DisposeResult {
    this.feedbackMatrix?.dispose();
    this.feedbackMatrix = null;
    return super.dispose();
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(), classes: this.classes, epsilon: this.epsilon, seed: this.seed,
      feedback: this.feedback, detach: this.detach,
    };
  }
}

/**
 * The local head of a LocalMixer block (see the file comment). Output: logits [N, classes], the same
 * for every (patch, group) loss; in a training step it annotates them with what the local loss
 * needs to split the loss's derivative per (example, patch, group).
 */
export class LocalLossHead extends LinearHead {
  /** @nocollapse */
  static get className(): string {
    return 'fg.LocalLossHead';
  }

  readonly groups: number;

  constructor(args: LocalLossHeadArgs) {
    super(args);
    const groups = args.groups ?? 1;
    if (!isPositiveInt(groups)) {
      throw new ValueError(`${layerLabel(this)}: groups must be a positive integer. Received: ${JSON.stringify(groups)}.`);
    }
    this.groups = groups;
  }

  protected override kernelInitializer(shape: number[]): Initializer {
    return tfl.initializers.randomNormal({mean: 0, stddev: initScale(shape), seed: this.seed});
  }

  protected override checkShape(shape: ReadonlyArray<number|null>): void {
    super.checkShape(shape);
    if ((shape[2] as number) % this.groups !== 0) {
      throw new ValueError(
          `${layerLabel(this)}: groups ${this.groups} does not divide the ${shape[2]} channels. ` +
          `Received: input shape ${fmtShape(shape)}.`);
    }
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const raw = singleInput(this, inputs);
      const x = this.headInput(inputs);
      const features = normalize(x, {groups: this.groups, epsilon: this.epsilon});
      const pooled = tf.mean(features, 1);
      const logits = this.logits(pooled);
      this.annotateLocal(logits, raw, features, this.groups, pooled);
      return logits;
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), groups: this.groups};
  }
}
serialization.registerClass(LocalLossHead);

/** Arguments of `ContrastiveHead`. */
export declare interface ContrastiveHeadArgs extends Omit<HeadArgs, 'classes'> {
  /** Projection units. Defaults to 128, as the paper. */
  units?: number;
  /** V: views per example in the rows of the input (view-major, see `ViewsToBatch`). Default 2. */
  views?: number;
  /** G: channel groups of the local losses. Default 1. */
  groups?: number;
}

/**
 * The contrastive local head of a block (paper §2.3): mean over the patches of the block output,
 * then a linear projector [D, units] (no LayerNorm, as the paper's code), shared by every (patch,
 * group) loss. Input rows are V views per example (view-major); output [N, V, units]. Train it with
 * `fg.losses.contrastive()`.
 */
export class ContrastiveHead extends LinearHead {
  /** @nocollapse */
  static get className(): string {
    return 'fg.ContrastiveHead';
  }

  readonly groups: number;
  readonly views: number;

  constructor(args: ContrastiveHeadArgs) {
    super({...args, classes: args.units ?? (args as {classes?: number}).classes ?? 128});
    const groups = args.groups ?? 1;
    const views = args.views ?? 2;
    if (!isPositiveInt(groups) || !isPositiveInt(views)) {
      throw new ValueError(
          `${layerLabel(this)}: groups and views must be positive integers. Received: ` +
          `groups=${JSON.stringify(groups)}, views=${JSON.stringify(views)}.`);
    }
    this.groups = groups;
    this.views = views;
  }

  protected override kernelInitializer(shape: number[]): Initializer {
    return tfl.initializers.randomNormal({mean: 0, stddev: initScale(shape), seed: this.seed});
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    return [shape[0] == null ? null : shape[0] / this.views, this.views, this.classes];
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const raw = singleInput(this, inputs);
      const x = this.headInput(inputs);
      const rows = x.shape[0];
      if (rows % this.views !== 0) {
        throw new ValueError(`${layerLabel(this)}: ${rows} rows are not ${this.views} views of the same examples.`);
      }
      const proj = this.logits(tf.mean(x, 1));  // [V·N, units]
      const out = tf.transpose(tf.reshape(proj, [this.views, rows / this.views, this.classes]), [1, 0, 2]);
      this.annotateLocal(out, raw, x, this.groups);
      return out;
    });
  }

  override getConfig(): serialization.ConfigDict {
    const {classes, ...rest} = super.getConfig();
    return {...rest, units: classes, groups: this.groups, views: this.views};
  }
}
serialization.registerClass(ContrastiveHead);

/** The final classifier of a LocalMixer (see the file comment). Output: logits [N, classes]. */
export class ClassifierHead extends LinearHead {
  /** @nocollapse */
  static get className(): string {
    return 'fg.ClassifierHead';
  }

  protected override kernelInitializer(): Initializer {
    return tfl.initializers.zeros();
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = this.headInput(inputs);
      return this.logits(normalize(tf.mean(x, 1), {epsilon: this.epsilon}));
    });
  }
}
serialization.registerClass(ClassifierHead);

/**
 * The local head of a LocalMixer block: per-group LayerNorm, mean over patches, linear map to the
 * classes; train it with `fg.losses.localCrossEntropy()`.
 */
export function localLossHead(args: LocalLossHeadArgs): LocalLossHead {
  return new LocalLossHead(args);
}

/** The contrastive local head of a LocalMixer block: mean over patches, linear projector (128-d). */
export function contrastiveHead(args: ContrastiveHeadArgs = {}): ContrastiveHead {
  return new ContrastiveHead(args);
}

/** The final classifier of a LocalMixer: mean over patches, LayerNorm, zero-initialized linear map. */
export function classifierHead(args: HeadArgs): ClassifierHead {
  return new ClassifierHead(args);
}
