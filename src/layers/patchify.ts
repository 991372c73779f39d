/**
 * Patchify: cuts images into non-overlapping patches, the LocalMixer's input layer (paper §3.1:
 * [N, n, h, n, w, C] → [N, (n n), (h w C)]).
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';

import {ValueError} from '../errors';
import {fmtShape, isPositiveInt, layerLabel, singleInput, singleShape} from './utils';

/** Arguments of the `Patchify` layer. */
export declare interface PatchifyArgs extends LayerArgs {
  /**
   * Patch height and width in pixels: one number for square patches, or `[height, width]`. Must
   * divide the image height and width. Required.
   */
  patchSize: number|[number, number];
}

/**
 * Images `[N, H, W, C]` → patches `[N, P, ph·pw·C]`, P = (H/ph)·(W/pw) non-overlapping patches.
 * Patches are numbered row-major over the patch grid (patch (i, j) is number i·(W/pw) + j); inside a
 * patch the features are ordered (row, column, channel): feature a·pw·C + b·C + c is pixel
 * (i·ph + a, j·pw + b), channel c. This is the order of the paper's reshape
 * [N, n, h, n, w, C] → [N, (n n), (h w C)].
 *
 * Implemented as reshape → rank-4 transpose → reshape (no rank-6 op: WebGL has none, and rank-6
 * transposes are slow on wasm). Has no weights.
 */
export class Patchify extends tfl.layers.Layer {
  /** @nocollapse */
  static get className(): string {
    return 'fg.Patchify';
  }

  /** Patch `[height, width]`. */
  readonly patchSize: [number, number];

  constructor(args: PatchifyArgs) {
    super(args ?? {});
    const p = args?.patchSize;
    const ok = isPositiveInt(p) || (Array.isArray(p) && p.length === 2 && p.every(isPositiveInt));
    if (!ok) {
      throw new ValueError(
          `${layerLabel(this)}: patchSize must be a positive integer or a pair [height, width] of ` +
          `positive integers. Received: patchSize=${JSON.stringify(p)}.`);
    }
    this.patchSize = typeof p === 'number' ? [p, p] : [p![0], p![1]];
  }

  /** Checks an input shape: rank 4 and, where known, height / width divisible by the patch size. */
  private checkShape(shape: ReadonlyArray<number|null>): void {
    if (shape.length !== 4) {
      throw new ValueError(
          `${layerLabel(this)} expects images of rank 4 [batch, height, width, channels]. ` +
          `Received: input shape ${fmtShape(shape)}.`);
    }
    const [ph, pw] = this.patchSize;
    const [, h, w] = shape;
    if (h != null && h % ph !== 0) {
      throw new ValueError(
          `${layerLabel(this)}: patch size ${ph} does not divide the image height ${h}. ` +
          `Received: patchSize=[${ph}, ${pw}], input shape ${fmtShape(shape)}.`);
    }
    if (w != null && w % pw !== 0) {
      throw new ValueError(
          `${layerLabel(this)}: patch size ${pw} does not divide the image width ${w}. ` +
          `Received: patchSize=[${ph}, ${pw}], input shape ${fmtShape(shape)}.`);
    }
  }

  override build(inputShape: tfl.Shape|tfl.Shape[]): void {
    this.checkShape(singleShape(this, inputShape));
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    const shape = singleShape(this, inputShape);
    this.checkShape(shape);
    const [ph, pw] = this.patchSize;
    const [n, h, w, c] = shape;
    const patches = h == null || w == null ? null : (h / ph) * (w / pw);
    return [n, patches, c == null ? null : ph * pw * c];
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = singleInput(this, inputs);
      this.checkShape(x.shape);
      const [ph, pw] = this.patchSize;
      const [n, h, w, c] = x.shape;
      const nh = h / ph, nw = w / pw;
      // x[n, i·ph + a, j·pw + b, c] is element (n·nh + i, a, j, b·C + c) of the rank-4 view ...
      const rows = tf.reshape(x, [n * nh, ph, nw, pw * c]);
      // ... (n·nh + i, j, a, b·C + c) after swapping the two middle axes ...
      const grid = tf.transpose(rows, [0, 2, 1, 3]);
      // ... and patch i·nw + j, feature a·pw·C + b·C + c of the result.
      return tf.reshape(grid, [n, nh * nw, ph * pw * c]);
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), patchSize: [...this.patchSize]};
  }
}
serialization.registerClass(Patchify);

/**
 * Cuts images `[N, H, W, C]` into non-overlapping `patchSize` patches: output `[N, P, ph·pw·C]` with
 * P = (H/ph)·(W/pw), patches row-major over the grid, features (row, column, channel) inside a
 * patch — the LocalMixer's tokenizer. The patch size must divide the image height and width.
 *
 * ```js
 * const images = tf.input({shape: [28, 28, 1]});
 * const tokens = fg.layers.patchify({patchSize: 7}).apply(images);   // [null, 16, 49]
 * ```
 */
export function patchify(args: PatchifyArgs): Patchify {
  return new Patchify(args);
}
