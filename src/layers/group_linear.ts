/**
 * GroupLinear: a dense layer whose channels are split into G groups that never communicate
 * (z_{g,j} = Σ_i w_{g,i,j} x_{g,i} + b_{g,j}; paper §2.1): G times fewer weights than a dense
 * layer, and each group can carry its own local loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';

import {ValueError} from '../errors';
import {groupLinear as groupLinearOp, initScale} from './local_ops';
import {fmtShape, isPositiveInt, layerLabel, singleInput, singleShape} from './utils';

/** Arguments of `GroupLinear`. */
export declare interface GroupLinearArgs extends LayerArgs {
  /** Output channels (all groups together); G must divide it. */
  units: number;
  /** G: the number of groups; must divide the input's last axis and `units`. */
  groups: number;
  /** Adds a bias [G, units/G]. Defaults to true. */
  useBias?: boolean;
  /** Seed of the initial kernel, N(0, min(2/√fan_in, 0.1)²) as the paper. Default 0. */
  seed?: number;
}

/**
 * Grouped linear layer: input [..., C], output [..., units]; group g maps input channels
 * [g·C/G, (g+1)·C/G) to output channels [g·units/G, (g+1)·units/G). Kernel [G, C/G, units/G].
 */
export class GroupLinear extends tfl.layers.Layer {
  /** @nocollapse */
  static get className(): string {
    return 'fg.GroupLinear';
  }

  readonly units: number;
  readonly groups: number;
  readonly useBias: boolean;
  readonly seed: number;
  private kernel: tfl.LayerVariable|null = null;
  private bias: tfl.LayerVariable|null = null;

  constructor(args: GroupLinearArgs) {
    super(args);
    const who = layerLabel(this);
    if (!isPositiveInt(args.units) || !isPositiveInt(args.groups)) {
      throw new ValueError(
          `${who}: units and groups must be positive integers. Received: units=${JSON.stringify(args.units)}, ` +
          `groups=${JSON.stringify(args.groups)}.`);
    }
    if (args.units % args.groups !== 0) {
      throw new ValueError(`${who}: groups ${args.groups} does not divide units ${args.units}.`);
    }
    this.units = args.units;
    this.groups = args.groups;
    this.useBias = args.useBias ?? true;
    this.seed = args.seed ?? 0;
  }

  private inputChannels(shape: ReadonlyArray<number|null>): number {
    const c = shape[shape.length - 1];
    if (shape.length < 2 || c == null) {
      throw new ValueError(
          `${layerLabel(this)} expects inputs of rank ≥ 2 with a known last axis. Received: ${fmtShape(shape)}.`);
    }
    if (c % this.groups !== 0) {
      throw new ValueError(
          `${layerLabel(this)}: groups ${this.groups} does not divide the ${c} input channels. ` +
          `Received: input shape ${fmtShape(shape)}.`);
    }
    return c;
  }

  override build(inputShape: tfl.Shape|tfl.Shape[]): void {
    const c = this.inputChannels(singleShape(this, inputShape));
    const g = this.groups;
    const shape = [g, c / g, this.units / g];
    this.kernel = this.addWeight(
        'kernel', shape, 'float32', tfl.initializers.randomNormal({mean: 0, stddev: initScale(shape), seed: this.seed}));
    if (this.useBias) {
      this.bias = this.addWeight('bias', [g, this.units / g], 'float32', tfl.initializers.zeros());
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.inputChannels(shape);
    return [...shape.slice(0, -1), this.units];
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = singleInput(this, inputs);
      const c = this.inputChannels(x.shape);
      const g = this.groups;
      const kernel = this.kernel!.read();
      const bias = this.bias?.read() ?? tf.zeros([g, this.units / g]);
      const y = groupLinearOp(tf.reshape(x, [...x.shape.slice(0, -1), g, c / g]), kernel, bias, null);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.units]);
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), units: this.units, groups: this.groups, useBias: this.useBias, seed: this.seed};
  }
}
serialization.registerClass(GroupLinear);

/**
 * A grouped linear layer: G independent dense maps on G channel groups.
 *
 * ```js
 * const y = fg.layers.groupLinear({units: 64, groups: 4}).apply(tf.input({shape: [16, 32]}));  // [null, 16, 64]
 * ```
 */
export function groupLinear(args: GroupLinearArgs): GroupLinear {
  return new GroupLinear(args);
}
