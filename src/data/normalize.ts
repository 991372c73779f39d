/**
 * Per-data-set pixel normalisation (paper §3.1: x ← (x/255 − mean)/std per channel) and the
 * conversion of an `ImageSplit` to the `{xs, ys}` tensors that `model.fit` and the trainers take.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor4D} from '@tensorflow/tfjs-core';

import {float32TensorFilledBy} from '../backends/filled_tensor';
import {ValueError} from '../errors';
import {checkLabels, checkSplit, DatasetName, ImageSplit} from './split';

/** Per-channel mean and standard deviation of pixels scaled to [0, 1] (one entry, or one per channel). */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * The constants used by the paper's official code and the usual ones for Fashion-MNIST:
 * MNIST 0.1307/0.3081, Fashion-MNIST 0.2860/0.3530, CIFAR-10 mean (0.4914, 0.4822, 0.4465),
 * std (0.2023, 0.1994, 0.2010).
 */
export const DATASET_NORMALIZATION: Readonly<Record<DatasetName, Normalization>> = {
  'mnist': {mean: [0.1307], std: [0.3081]},
  'fashion-mnist': {mean: [0.2860], std: [0.3530]},
  'cifar10': {mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010]},
};

/** The normalisation of a named data set, or `norm` itself after checking it (`channels` to match). */
export function normalizationOf(norm: DatasetName|Normalization, channels?: number): Normalization {
  let n: Normalization;
  if (typeof norm === 'string') {
    if (!Object.prototype.hasOwnProperty.call(DATASET_NORMALIZATION, norm)) {
      throw new ValueError(`Unknown data set '${norm}': expected one of ` +
                           `${Object.keys(DATASET_NORMALIZATION).map(k => `'${k}'`).join(', ')}, ` +
                           'or {mean, std}.');
    }
    n = DATASET_NORMALIZATION[norm];
  } else {
    n = norm;
  }
  if (n.mean.length !== n.std.length || n.mean.length === 0 || n.std.some(s => !(s > 0))) {
    throw new ValueError(`A normalization needs equally long non-empty mean and std, std > 0. ` +
                         `Received: mean=[${n.mean.join(', ')}], std=[${n.std.join(', ')}].`);
  }
  if (channels != null && n.mean.length !== 1 && n.mean.length !== channels) {
    throw new ValueError(`The normalization has ${n.mean.length} channels (mean=[${n.mean.join(', ')}]) but the ` +
                         `images have ${channels}${typeof norm === 'string' ? ` (is this really ${norm}?)` : ''}.`);
  }
  return n;
}

/**
 * (x − mean)/std per channel, for float images [N, H, W, C] already scaled to [0, 1] (e.g. after
 * augmentation). A new tensor; the input is not disposed.
 */
export function normalizeImages(x: Tensor4D, norm: DatasetName|Normalization): Tensor4D {
  if (x.rank !== 4) {
    throw new ValueError(`normalizeImages: expected images [N, H, W, C]. Received shape [${x.shape.join(', ')}].`);
  }
  const n = normalizationOf(norm, x.shape[3]);
  return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(n.mean as number[])), tf.tensor1d(n.std as number[])));
}

/** Options of `toTensors`. */
export interface ToTensorsOptions {
  /**
   * The data set (its normalisation constants) or explicit `{mean, std}`. Required when `normalize`
   * is true.
   */
  dataset?: DatasetName|Normalization;
  /** Standardise with the data set's mean/std; if false, `xs` holds pixels/255 in [0, 1]. Default true. */
  normalize?: boolean;
  /** `ys` as one-hot float32 [N, numClasses]; if false, int32 labels [N]. Default true. */
  oneHot?: boolean;
  /** Number of classes of the one-hot encoding. Default 10. */
  numClasses?: number;
}

/** Images and labels as tensors. */
export interface XsYs {
  /** float32 images [N, H, W, C]. */
  xs: Tensor4D;
  /** One-hot float32 [N, numClasses], or int32 labels [N]. */
  ys: Tensor;
}

/**
 * A split → `{xs, ys}` tensors: `xs` float32 [N, H, W, C] = pixels/255, then (x − mean)/std per
 * channel; `ys` one-hot float32 [N, numClasses] (or int32 labels). The values are computed on the
 * host (on wasm, written straight into the tensor's memory), so exactly two tensors are created and
 * nothing leaks. The caller owns (disposes) both.
 */
export function toTensors(split: ImageSplit, opts: ToTensorsOptions = {}): XsYs {
  const {normalize = true, oneHot = true, numClasses = 10} = opts;
  checkSplit(split, 'toTensors');
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new ValueError(`toTensors: numClasses must be a positive integer. Received: ${numClasses}.`);
  }
  checkLabels(split.labels, numClasses, 'toTensors');
  const {count, height, width, channels, images} = split;
  let fill: (xs: Float32Array) => void;
  if (normalize) {
    if (opts.dataset == null) {
      throw new ValueError('toTensors: normalize=true needs `dataset` (a data set name or {mean, std}); ' +
                           'pass normalize: false for pixels in [0, 1].');
    }
    const n = normalizationOf(opts.dataset, channels);
    // Per-channel affine map v ↦ (v/255 − mean)/std, as a lookup table per channel.
    const tables = Array.from({length: channels}, (_, c) => {
      const m = n.mean[n.mean.length === 1 ? 0 : c], s = n.std[n.std.length === 1 ? 0 : c];
      return Float32Array.from({length: 256}, (_v, v) => (v / 255 - m) / s);
    });
    fill = channels === 1 ? xs => {
      const table = tables[0];
      for (let i = 0; i < xs.length; i++) {
        xs[i] = table[images[i]];
      }
    } : xs => {
      for (let i = 0; i < xs.length; i += channels) {
        for (let c = 0; c < channels; c++) {
          xs[i + c] = tables[c][images[i + c]];
        }
      }
    };
  } else {
    fill = xs => {
      for (let i = 0; i < xs.length; i++) {
        xs[i] = images[i] / 255;
      }
    };
  }
  let ys: Tensor;
  if (oneHot) {
    const y = new Float32Array(count * numClasses);
    split.labels.forEach((l, i) => y[i * numClasses + l] = 1);
    ys = tf.tensor2d(y, [count, numClasses], 'float32');
  } else {
    ys = tf.tensor1d(Int32Array.from(split.labels), 'int32');
  }
  try {
    return {xs: float32TensorFilledBy([count, height, width, channels], fill) as Tensor4D, ys};
  } catch (e) {
    ys.dispose();
    throw e;
  }
}
