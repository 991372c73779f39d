/**
 * The inputs of a contrastive epoch, made as the batches reach them: two BYOL views of each image,
 * drawn chunk by chunk from the run's seed and the epoch (so `--resume` redraws the same views).
 * Only the chunk being read sits on the device, not the epoch's views of every image (at 50,000
 * CIFAR-10 images those are 1.2 GB of wasm's 4 GB heap).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor2D, Tensor4D} from '@tensorflow/tfjs-core';

import {byolViews} from '../data/augment';
import {FitDataset} from '../data/batches';
import {normalizeImages, toTensors} from '../data/normalize';
import {DatasetName, ImageSplit, sliceSplit} from '../data/split';
import {pairViews} from '../models/training_modes';

/** Classes of the one-hot labels (the CLI's data sets have ten). */
const NUM_CLASSES = 10;

/** Images whose views one augmentation call makes (bounds the memory of the intermediate images). */
export const VIEW_CHUNK = 1000;

/** How a contrastive epoch draws its views. */
export interface ViewSettings {
  data: DatasetName;
  seed: number;
  /** 0-based. */
  epoch: number;
  /** Crop-area lower bound of the views. */
  areaLowerBound: number;
  /** Images per augmentation call (the views of a chunk are keyed by its first index). Default `VIEW_CHUNK`. */
  chunk?: number;
}

/**
 * The views of images `start … start + n − 1` of `split` (one chunk): two BYOL views of each,
 * normalized, paired [n, 2, H, W, C].
 */
function chunkViews(split: ImageSplit, start: number, n: number, s: ViewSettings): Tensor {
  return tf.tidy(() => {
    const {xs} = toTensors(sliceSplit(split, start, start + n), {normalize: false});
    const [v1, v2] = byolViews(xs, `${s.seed}/views/${s.epoch}/${start}`, {areaLowerBound: s.areaLowerBound});
    return pairViews(normalizeImages(v1, s.data), normalizeImages(v2, s.data));
  });
}

/**
 * The contrastive inputs of an epoch: for each image of `split` (in the epoch's order), two BYOL
 * views (`byolViews`, crop area [areaLowerBound, 1]), normalized, paired [N, 2, H, W, C]. Read
 * row range by row range (`rows`), in increasing order; a chunk's views are made when first read
 * and freed when a later chunk is.
 */
export class EpochViews {
  private readonly chunk: number;
  private cached: {index: number, views: Tensor}|null = null;

  constructor(private readonly split: ImageSplit, private readonly settings: ViewSettings) {
    this.chunk = settings.chunk ?? VIEW_CHUNK;
  }

  /** The views of images `start … end − 1`, [end − start, 2, H, W, C] (a new tensor). */
  rows(start: number, end: number): Tensor {
    const pieces: Tensor[] = [];
    try {
      for (let r = start; r < end;) {
        const index = Math.floor(r / this.chunk), first = index * this.chunk;
        const upTo = Math.min(end, first + this.chunk);
        pieces.push(tf.slice(this.chunkViews(index), r - first, upTo - r));
        r = upTo;
      }
      return pieces.length === 1 ? pieces[0] : tf.concat(pieces, 0);
    } finally {
      if (pieces.length > 1) {
        tf.dispose(pieces);
      }
    }
  }

  /** Frees the chunk held. */
  dispose(): void {
    this.cached?.views.dispose();
    this.cached = null;
  }

  private chunkViews(index: number): Tensor {
    if (this.cached?.index !== index) {
      this.dispose();
      const start = index * this.chunk;
      const views = tf.keep(chunkViews(this.split, start, Math.min(this.chunk, this.split.count - start), this.settings));
      this.cached = {index, views};
    }
    return this.cached!.views;
  }
}

/**
 * An epoch of contrastive training for `model.fitDataset`: batches of `batchSize` rows of `views`
 * in order (the last one smaller if `split.count` is not a multiple), with the targets `targets`
 * makes from their one-hot labels. `fitDataset` disposes each batch after its step.
 */
export function contrastiveEpochDataset(
    split: ImageSplit, views: EpochViews, batchSize: number, targets: (labels: Tensor2D) => Tensor[]): FitDataset {
  const size = Math.ceil(split.count / batchSize);
  return {
    size,
    iterator: async () => {
      let batch = 0;
      return {
        next: async () => {
          if (batch >= size) {
            return {done: true, value: undefined} as IteratorResult<{xs: Tensor, ys: Tensor[]}>;
          }
          const start = batch * batchSize, end = Math.min(split.count, start + batchSize);
          batch++;
          const value = tf.tidy(() => {
            // one-hot float32 labels, as toTensors makes them (without converting the batch's images)
            const labels = tf.cast(tf.oneHot(tf.tensor1d(split.labels.subarray(start, end), 'int32'), NUM_CLASSES), 'float32');
            return {xs: views.rows(start, end), ys: targets(labels as Tensor2D)};
          });
          return {done: false, value};
        },
      };
    },
  };
}

/** The readout's inputs after a contrastive epoch: the un-augmented, normalized images and their one-hot labels. */
export function readoutInputs(split: ImageSplit, data: DatasetName): {images: Tensor4D, labels: Tensor2D} {
  const {xs, ys} = toTensors(split, {normalize: false});
  try {
    return {images: normalizeImages(xs, data), labels: ys as Tensor2D};
  } finally {
    xs.dispose();
  }
}
