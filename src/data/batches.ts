/**
 * Mini-batches of a split: seeded shuffling and an iterator of `{xs, ys}` tensors, gathered and
 * converted on the host one batch at a time (a whole split never sits on the device as float32).
 */
import {Tensor} from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';
import {ToTensorsOptions, toTensors, XsYs} from './normalize';
import {makeRng, permutation, Seed} from './random';
import {checkSplit, gatherSplit, ImageSplit} from './split';

/**
 * A seeded random permutation of 0..n−1 (Fisher–Yates on seedrandom's Alea): the same seed gives
 * the same order everywhere. Use a different seed per epoch (e.g. `${seed}/${epoch}`).
 */
export function shuffledIndices(n: number, seed: Seed): Int32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new ValueError(`shuffledIndices: n must be a non-negative integer. Received: ${n}.`);
  }
  return permutation(makeRng(seed), n);
}

/** Options of `batchesOf` (also those of `toTensors`: dataset, normalize, oneHot, numClasses). */
export interface BatchOptions extends ToTensorsOptions {
  /** Examples per batch. Required. */
  batchSize: number;
  /** Visit the examples in a seeded random order (needs `seed`). Default false: in order. */
  shuffle?: boolean;
  /** Seed of the shuffle; required when `shuffle` is true. Use a different one each epoch. */
  seed?: Seed;
  /** Drop the last batch if it is smaller than `batchSize` (the paper's code does). Default false. */
  dropRemainder?: boolean;
}

/** Number of batches `batchesOf` yields for `n` examples. */
export function batchCount(n: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/**
 * Iterates over a split in batches of `{xs, ys}` tensors (as `toTensors` makes them). Each batch
 * is created when the iterator reaches it, and the caller disposes it. For augmentation, ask for
 * `normalize: false` (pixels in [0, 1]), augment, then `normalizeImages`.
 *
 * ```js
 * for (const {xs, ys} of batchesOf(train, {batchSize: 128, shuffle: true, seed: epoch, dataset: 'mnist'})) {
 *   model.trainOnBatch(xs, ys); tf.dispose([xs, ys]);
 * }
 * ```
 */
export function batchesOf(split: ImageSplit, opts: BatchOptions): IterableIterator<XsYs> {
  const {batchSize, shuffle = false, dropRemainder = false, normalize = true} = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ValueError(`batchesOf: batchSize must be a positive integer. Received: ${batchSize}.`);
  }
  if (shuffle && opts.seed == null) {
    throw new ValueError('batchesOf: shuffle=true needs a seed (a different one per epoch, e.g. the epoch number).');
  }
  if (normalize && opts.dataset == null) {
    throw new ValueError('batchesOf: normalize=true needs `dataset` (a data set name or {mean, std}); ' +
                         'pass normalize: false for pixels in [0, 1].');
  }
  checkSplit(split, 'batchesOf');
  // Checked above, before the first batch is asked for (a generator body would run only then).
  return batches(split, opts, shuffle ? shuffledIndices(split.count, opts.seed as Seed) : null,
                 batchCount(split.count, batchSize, dropRemainder));
}

function* batches(split: ImageSplit, opts: BatchOptions, order: Int32Array|null, n: number): Generator<XsYs> {
  const {batchSize} = opts;
  for (let b = 0; b < n; b++) {
    const start = b * batchSize, end = Math.min(split.count, start + batchSize);
    const idx = new Int32Array(end - start);
    for (let i = 0; i < idx.length; i++) {
      idx[i] = order != null ? order[start + i] : start + i;
    }
    yield toTensors(gatherSplit(split, idx), opts);
  }
}

/** Options of `fitDatasetOf`. */
export interface FitDatasetOptions extends BatchOptions {
  /**
   * Maps a batch's labels to the model's targets, e.g. `ys => fg.models.localMixerTargets(model, ys)`
   * for a LocalMixer (one target per output). Default: the labels.
   */
  targets?: (ys: Tensor) => Tensor|Tensor[];
}

/** What `model.fitDataset` reads: a size and a fresh iterator of `{xs, ys}` batches per epoch. */
export interface FitDataset {
  /** Batches per epoch. */
  readonly size: number;
  iterator(): Promise<{next(): Promise<IteratorResult<{xs: Tensor, ys: Tensor|Tensor[]}>>}>;
}

/**
 * A split as a data set for `model.fitDataset` (tfjs-data is not needed): every epoch (every call of
 * `iterator()`) visits the batches in a new seeded order (`${seed}/${epoch}`) when `shuffle` is on.
 *
 * ```js
 * await model.fitDataset(fg.data.fitDatasetOf(train, {batchSize: 128, shuffle: true, seed: 0, dataset: 'mnist'}),
 *                        {epochs: 5, callbacks: [fg.callbacks.forwardGradient()]});
 * ```
 */
export function fitDatasetOf(split: ImageSplit, opts: FitDatasetOptions): FitDataset {
  batchesOf(split, opts);  // checks the options now, not at the first epoch
  let epoch = 0;
  const size = batchCount(split.count, opts.batchSize, opts.dropRemainder ?? false);
  return {
    size,
    iterator: async () => {
      const seed = opts.shuffle ? `${String(opts.seed)}/${epoch}` : undefined;
      epoch++;
      const it = batchesOf(split, {...opts, seed});
      return {
        next: async () => {
          const r = it.next();
          if (r.done) {
            return {done: true, value: undefined} as IteratorResult<{xs: Tensor, ys: Tensor|Tensor[]}>;
          }
          const {xs, ys} = r.value;
          return {done: false, value: {xs, ys: opts.targets == null ? ys : opts.targets(ys)}};
        },
      };
    },
  };
}
