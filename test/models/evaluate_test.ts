/**
 * `fg.models.evaluate`: error (%) and mean cross-entropy against an oracle computed on the host from
 * one full-batch predict, across batch boundaries, for single-output, multi-output (last output) and
 * two-view (contrastive) models; no leaks; ValueErrors on bad input.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor2D, Tensor4D} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {ValueError} from '../../src/errors';
import {describeBackends} from '../util';

const CLASSES = 4;

function dense(name: string, seed: number): tfl.layers.Layer {
  return tfl.layers.dense({units: CLASSES, name, kernelInitializer: tfl.initializers.glorotNormal({seed}),
                           biasInitializer: tfl.initializers.randomNormal({seed: seed + 100})});
}

/** 3×3×1 images → flatten → dense(4); with `twoViews` the input is [2, 3, 3, 1]. */
function singleOutput(twoViews = false): tfl.LayersModel {
  return tfl.sequential({layers: [tfl.layers.flatten({inputShape: twoViews ? [2, 3, 3, 1] : [3, 3, 1]}), dense('d', 1)]});
}

/** Two outputs; the last one is the classifier. */
function twoOutputs(): tfl.LayersModel {
  const input = tfl.input({shape: [3, 3, 1]});
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const first = dense('first', 2).apply(flat) as tfl.SymbolicTensor;
  const last = dense('last', 3).apply(flat) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: [first, last]});
}

function data(n: number): {xs: Tensor4D, ys: Tensor2D} {
  return tf.tidy(() => ({
    xs: tf.randomNormal([n, 3, 3, 1], 0, 1, 'float32', 7) as Tensor4D,
    ys: tf.cast(tf.oneHot(tf.randomUniform([n], 0, CLASSES, 'int32', 8), CLASSES), 'float32') as Tensor2D,
  }));
}

/** The oracle: error (%) and mean cross-entropy from the host values of the logits of all examples at once. */
function oracle(logits: Tensor, ys: Tensor): {error: number, loss: number} {
  const l = logits.arraySync() as number[][];
  const y = ys.arraySync() as number[][];
  let wrong = 0, loss = 0;
  l.forEach((row, i) => {
    const label = y[i].indexOf(1);
    const predicted = row.indexOf(Math.max(...row));
    wrong += predicted === label ? 0 : 1;
    const max = Math.max(...row);
    const logZ = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    loss += logZ - row[label];
  });
  return {error: 100 * wrong / l.length, loss: loss / l.length};
}

async function expectMatches(model: tfl.LayersModel, logitsOf: (xs: Tensor4D) => Tensor, n: number, batchSize: number) {
  const {xs, ys} = data(n);
  const logits = tf.tidy(() => logitsOf(xs));
  const want = oracle(logits, ys);
  const before = tf.memory().numTensors;
  const got = await fg.models.evaluate(model, xs, ys, {batchSize});
  expect(tf.memory().numTensors).withContext('tensors made and not disposed').toBe(before);
  expect(got.count).toBe(n);
  expect(got.error).withContext(`batchSize ${batchSize}`).toBeCloseTo(want.error, 10);
  expect(got.loss).withContext(`batchSize ${batchSize}`).toBeCloseTo(want.loss, 4);
  // Some examples right and some wrong, so the error count is exercised.
  expect(want.error).toBeGreaterThan(0);
  expect(want.error).toBeLessThan(100);
  tf.dispose([xs, ys, logits]);
}

describeBackends('models: evaluate', () => {
  it('error and loss of a single-output model, across batch boundaries', async () => {
    const model = singleOutput();
    for (const batchSize of [1, 3, 7, 500]) {
      await expectMatches(model, xs => model.predict(xs) as Tensor, 7, batchSize);
    }
    model.dispose();
  });

  it('reads the last output of a multi-output model', async () => {
    const model = twoOutputs();
    await expectMatches(model, xs => (model.predict(xs) as Tensor[])[1], 9, 4);
    model.dispose();
  });

  it('feeds a two-view (contrastive) model each image as both views', async () => {
    const model = singleOutput(true);
    await expectMatches(model, xs => model.predict(tf.stack([xs, xs], 1)) as Tensor, 8, 3);
    model.dispose();
  });

  it('no example: NaN error and loss, count 0', async () => {
    const model = singleOutput();
    const xs = tf.zeros([0, 3, 3, 1]) as Tensor4D, ys = tf.zeros([0, CLASSES]) as Tensor2D;
    const got = await fg.models.evaluate(model, xs, ys);
    expect(got.count).toBe(0);
    expect(got.error).toBeNaN();
    expect(got.loss).toBeNaN();
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('bad input: ValueErrors naming the argument and what was received', async () => {
    const model = singleOutput();
    const {xs, ys} = data(4);
    const short = tf.slice(ys, 0, 3) as Tensor2D;
    const flat = tf.reshape(xs, [4, 9]) as unknown as Tensor4D;
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => fg.models.evaluate(model, xs, ys, {batchSize: 0}), /batchSize must be a positive integer. Received: 0/],
      [() => fg.models.evaluate(model, xs, ys, {batchSize: 2.5}), /batchSize .* Received: 2.5/],
      [() => fg.models.evaluate(model, xs, short), /same N. Received: xs \[4,3,3,1\], ys \[3,4\]/],
      [() => fg.models.evaluate(model, flat, ys), /xs \[4,9\]/],
    ];
    for (const [call, message] of cases) {
      await expectAsync(call()).toBeRejectedWithError(ValueError, message);
    }
    tf.dispose([xs, ys, short, flat]);
    model.dispose();
  });
});
