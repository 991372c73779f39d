/**
 * LocalMixerBlock: one block of the paper's LocalMixer (§3.1, Fig. 1–2, Algorithm 2), a tfjs-layers
 * layer on patch tokens [N, P, C].
 *
 * - Block 0: LN → channel FC (C → H) → LN → ReLU → per-group LN → grouped FC (H → D) → per-group LN
 *   → ReLU. No residual.
 * - Block b ≥ 1: LN over the channels of each patch → transpose → token-mixing FC over the P
 *   patches (one [P, P] matrix shared by the channels) → LN over channels per patch → ReLU →
 *   transpose → LN → channel FC (D → H) → LN → ReLU → per-group LN → grouped FC (H → D) →
 *   per-group LN → + block input → ReLU. This is the code's `mlp_block` with every LN flag on; the
 *   token FC's input is normalized once, over the channels (`begin_ln`), not again over the patches.
 *
 * LayerNorm (parameter-free) comes before and after every linear layer, the paper's best setting.
 * Each linear layer's normalized pre-activation is an activity-perturbation site (declared through
 * `local_step.ts`), credited by the per-(example, patch, group) derivatives of the block's local
 * loss. The training-mode switches `feedback` (fixed random backward weights: feedback alignment)
 * and `dfa` (a fixed random projection to the classes per layer, with a stop-gradient after every
 * layer) are set by `fg.models.setTrainingMode`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {DisposeResult, LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';

import {isTracing} from '../autodiff/jvp';
import {stopGradient} from '../autodiff/stop_gradient';
import {ValueError} from '../errors';
import {normalize, normalizePullback, normalizeWithStats} from './layer_norm';
import {ActivityLayout, annotate, declareSite, LocalLearner, WeightLayout} from '../step/local_step';
import {addRelu, denseLinear, groupLinear, initScale, layerNormBackward, LinearKind, linearWeightGradients} from './local_ops';
import {fmtShape, isPositiveInt, layerLabel, singleInput, singleShape} from './utils';

/** How the input's gradient is computed in backprop modes: the true weights, or fixed random ones. */
export type Feedback = 'exact'|'random';

/** Arguments of `LocalMixerBlock`. */
export declare interface LocalMixerBlockArgs extends LayerArgs {
  /** 0 for the first block (channel FC then grouped FC), ≥ 1 for the mixing blocks. */
  index: number;
  /** D: the block's output channels (for blocks ≥ 1 also its input channels). */
  channels: number;
  /** H: hidden channels of the channel FC. Defaults to `channels`. */
  hidden?: number;
  /** G: channel groups of the grouped FC and of the local losses. Must divide H and D. Default 1. */
  groups?: number;
  /** Classes of the DFA projections (used only with `dfa`). Defaults to 10. */
  classes?: number;
  /** LayerNorm ε. Defaults to 1e-5. */
  epsilon?: number;
  /** Seed of the initial weights and of the fixed random feedback / DFA matrices. Default 0. */
  seed?: number;
  /** Backward weights of backprop modes: 'exact' (default) or 'random' (feedback alignment). */
  feedback?: Feedback;
  /** Direct feedback alignment as the paper's code does it. Defaults to false. */
  dfa?: boolean;
}

/** One linear layer of the block. */
interface Sub {
  name: string;
  kind: LinearKind;
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable;
  /** Credit of its weights under LG-FG-W. */
  weightLayout: WeightLayout;
}

/**
 * Output of one linear layer: its (normalized) input, linear output, post-LN pre-activation, and in
 * a forward-mode step the post-LN's 1/σ and the view (shape and axis) it normalized.
 */
interface LinearOut {
  a: Tensor;
  h: Tensor;
  z: Tensor;
  stats: {rstd: Tensor, view: {shape: number[], axis: number}}|null;
}

/** One block of the LocalMixer (see the file comment). Input and output [N, P, channels]. */
export class LocalMixerBlock extends tfl.layers.Layer implements LocalLearner {
  /** @nocollapse */
  static get className(): string {
    return 'fg.LocalMixerBlock';
  }

