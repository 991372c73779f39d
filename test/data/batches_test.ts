/** Seeded shuffling and batching: determinism, coverage, remainders, no leaks. */
import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../../src/errors';
import * as tfl from '@tensorflow/tfjs-layers';

import {batchCount, batchesOf, fitDatasetOf, ImageSplit, shuffledIndices} from '../../src/data';
import {describeBackends} from '../util';

/** n 2×2 grey images, image i filled with the value i, label i mod 10. */
function numbered(n: number): ImageSplit {
  const images = new Uint8Array(n * 4);
  images.forEach((_, k) => images[k] = Math.floor(k / 4));
  return {images, labels: Uint8Array.from({length: n}, (_, i) => i % 10), count: n, height: 2, width: 2, channels: 1};
}

/** The image numbers in a batch of `numbered` images (normalize: false). */
function ids(xs: tf.Tensor): number[] {
  const v = xs.dataSync();
  return Array.from({length: xs.shape[0]}, (_, i) => Math.round(v[4 * i] * 255));
}

describe('data: shuffledIndices', () => {
  it('is a permutation, the same for the same seed, different for another', () => {
    const a = shuffledIndices(1000, 7);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({length: 1000}, (_, i) => i));
    expect(shuffledIndices(1000, 7)).toEqual(a);
    expect(shuffledIndices(1000, '7')).toEqual(a);  // seeds are used as strings
    expect(shuffledIndices(1000, 8)).not.toEqual(a);
    expect(Array.from(a.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(shuffledIndices(0, 1).length).toBe(0);
    expect(() => shuffledIndices(-1, 1)).toThrowError(ValueError, /non-negative integer/);
    expect(() => shuffledIndices(3, NaN)).toThrowError(ValueError, /seed must be a finite number/);
  });

  it('batchCount', () => {
    expect(batchCount(10, 3)).toBe(4);
    expect(batchCount(10, 3, true)).toBe(3);
    expect(batchCount(9, 3, true)).toBe(3);
  });
});

describeBackends('data: batchesOf', () => {
  it('in order: all images, the last batch smaller, labels one-hot', () => {
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const sizes: number[] = [];
    for (const {xs, ys} of batchesOf(numbered(10), {batchSize: 4, normalize: false})) {
      expect(xs.shape.slice(1)).toEqual([2, 2, 1]);
      expect(ys.shape).toEqual([xs.shape[0], 10]);
      const argMax = tf.argMax(ys, 1);
      const labels = Array.from(argMax.dataSync());
      const got = ids(xs);
      expect(labels).toEqual(got.map(i => i % 10));
      seen.push(...got);
      sizes.push(xs.shape[0]);
      tf.dispose([xs, ys, argMax]);
    }
    expect(sizes).toEqual([4, 4, 2]);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('shuffled: each image once per epoch, seeded, dropRemainder', () => {
    const split = numbered(23);
    const epoch = (seed: number, dropRemainder = false) => {
      const out: number[][] = [];
      for (const {xs, ys} of batchesOf(split, {batchSize: 5, shuffle: true, seed, dropRemainder, normalize: false})) {
        out.push(ids(xs));
        tf.dispose([xs, ys]);
      }
      return out;
    };
    const e1 = epoch(1);
    expect(e1.map(b => b.length)).toEqual([5, 5, 5, 5, 3]);
    expect(e1.flat().sort((a, b) => a - b)).toEqual(Array.from({length: 23}, (_, i) => i));
    expect(epoch(1)).toEqual(e1);
    expect(epoch(2)).not.toEqual(e1);
    expect(epoch(1, true)).toEqual(e1.slice(0, 4));
  });

  it('normalises with the data set, and does not leak', () => {
    const before = tf.memory().numTensors;
    const it = batchesOf(numbered(3), {batchSize: 3, dataset: 'mnist', oneHot: false});
    const {xs, ys} = it.next().value as {xs: tf.Tensor, ys: tf.Tensor};
    expect(xs.dataSync()[4]).toBeCloseTo((1 / 255 - 0.1307) / 0.3081, 5);
    expect(Array.from(ys.dataSync())).toEqual([0, 1, 2]);
    expect(it.next().done).toBe(true);
    tf.dispose([xs, ys]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks its options when called, before the first batch', () => {
    const split = numbered(3);
    expect(() => batchesOf(split, {batchSize: 0, normalize: false})).toThrowError(ValueError, /batchSize must be a positive integer/);
    expect(() => batchesOf(split, {batchSize: 2, shuffle: true, normalize: false})).toThrowError(ValueError, /shuffle=true needs a seed/);
    expect(() => batchesOf(split, {batchSize: 2})).toThrowError(ValueError, /normalize=true needs `dataset`/);
  });
});

describeBackends('data: fitDatasetOf', () => {
  it('feeds model.fitDataset: every example once per epoch, a new order each epoch, targets mapped, no leaks', async () => {
    const split = numbered(10);
    const model = tfl.sequential({layers: [tfl.layers.flatten({inputShape: [2, 2, 1]}), tfl.layers.dense({units: 10, activation: 'softmax'})]});
    model.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
    const seen: number[][] = [];
    const ds = fitDatasetOf(split, {batchSize: 4, shuffle: true, seed: 3, normalize: false, targets: ys => {
      seen.push([]);
      return ys;
    }});
    expect(ds.size).toBe(3);
    const orders: number[][] = [];
    for (let e = 0; e < 2; e++) {
      const it = await ds.iterator();
      const order: number[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) {
        order.push(...ids(r.value.xs));
        tf.dispose([r.value.xs, r.value.ys]);
      }
      expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      orders.push(order);
    }
    expect(orders[1]).not.toEqual(orders[0]);
    const before = tf.memory().numTensors;
    const h = await model.fitDataset(ds, {epochs: 2, verbose: 0});
    expect((h.history.loss as number[]).length).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    expect(seen.length).toBe(6 + 6);
    expect(() => fitDatasetOf(split, {batchSize: 4, shuffle: true, normalize: false})).toThrowError(ValueError, /needs a seed/);
    model.dispose();
  });
});
