/**
 * The contrastive epoch's inputs made batch by batch (src/cli/contrastive_data.ts): any batching
 * reads exactly the views the whole epoch would have at once (chunks keyed by their first image,
 * batches across chunk boundaries), one chunk on the device at a time, one-hot targets, the batch
 * sizes model.fitDataset is given, no leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {contrastiveEpochDataset, EpochViews, readoutInputs, ViewSettings} from '../../src/cli/contrastive_data';
import {byolViews} from '../../src/data/augment';
import {normalizeImages, toTensors} from '../../src/data/normalize';
import {ImageSplit, sliceSplit} from '../../src/data/split';
import {pairViews} from '../../src/models/training_modes';
import {describeBackends} from '../util';

/** A split of `count` random 6×6 RGB images, labels i mod 10, seeded. */
function split(count: number, seed: number): ImageSplit {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  const images = Uint8Array.from({length: count * 6 * 6 * 3}, next);
  const labels = Uint8Array.from({length: count}, (_, i) => i % 10);
  return {images, labels, count, height: 6, width: 6, channels: 3};
}

/** The epoch's views all at once, chunk by chunk from the same seeds: the reference. */
function allViews(data: ImageSplit, s: ViewSettings): Tensor {
  return tf.tidy(() => {
    const chunks: Tensor[] = [];
    for (let start = 0; start < data.count; start += s.chunk!) {
      const {xs} = toTensors(sliceSplit(data, start, Math.min(data.count, start + s.chunk!)), {normalize: false});
      const [v1, v2] = byolViews(xs, `${s.seed}/views/${s.epoch}/${start}`, {areaLowerBound: s.areaLowerBound});
      chunks.push(pairViews(normalizeImages(v1, s.data), normalizeImages(v2, s.data)));
    }
    return tf.concat(chunks, 0);
  });
}

const bits = (t: Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

describeBackends('contrastive epoch data (CLI)', () => {
  const settings: ViewSettings = {data: 'cifar10', seed: 7, epoch: 2, areaLowerBound: 0.5, chunk: 4};

  it('EpochViews.rows: any row ranges read, bit for bit, the views of the whole epoch made at once', () => {
    const data = split(11, 1);
    const want = allViews(data, settings);
    const before = tf.memory().numTensors;
    const views = new EpochViews(data, settings);
    // batches of 3: [3, 6) crosses the chunk boundary at 4, [9, 11) is the short last one
    for (const [start, end] of [[0, 3], [3, 6], [6, 9], [9, 11]]) {
      const got = views.rows(start, end);
      expect(got.shape).toEqual([end - start, 2, 6, 6, 3]);
      const ref = tf.slice(want, start, end - start);
      expect(bits(got)).withContext(`rows ${start}…${end - 1}`).toEqual(bits(ref));
      tf.dispose([got, ref]);
      // one chunk held at a time
      expect(tf.memory().numTensors).withContext(`after rows ${start}…${end - 1}`).toBeLessThanOrEqual(before + 1);
    }
    views.dispose();
    expect(tf.memory().numTensors).withContext('tensors leaked').toBe(before);
    // another epoch draws other views
    const other = allViews(data, {...settings, epoch: 3});
    expect(bits(other)).not.toEqual(bits(want));
    tf.dispose([want, other]);
  });

  it('contrastiveEpochDataset: the batches in order (the last one shorter), one-hot targets, disposable; readoutInputs', async () => {
    const data = split(10, 2);
    const want = allViews(data, settings);
    const before = tf.memory().numTensors;
    const views = new EpochViews(data, settings);
    const dataset = contrastiveEpochDataset(data, views, 4, labels => [labels, tf.zeros([labels.shape[0], 3])]);
    expect(dataset.size).toBe(3);
    const it = await dataset.iterator();
    const sizes: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) {
      const {xs, ys} = r.value;
      const start = sizes.reduce((a, b) => a + b, 0);
      sizes.push(xs.shape[0]);
      const ref = tf.slice(want, start, xs.shape[0]);
      expect(bits(xs)).toEqual(bits(ref));
      const [labels, zeros] = ys as Tensor[];
      const classes = tf.argMax(labels, 1);
      expect(Array.from(classes.dataSync())).toEqual(Array.from({length: xs.shape[0]}, (_, i) => (start + i) % 10));
      expect(labels.dtype).toBe('float32');
      expect(zeros.shape).toEqual([xs.shape[0], 3]);
      tf.dispose([xs, ...(ys as Tensor[]), ref, classes]);
    }
    expect(sizes).toEqual([4, 4, 2]);
    views.dispose();
    expect(tf.memory().numTensors).withContext('tensors leaked').toBe(before);
    const {images, labels} = readoutInputs(data, 'cifar10');
    const ref = toTensors(data, {normalize: false});
    const normalized = normalizeImages(ref.xs, 'cifar10');
    expect(bits(images)).toEqual(bits(normalized));
    expect(Array.from(labels.dataSync())).toEqual(Array.from(ref.ys.dataSync()));
    tf.dispose([want, images, labels, ref.xs, ref.ys, normalized]);
    expect(tf.memory().numTensors).withContext('tensors leaked').toBe(before - 1);
  });
});
