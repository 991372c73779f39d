/**
 * Two-view batches for contrastive learning (paper §2.3): `ViewsToBatch` turns per-example views
 * [N, V, H, W, C] into one batch [V·N, H, W, C] (view-major: rows v·N … v·N + N − 1 are view v), so
 * that every layer after it sees the V views of an example as V rows; `FirstView` takes back the
 * rows of view 0 (e.g. for a linear readout trained on labels). A model containing ViewsToBatch
 * gets the same activity perturbation on the V rows of an example (the paper's shared noise).
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';

import {ValueError} from '../errors';
import {StepCapabilities} from '../step/local_step';
import {fmtShape, isPositiveInt, layerLabel, singleInput, singleShape} from './utils';

/** Arguments of `ViewsToBatch` and `FirstView`. */
export declare interface ViewsArgs extends LayerArgs {
  /** V: views per example. Defaults to 2. */
  views?: number;
}

function checkViews(layer: tfl.layers.Layer, views: unknown): number {
  if (!isPositiveInt(views)) {
    throw new ValueError(`${layerLabel(layer)}: views must be a positive integer. Received: ${JSON.stringify(views)}.`);
  }
  return views;
}

/** [N, V, ...] → [V·N, ...], view-major. */
export class ViewsToBatch extends tfl.layers.Layer implements StepCapabilities {
  /** @nocollapse */
  static get className(): string {
    return 'fg.ViewsToBatch';
  }

  readonly views: number;

  constructor(args: ViewsArgs = {}) {
    super(args);
    this.views = checkViews(this, args.views ?? 2);
  }

  /** Rows of one example share their perturbation noise (read by the forward-gradient optimizer). */
  get viewsPerExample(): number {
    return this.views;
  }

  private check(shape: ReadonlyArray<number|null>): void {
    if (shape.length < 3 || shape[1] !== this.views) {
      throw new ValueError(
          `${layerLabel(this)} expects [batch, ${this.views} views, ...]. Received: input shape ${fmtShape(shape)}.`);
    }
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.check(shape);
    return [shape[0] == null ? null : shape[0] * this.views, ...shape.slice(2)];
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = singleInput(this, inputs);
      this.check(x.shape);
      const perm = x.shape.map((_, i) => i);
      perm[0] = 1;
      perm[1] = 0;
      return tf.reshape(tf.transpose(x, perm), [-1, ...x.shape.slice(2)]);
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), views: this.views};
  }
}
serialization.registerClass(ViewsToBatch);

/** [V·N, ...] (view-major) → the rows of view 0, [N, ...]. */
export class FirstView extends tfl.layers.Layer {
  /** @nocollapse */
  static get className(): string {
    return 'fg.FirstView';
  }

  readonly views: number;

  constructor(args: ViewsArgs = {}) {
    super(args);
    this.views = checkViews(this, args.views ?? 2);
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    return [shape[0] == null ? null : shape[0] / this.views, ...shape.slice(1)];
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = singleInput(this, inputs);
      if (x.shape[0] % this.views !== 0) {
        throw new ValueError(
            `${layerLabel(this)}: ${x.shape[0]} rows are not ${this.views} views of the same examples.`);
      }
      return tf.slice(x, 0, x.shape[0] / this.views);
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), views: this.views};
  }
}
serialization.registerClass(FirstView);

/** Two views per example → one batch of view-major rows (see `ViewsToBatch`). */
export function viewsToBatch(args: ViewsArgs = {}): ViewsToBatch {
  return new ViewsToBatch(args);
}

/** The rows of the first view (see `FirstView`). */
export function firstView(args: ViewsArgs = {}): FirstView {
  return new FirstView(args);
}
