/**
 * The in-memory form of a data set split: uint8 pixels in HWC order plus uint8 labels, as the
 * parsers produce and the tensor converters consume. Kept as plain typed arrays (not tensors) so
 * that whole splits cost 1 byte a pixel and batches are gathered on the host.
 */
import {ValueError} from '../errors';

/** The data sets the readers and normalisation constants know. */
export type DatasetName = 'mnist'|'fashion-mnist'|'cifar10';

/**
 * One split of an image classification data set. `images` holds `count` images of
 * `height × width × channels` uint8 pixels, row-major HWC (pixel (y, x), channel c of image i is at
 * `((i·height + y)·width + x)·channels + c`); `labels` holds `count` class indices.
 */
export interface ImageSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/** Pixels per image of a split. */
export function imageSize(split: ImageSplit): number {
  return split.height * split.width * split.channels;
}

/** Checks that a split's arrays agree with its count and image shape (a ValueError if not). */
export function checkSplit(split: ImageSplit, what = 'split'): void {
  const {count, height, width, channels} = split;
  for (const [k, v] of Object.entries({count, height, width, channels})) {
    if (!Number.isInteger(v) || v < 0 || (k !== 'count' && v === 0)) {
      throw new ValueError(`${what}: ${k} must be a ${k === 'count' ? 'non-negative' : 'positive'} integer. ` +
                           `Received: ${v}.`);
    }
  }
  if (split.images.length !== count * imageSize(split)) {
    throw new ValueError(`${what}: images has ${split.images.length} bytes, expected ` +
                         `count·height·width·channels = ${count}·${height}·${width}·${channels} = ` +
                         `${count * imageSize(split)}.`);
  }
  if (split.labels.length !== count) {
    throw new ValueError(`${what}: labels has ${split.labels.length} entries, expected count = ${count}.`);
  }
}

/** Images `start..end−1` of a split, copied (used for `limit` and for train/validation cuts). */
export function sliceSplit(split: ImageSplit, start: number, end = split.count): ImageSplit {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > split.count) {
    throw new ValueError(`sliceSplit: need integers 0 ≤ start ≤ end ≤ count = ${split.count}. ` +
                         `Received: start=${start}, end=${end}.`);
  }
  const size = imageSize(split);
  return {
    ...split,
    images: new Uint8Array(split.images.subarray(start * size, end * size)),
    labels: new Uint8Array(split.labels.subarray(start, end)),
    count: end - start,
  };
}

/** The images at `indices` (in that order), copied: a batch or a subset of a split. */
export function gatherSplit(split: ImageSplit, indices: ArrayLike<number>): ImageSplit {
  const size = imageSize(split);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (!Number.isInteger(k) || k < 0 || k >= split.count) {
      throw new ValueError(`gatherSplit: index ${k} (position ${i}) is out of range [0, ${split.count}).`);
    }
    images.set(split.images.subarray(k * size, (k + 1) * size), i * size);
    labels[i] = split.labels[k];
  }
  return {...split, images, labels, count: indices.length};
}

/**
 * Splits joined end to end (e.g. CIFAR-10's five training batch files into one training split). All
 * must have the same image shape.
 */
export function concatSplits(...splits: ImageSplit[]): ImageSplit {
  if (splits.length === 0) {
    throw new ValueError('concatSplits: needs at least one split.');
  }
  const [first] = splits;
  for (const s of splits) {
    if (s.height !== first.height || s.width !== first.width || s.channels !== first.channels) {
      throw new ValueError(`concatSplits: image shapes differ: ${first.height}×${first.width}×${first.channels} ` +
                           `vs ${s.height}×${s.width}×${s.channels}.`);
    }
  }
  const count = splits.reduce((a, s) => a + s.count, 0);
  const size = imageSize(first);
  const images = new Uint8Array(count * size);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const s of splits) {
    images.set(s.images.subarray(0, s.count * size), at * size);
    labels.set(s.labels.subarray(0, s.count), at);
    at += s.count;
  }
  return {images, labels, count, height: first.height, width: first.width, channels: first.channels};
}

/** Throws a ValueError naming `what` if a label is ≥ `numClasses`. */
export function checkLabels(labels: Uint8Array, numClasses: number, what: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) {
      throw new ValueError(`${what}: label ${labels[i]} at index ${i} is out of range [0, ${numClasses - 1}] ` +
                           `(corrupt or not a ${numClasses}-class label file).`);
    }
  }
}
