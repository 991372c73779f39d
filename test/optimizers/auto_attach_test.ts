/**
 * FG-A from `model.compile({optimizer})` alone: `fit` / `fitDataset` attach a forward-gradient
 * optimizer to the model that trains (a callback registered with tf.registerCallbackConstructor),
 * so `fg.callbacks.forwardGradient()` is optional, plain-object callbacks (tfjs-vis style) work, and
 * a fit that throws leaves nothing patched.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {describeBackends, seedWeights} from '../util';

type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

function makeData(n: number): {x: tf.Tensor, y: tf.Tensor} {
  const x = tf.randomNormal([n, 4], 0, 1, 'float32', 5);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({length: n}, (_, i) => i % 3), 'int32'), 3));
  return {x, y};
}

function mlp(): tfl.LayersModel {
  return seedWeights(tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [4], units: 8, activation: 'relu'}),
    tfl.layers.dense({units: 3, activation: 'softmax'}),
  ]}));
}

function lossFunctions(model: tfl.LayersModel): LossFn[] {
  const m = (model as unknown as {model?: tfl.LayersModel}).model ?? model;
  return (m as unknown as {lossFunctions: LossFn[]}).lossFunctions;
}

function weightValues(model: tfl.LayersModel): number[][] {
  return model.getWeights().map(w => Array.from(w.dataSync()));
}

/** A model compiled with FG-A (seed 3) and its optimizer. */
function compiled(): {model: tfl.LayersModel, o: fg.optimizers.ForwardGradientOptimizer} {
  const model = mlp();
  const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 3, optimizer: 'sgd', learningRate: 0.05});
  model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
  return {model, o};
}

const FIT = {epochs: 4, batchSize: 4, shuffle: false, verbose: 0 as const};