  readonly index: number;
  readonly channels: number;
  readonly hidden: number;
  readonly groups: number;
  readonly classes: number;
  readonly epsilon: number;
  readonly seed: number;
  /** Mode switch: fixed random backward weights (FA family). */
  feedback: Feedback;
  /** Mode switch: direct feedback alignment taps and a stop-gradient after every layer. */
  dfa: boolean;
  private subs: Sub[] = [];
  /** Fixed random matrices, created on first use: feedback weights and DFA projections. */
  private readonly fixed = new Map<string, Tensor>();

  constructor(args: LocalMixerBlockArgs) {
    super(args);
    const who = layerLabel(this);
    const {index, channels, hidden = channels, groups = 1, classes = 10, epsilon = 1e-5, seed = 0} = args;
    if (!Number.isInteger(index) || index < 0) {
      throw new ValueError(`${who}: index must be an integer ≥ 0. Received: ${index}.`);
    }
    for (const [k, v] of Object.entries({channels, hidden, groups, classes})) {
      if (!isPositiveInt(v)) {
        throw new ValueError(`${who}: ${k} must be a positive integer. Received: ${JSON.stringify(v)}.`);
      }
    }
    if (hidden % groups !== 0 || channels % groups !== 0) {
      throw new ValueError(
          `${who}: groups (${groups}) must divide the hidden channels (${hidden}) and the channels ` +
          `(${channels}).`);
    }
    if (args.feedback != null && args.feedback !== 'exact' && args.feedback !== 'random') {
      throw new ValueError(`${who}: feedback must be 'exact' or 'random'. Received: ${args.feedback}.`);
    }
    this.index = index;
    this.channels = channels;
    this.hidden = hidden;
    this.groups = groups;
    this.classes = classes;
    this.epsilon = epsilon;
    this.seed = seed;
    this.feedback = args.feedback ?? 'exact';
    this.dfa = args.dfa ?? false;
  }

  private checkShape(shape: ReadonlyArray<number|null>): void {
    const who = layerLabel(this);
    if (shape.length !== 3 || shape[1] == null || shape[2] == null) {
      throw new ValueError(
          `${who} expects patch tokens [batch, patches, channels] with known patches and channels ` +
          `(e.g. from fg.layers.patchify). Received: input shape ${fmtShape(shape)}.`);
    }
    if (this.index > 0 && shape[2] !== this.channels) {
      throw new ValueError(
          `${who}: a mixing block (index ${this.index}) adds its input to its output, so its input ` +
          `must have ${this.channels} channels. Received: input shape ${fmtShape(shape)}.`);
    }
  }

