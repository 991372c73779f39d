/** toTensors / normalizeImages: the paper's per-data-set constants, one-hot labels, no leaks. */
import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../../src/errors';
import {DATASET_NORMALIZATION, ImageSplit, normalizeImages, parseCifar10Batch, toTensors} from '../../src/data';
import {describeBackends, expectClose, values} from '../util';
import {cifarBytes} from './fixtures';

function greySplit(): ImageSplit {
  return {images: Uint8Array.from([0, 255, 128, 1, 2, 3, 4, 5]), labels: Uint8Array.from([3, 9]), count: 2,
          height: 2, width: 2, channels: 1};
}

describeBackends('data: normalisation', () => {
  it('has the constants of the brief (PAPER.md §3.1)', () => {
    expect(DATASET_NORMALIZATION.mnist).toEqual({mean: [0.1307], std: [0.3081]});
    expect(DATASET_NORMALIZATION['fashion-mnist']).toEqual({mean: [0.2860], std: [0.3530]});
    expect(DATASET_NORMALIZATION.cifar10).toEqual({mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010]});
  });

  it('toTensors: (v/255 − mean)/std and one-hot labels, exactly two new tensors', () => {
    const before = tf.memory().numTensors;
    const {xs, ys} = toTensors(greySplit(), {dataset: 'mnist'});
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(xs.shape).toEqual([2, 2, 2, 1]);
    expect(xs.dtype).toBe('float32');
    const want = [0, 255, 128, 1, 2, 3, 4, 5].map(v => (v / 255 - 0.1307) / 0.3081);
    Array.from(values(xs)).forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    expect(ys.shape).toEqual([2, 10]);
    expect(ys.dtype).toBe('float32');
    expect(Array.from(values(ys))).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    tf.dispose([xs, ys]);
  });

  it('CIFAR-10: per-channel constants; normalize=false gives [0, 1]; int32 labels', () => {
    const split = parseCifar10Batch(cifarBytes([4, 5]), 'b');
    const {xs, ys} = toTensors(split, {dataset: 'cifar10', oneHot: false});
    expect(xs.shape).toEqual([2, 32, 32, 3]);
    expect(ys.dtype).toBe('int32');
    expect(Array.from(ys.dataSync())).toEqual([4, 5]);
    const {mean, std} = DATASET_NORMALIZATION.cifar10;
    const x = values(xs);
    for (const k of [0, 1, 2, 3, 100, 3071, 5000]) {
      expect(x[k]).toBeCloseTo((split.images[k] / 255 - mean[k % 3]) / std[k % 3], 5);
    }
    const raw = toTensors(split, {normalize: false, oneHot: false});
    expect(values(raw.xs)[7]).toBeCloseTo(split.images[7] / 255, 6);
    // Augment-then-normalise path agrees with toTensors' normalisation.
    const viaOp = normalizeImages(raw.xs, 'cifar10');
    expectClose(viaOp, xs, 1e-5, 1e-5);
    tf.dispose([xs, ys, raw.xs, raw.ys, viaOp]);
  });

  it('raises clear ValueErrors', () => {
    expect(() => toTensors(greySplit())).toThrowError(ValueError, /normalize=true needs `dataset`/);
    expect(() => toTensors(greySplit(), {dataset: 'cifar10'}))
        .toThrowError(ValueError, /3 channels .* images have 1 \(is this really cifar10\?\)/);
    expect(() => toTensors(greySplit(), {dataset: 'mnist', numClasses: 5}))
        .toThrowError(ValueError, /label 9 at index 1 is out of range \[0, 4\]/);
    expect(() => toTensors({...greySplit(), count: 3}, {dataset: 'mnist'})).toThrowError(ValueError, /images has 8 bytes/);
    expect(() => toTensors(greySplit(), {dataset: 'imagenet' as 'mnist'})).toThrowError(ValueError, /Unknown data set 'imagenet'/);
    expect(() => toTensors(greySplit(), {dataset: {mean: [0.5], std: [0]}})).toThrowError(ValueError, /std > 0/);
  });
});