describeBackends('FG-A without the callback (auto-attach)', () => {
  it('fit trains (the loss falls) and equals the fit with fg.callbacks.forwardGradient() bit for bit', async () => {
    const {x, y} = makeData(16);
    const a = compiled();
    const b = compiled();
    expect(weightValues(a.model)).toEqual(weightValues(b.model));
    const h = await a.model.fit(x, y, FIT);
    await b.model.fit(x, y, {...FIT, callbacks: [fg.callbacks.forwardGradient()]});
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]);
    expect(a.o.iterations).toBe(16);
    expect(weightValues(a.model)).toEqual(weightValues(b.model));
    expect(a.o.attachment).toBeNull();
    tf.dispose([x, y]);
    [a, b].forEach(m => (m.model.dispose(), m.o.dispose()));
  });

  it('fitDataset trains without the callback too, as fit does', async () => {
    const {x, y} = makeData(8);
    const a = compiled();
    const b = compiled();
    // (tfjs-data is not a dependency: a minimal dataset)
    const batches = [0, 4].map(i => ({xs: tf.slice(x, i, 4), ys: tf.slice(y, i, 4)}));
    const dataset = {
      iterator: async () => {
        let i = 0;
        return {next: async () => i < batches.length ? {value: batches[i++], done: false} : {value: null, done: true}};
      },
    };
    await a.model.fitDataset(dataset as unknown as Parameters<tfl.LayersModel['fitDataset']>[0], {epochs: 1, verbose: 0});
    await b.model.fit(x, y, {epochs: 1, batchSize: 4, shuffle: false, verbose: 0});
    expect(a.o.iterations).toBe(2);
    expect(weightValues(a.model)).toEqual(weightValues(b.model));
    tf.dispose([x, y, ...batches.flatMap(t => [t.xs, t.ys])]);
    [a, b].forEach(m => (m.model.dispose(), m.o.dispose()));
  });

  it('plain-object callbacks (alone, tfjs-vis style, before ours) train like no callback', async () => {
    const {x, y} = makeData(16);
    const reference = compiled();
    await reference.model.fit(x, y, FIT);
    const expected = weightValues(reference.model);
    const epochs: number[] = [];
    const batches: number[] = [];
    const variants: Array<tfl.ModelFitArgs['callbacks']> = [
      {onEpochEnd: async (e: number) => void epochs.push(e)},
      // tfvis.show.fitCallbacks(...) returns an object of that shape
      {onBatchEnd: async (b: number) => void batches.push(b), onEpochEnd: async (e: number) => void epochs.push(e)},
      // a plain object first: tfjs wraps every entry, ours too (it then gets no model and does nothing)
      [{onEpochEnd: async (e: number) => void epochs.push(e)}, fg.callbacks.forwardGradient()] as unknown as tfl.CustomCallbackArgs[],
      // ours first, the plain object wrapped by hand
      [fg.callbacks.forwardGradient(), new tfl.CustomCallback({onEpochEnd: async (e: number) => void epochs.push(e)})],
    ];
    const batchCounts: number[] = [];
    for (const callbacks of variants) {
      epochs.length = 0;
      batches.length = 0;
      const m = compiled();
      await m.model.fit(x, y, {...FIT, callbacks});
      expect(epochs).toEqual([0, 1, 2, 3]);
      expect(weightValues(m.model)).toEqual(expected);
      expect(m.o.attachment).toBeNull();
      batchCounts.push(batches.length);
      m.model.dispose();
      m.o.dispose();
    }
    expect(batchCounts).toEqual([0, 16, 0, 0]);
    tf.dispose([x, y]);
    reference.model.dispose();
    reference.o.dispose();
  });

  it('leaks no tensor: a second fit leaves the tensor count as it was', async () => {
    const {x, y} = makeData(8);
    const {model, o} = compiled();
    await model.fit(x, y, {...FIT, epochs: 1});  // creates the inner optimizer's state
    const before = tf.memory().numTensors;
    await model.fit(x, y, {...FIT, epochs: 2});
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('a fit whose loss throws leaves nothing patched; the next fit trains', async () => {
    const {x, y} = makeData(8);
    const model = mlp();
    let fail = true;
    const loss: LossFn = (a, b) => {
      if (fail) {
        throw new Error('boom');
      }
      return tfl.metrics.categoricalCrossentropy(a, b);
    };
    const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 3});
    model.compile({optimizer: o, loss});
    const engine = tf.engine() as unknown as {runKernelFunc: unknown, disposeTensor: unknown, state: {gradientDepth: number}};
    const hooks = [engine.runKernelFunc, engine.disposeTensor];
    const losses = lossFunctions(model).slice();
    const inner = (model as unknown as {model: tfl.LayersModel}).model;
    const ownCalls = () => inner.layers.map(l => Object.prototype.hasOwnProperty.call(l, 'call'));
    const callsBefore = ownCalls();
    await expectAsync(model.fit(x, y, FIT)).toBeRejectedWithError(/boom/);
    expect([engine.runKernelFunc, engine.disposeTensor]).withContext('engine hooks').toEqual(hooks);
    expect(engine.state.gradientDepth).toBe(0);
    expect(ownCalls()).withContext('patched layer.call').toEqual(callsBefore);
    expect(lossFunctions(model)).withContext('loss functions').toEqual(losses);
    expect(o.iterations).toBe(0);
    fail = false;
    const h = await model.fit(x, y, {...FIT, epochs: 1});
    expect(Number.isFinite(h.history.loss[0] as number)).toBe(true);
    expect(o.iterations).toBe(2);
    expect(o.attachment).toBeNull();
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('models with a plain tfjs optimizer are left alone; trainOnBatch still says to attach', async () => {
    const {x, y} = makeData(8);
    const model = mlp();
    model.compile({optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy'});
    const h = await model.fit(x, y, {...FIT, epochs: 1});
    expect(Number.isFinite(h.history.loss[0] as number)).toBe(true);
    const m = compiled();
    await expectAsync(m.model.trainOnBatch(x, y))
        .toBeRejectedWithError(fg.ValueError, /model\.fit and model\.fitDataset attach it by themselves; for model\.trainOnBatch or a custom loop call optimizer\.attach\(model\) first/);
    tf.dispose([x, y]);
    model.dispose();
    m.model.dispose();
    m.o.dispose();
  });
});