  override build(inputShape: tfl.Shape|tfl.Shape[]): void {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    const [, p, c] = shape as number[];
    const {hidden: h, channels: d, groups: g} = this;
    let s = this.seed;
    const add = (name: string, kind: LinearKind, kernelShape: number[], biasShape: number[],
                 weightLayout: WeightLayout) => {
      const kernel = this.addWeight(
          `${name}_kernel`, kernelShape, 'float32',
          tfl.initializers.randomNormal({mean: 0, stddev: initScale(kernelShape), seed: s++}));
      const bias = this.addWeight(`${name}_bias`, biasShape, 'float32', tfl.initializers.zeros());
      this.subs.push({name, kind, kernel, bias, weightLayout});
    };
    if (this.index === 0) {
      add('channel', 'dense', [c, h], [h], 'columns');
      add('group', 'group', [g, h / g, d / g], [g, d / g], 'groups');
    } else {
      add('token', 'dense', [p, p], [p], 'shared');
      add('channel', 'dense', [d, h], [h], 'columns');
      add('group', 'group', [g, h / g, d / g], [g, d / g], 'groups');
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    return [shape[0], shape[1], this.channels];
  }

  /** LocalLearner: every kernel and bias of the block is trained through its declared sites. */
  activitySiteWeights(): tf.Variable[] {
    return this.subs.flatMap(s => [s.kernel.read() as tf.Variable, s.bias.read() as tf.Variable]);
  }

  /** LocalLearner: the LG-FG-W credit layout of one of the block's weights. */
  weightLayout(v: tf.Variable): WeightLayout|null {
    // A bias splits like its kernel's output columns (a token bias [P] is shared likewise).
    const sub = this.subs.find(s => s.kernel.read().id === v.id || s.bias.read().id === v.id);
    return sub?.weightLayout ?? null;
  }

  /** A fixed random matrix (kept until the layer is disposed), created on first use. */
  private fixedMatrix(key: string, shape: number[], seed: number): Tensor {
    let t = this.fixed.get(key);
    if (t == null) {
      t = tf.keep(tf.randomNormal(shape, 0, initScale(shape), 'float32', seed));
      this.fixed.set(key, t);
    }
    return t;
  }

  /** DFA: the fixed random projection [width, classes] of linear layer `i`'s post-ReLU output. */
  private dfaProjection(i: number, width: number): Tensor {
    return this.fixedMatrix(`dfa_${i}`, [width, this.classes], this.seed + 2000 + i);
  }

  /**
   * Applies linear layer `i` to `a`, its input already normalized, and the LN after it: over
   * `lnAxis` of its output, or, for the grouped FC, per group of the last axis. Grouped: `a` is
   * [N, P, H] and the output [N, P, D].
   */
  private linear(i: number, a: Tensor, lnAxis: number): LinearOut {
    const sub = this.subs[i];
    const kernel = sub.kernel.read();
    const bias = sub.bias.read();
    const feedback = this.feedback === 'random' ?
        this.fixedMatrix(`feedback_${sub.name}`, kernel.shape, this.seed + 1000 + i) : null;
    const {epsilon, groups, channels} = this;
    const h = sub.kind === 'dense' ? denseLinear(a, kernel, bias, feedback) :
                                     groupLinear(a, kernel, bias, feedback, [...a.shape.slice(0, -1), channels]);
    const ln = sub.kind === 'dense' ? {axis: lnAxis, epsilon} : {groups, epsilon};
    if (isTracing()) {
      // A forward-mode step (no tape: plain kernels cost no memory): keep 1/σ for the local pull-back.
      const {y, rstd, view} = normalizeWithStats(h, ln);
      return {a, h, z: y, stats: {rstd, view}};
    }
    return {a, h, z: normalize(h, ln), stats: null};
  }

  /**
   * Declares linear layer `i`'s site (its post-LN activity `out.z`) and returns its handle. The
   * local pull-back maps the activity gradient through the post-LN (as `linear` normalizes) to the
   * weights, from the linear layer's input, which `input` recomputes from `sources` (the block's
   * input, or the previous site's z: tensors the step keeps anyway), so the step does not keep a
   * copy of every layer's input as well.
   */
  private site(i: number, out: LinearOut, layout: ActivityLayout, lnAxis: number, sources: Tensor[],
               input: (sources: Tensor[]) => Tensor) {
    const sub = this.subs[i];
    const kernel = sub.kernel.read() as tf.Variable;
    const bias = sub.bias.read() as tf.Variable;
    const {epsilon, groups} = this;
    const n = sources.length;
    if (out.stats != null) {
      const view = out.stats.view;
      return declareSite({
        layerName: this.name, z: out.z, layout, weights: [kernel, bias], saved: [...sources, out.z, out.stats.rstd],
        gradients: (gz: Tensor, saved: Tensor[]) => tf.tidy(() => {
          const [z, rstd] = saved.slice(n);
          // gh in the LN's view (the same element order as the linear output)
          const gh = normalizePullback(tf.reshape(z, view.shape), rstd, tf.reshape(gz, view.shape), view.axis);
          return linearWeightGradients(sub.kind, input(saved.slice(0, n)), gh, kernel.shape);
        }),
      });
    }
    return declareSite({
      layerName: this.name, z: out.z, layout, weights: [kernel, bias], saved: [...sources, out.h],
      gradients: (gz: Tensor, saved: Tensor[]) => tf.tidy(() => {
        const a = input(saved.slice(0, n));
        const h = saved[n];
        if (sub.kind === 'dense') {
          return linearWeightGradients('dense', a, layerNormBackward(h, tf.reshape(gz, h.shape), lnAxis, epsilon), kernel.shape);
        }
        const perGroup = [-1, h.shape[h.rank - 1] / groups];  // the per-group LN's rows
        const gh = layerNormBackward(tf.reshape(h, perGroup), tf.reshape(gz, perGroup), -1, epsilon);
        return linearWeightGradients('group', a, gh, kernel.shape);
      }),
    });
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = singleInput(this, inputs);
      this.checkShape(x.shape);
      const {hidden: h, channels: d, groups: g, epsilon} = this;
      const taps: Array<{x: Tensor, projection: Tensor}> = [];
      // The layer's output as the next layer sees it (a stop-gradient after every layer in DFA).
      const next = (post: Tensor, width: number, i: number): Tensor => {
        if (!this.dfa) {
          return post;
        }
        taps.push({x: post, projection: this.dfaProjection(i, width)});
        return stopGradient(post);
      };
      let out: Tensor;
      // Each linear layer's input as its site recomputes it (the same kernels on the same tensors).
      const lnChannels = ([t]: Tensor[]) => normalize(t, {epsilon});
      const lnGroupsOfRelu = ([z]: Tensor[]) => normalize(tf.relu(z), {groups: g, epsilon});
      if (this.index === 0) {
        const l0 = this.linear(0, lnChannels([x]), -1);
        const s0 = this.site(0, l0, 'channels', -1, [x], lnChannels);
        const y0 = tf.relu(l0.z);
        s0.setActive(y0);
        const l1 = this.linear(1, normalize(next(y0, h, 0), {groups: g, epsilon}), -1);
        const s1 = this.site(1, l1, 'channels', -1, [l0.z], lnGroupsOfRelu);
        out = tf.relu(l1.z);
        s1.setActive(out);
      } else {
        // Token mixing (the code's mlp_block): one LN over the channels of each patch, then the
        // token FC on the transposed layout [N, D, P], then LN over the channels (axis 1).
        const tokenInput = ([t]: Tensor[]) => tf.transpose(normalize(t, {epsilon}), [0, 2, 1]);
        const lt = this.linear(0, tokenInput([x]), 1);
        const st = this.site(0, lt, 'tokens', 1, [x], tokenInput);
        const yt = tf.relu(lt.z);
        st.setActive(yt);
        let x1 = tf.transpose(yt, [0, 2, 1]);
        if (this.dfa) {
          // the code's DFA tap of the token FC (`loss_dfa`): its output [N, D, P] averaged over the
          // channels, projected P → classes
          taps.push({x: yt, projection: this.dfaProjection(0, yt.shape[2] as number)});
          x1 = stopGradient(x1);
        }
        const l1 = this.linear(1, normalize(x1, {epsilon}), -1);
        const s1 = this.site(1, l1, 'channels', -1, [lt.z],
                             ([zt]) => normalize(tf.transpose(tf.relu(zt), [0, 2, 1]), {epsilon}));
        const y1 = tf.relu(l1.z);
        s1.setActive(y1);
        const l2 = this.linear(2, normalize(next(y1, h, 1), {groups: g, epsilon}), -1);
        const s2 = this.site(2, l2, 'channels', -1, [l1.z], lnGroupsOfRelu);
        out = addRelu(l2.z, x);
        s2.setActive(out);
      }
      if (this.dfa) {
        taps.push({x: out, projection: this.dfaProjection(this.subs.length - 1, d)});
        annotate(out, {dfaTaps: taps}, taps.map(t => t.x));
      }
      return out;
    });
  }

  override dispose(): DisposeResult {
    tf.dispose([...this.fixed.values()]);
    this.fixed.clear();
    return super.dispose();
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(), index: this.index, channels: this.channels, hidden: this.hidden,
      groups: this.groups, classes: this.classes, epsilon: this.epsilon, seed: this.seed,
      feedback: this.feedback, dfa: this.dfa,
    };
  }
}
serialization.registerClass(LocalMixerBlock);

/**
 * A LocalMixer block (paper §3.1): block 0 mixes channels (FC, then grouped FC); later blocks mix
 * tokens over patches, then channels, then grouped channels, with a residual connection. Input and
 * output are patch tokens [batch, patches, channels].
 *
 * ```js
 * const tokens = fg.layers.patchify({patchSize: 4}).apply(tf.input({shape: [32, 32, 3]}));
 * const x0 = fg.layers.localMixerBlock({index: 0, channels: 512, groups: 16}).apply(tokens);
 * const x1 = fg.layers.localMixerBlock({index: 1, channels: 512, groups: 16}).apply(x0);
 * ```
 */
export function localMixerBlock(args: LocalMixerBlockArgs): LocalMixerBlock {
  return new LocalMixerBlock(args);
}
