import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {gradientQuality, GradientQualityCallback} from '../../src/callbacks/gradient_quality';
import {ValueError} from '../../src/errors';
import {describeBackends, seedWeights} from '../util';

/** A normal tensor from a fixed seed (the specs do not depend on which other specs ran). */
function seeded(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale));
}

/** Seeded weights: N(0, 1/fan-in) kernels, small biases (seeds 100, 101, ...). */
const reseed = <M extends tfl.LayersModel>(model: M): M => seedWeights(model, 100, 100);

function mlp(): tfl.LayersModel {
  return reseed(tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [5], units: 8, activation: 'relu', name: 'h1'}),
    tfl.layers.dense({units: 6, activation: 'tanh', name: 'h2'}),
    tfl.layers.dense({units: 3, activation: 'softmax', name: 'out'})]}));
}

/** Two inputs, a shared trunk, two outputs with their own losses. */
function functional(): tfl.LayersModel {
  const a = tfl.input({shape: [4], name: 'a'});
  const b = tfl.input({shape: [3], name: 'b'});
  const ha = tfl.layers.dense({units: 6, activation: 'tanh', name: 'fa'}).apply(a) as tfl.SymbolicTensor;
  const hb = tfl.layers.dense({units: 6, activation: 'relu', name: 'fb'}).apply(b) as tfl.SymbolicTensor;
  const h = tfl.layers.concatenate({name: 'cat'}).apply([ha, hb]) as tfl.SymbolicTensor;
  const y1 = tfl.layers.dense({units: 3, activation: 'softmax', name: 'cls'}).apply(h) as tfl.SymbolicTensor;
  const y2 = tfl.layers.dense({units: 1, name: 'reg'}).apply(h) as tfl.SymbolicTensor;
  return reseed(tfl.model({inputs: [a, b], outputs: [y1, y2]}));
}

const N = 16;

function labels(n: number): tf.Tensor {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({length: n}, (_, i) => i % 3), 'int32'), 3));
}

/** Records the batch logs every batch (after resolving scalars). */
function recorder(out: Array<{[key: string]: number}>): tfl.CustomCallback {
  return new tfl.CustomCallback({onBatchEnd: async (_b, logs) => void out.push({...logs} as {[key: string]: number})});
}

interface FitOptions {
  perturb: 'weight'|'activity'|'none';
  samples?: number;
  every?: number;
  epochs?: number;
  batchSize?: number;
  optimizerArgs?: fg.optimizers.ForwardGradientOptimizerArgs;
  model?: () => tfl.LayersModel;
}

describeBackends('gradient quality callback', () => {
  let xs: tf.Tensor, ys: tf.Tensor;
  beforeAll(() => {
    xs = seeded([N, 5], 1);
    ys = labels(N);
  });
  afterAll(() => tf.dispose([xs, ys]));

  /** Fits an MLP (full batch by default, one step) with the callback; returns the callback. */
  async function fitWith(opts: FitOptions): Promise<{gq: GradientQualityCallback, logs: Array<{[key: string]: number}>}> {
    const model = (opts.model ?? mlp)();
    const opt = fg.optimizers.forwardGradient({
      perturb: opts.perturb, samples: opts.samples ?? 1, seed: 3, learningRate: 0.05, ...opts.optimizerArgs});
    model.compile({optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
    const gq = gradientQuality({every: opts.every ?? 1});
    const logs: Array<{[key: string]: number}> = [];
    await model.fit(xs, ys, {
      epochs: opts.epochs ?? 1, batchSize: opts.batchSize ?? N, shuffle: false, verbose: 0,
      callbacks: [fg.callbacks.forwardGradient(), gq, recorder(logs)],
    });
    model.dispose();
    opt.dispose();
    return {gq, logs};
  }

  it('perturb none: cosine 1 and error 0, also with weight decay and gradient scales', async () => {
    for (const optimizerArgs of [{}, {weightDecay: 0.1, gradientScale: {out: 0.1, 'h1/bias': 3}}]) {
      const {gq, logs} = await fitWith({perturb: 'none', epochs: 2, batchSize: 8, optimizerArgs});
      expect(gq.history.length).toBe(4);
      for (const r of gq.history) {
        expect(Math.abs(r.cos - 1)).withContext(JSON.stringify(r)).toBeLessThan(1e-5);
        expect(r.relSqErr).withContext(JSON.stringify(r)).toBeLessThan(1e-5);
        expect(Math.abs(r.normRatio - 1)).toBeLessThan(1e-5);
        expect(r.exactNorm).toBeGreaterThan(0);
        for (const layer of ['h1', 'h2', 'out']) {
          expect(Math.abs(r.layers[layer].cos - 1)).toBeLessThan(1e-5);
          expect(r.layers[layer].relSqErr).toBeLessThan(1e-5);
        }
      }
      for (const l of logs) {
        expect(Math.abs(l['gq_cos'] - 1)).toBeLessThan(1e-5);
        expect(l['gq_rel_sq_err']).toBeLessThan(1e-5);
      }
    }
  });

  it('a backprop optimizer: cosine 1', async () => {
    const model = mlp();
    model.compile({optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy'});
    const gq = gradientQuality({every: 1});
    await model.fit(xs, ys, {epochs: 1, batchSize: 8, verbose: 0, callbacks: [gq]});
    expect(gq.history.length).toBe(2);
    expect(Math.abs(gq.history[1].cos - 1)).toBeLessThan(1e-5);
    expect(gq.history[1].relSqErr).toBeLessThan(1e-5);
    model.optimizer.dispose();
    model.dispose();
  });

  for (const perturb of ['weight', 'activity'] as const) {
    it(`perturb ${perturb}: many samples give a good estimate; 1 sample a worse one`, async () => {
      const cos: {[k: number]: number} = {}, err: {[k: number]: number} = {};
      for (const samples of [1, 64, 1024]) {
        const {gq} = await fitWith({perturb, samples});
        expect(gq.history.length).toBe(1);
        cos[samples] = gq.history[0].cos;
        err[samples] = gq.history[0].relSqErr;
      }
      const what = JSON.stringify({cos, err});
      if (typeof process !== 'undefined' && process.env?.FG_VERBOSE) console.log(`\n[gradient quality ${tf.getBackend()}] ${perturb}: ${what}`);
      expect(cos[1]).withContext(what).toBeLessThan(cos[64]);
      expect(cos[64]).withContext(what).toBeLessThan(cos[1024]);
      expect(err[1024]).withContext(what).toBeLessThan(err[64]);
      expect(cos[1024]).withContext(what).toBeGreaterThan(0.9);
      expect(err[1024]).withContext(what).toBeLessThan(0.25);
      if (perturb === 'weight') {
        // FG-W with Gaussian directions: E‖ĝ − g‖² / ‖g‖² = (n + 1) / K, n = 123 weights here.
        const expected = (123 + 1) / 1024;
        expect(err[1024]).withContext(what).toBeGreaterThan(expected / 2);
        expect(err[1024]).withContext(what).toBeLessThan(expected * 2);
      }
    });
  }

  it('measures the exact gradient of the step (step 0: the initial weights, the full batch)', async () => {
    const model = mlp();
    const opt = fg.optimizers.forwardGradient({perturb: 'weight', samples: 4, seed: 5});
    model.compile({optimizer: opt, loss: 'categoricalCrossentropy'});
    // The oracle: backprop on the same batch at the same weights, before training.
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
    const want = tf.tidy(() => {
      const inner = (model as unknown as {model: tfl.LayersModel}).model;  // a Sequential's functional model
      const lossFn = (inner as unknown as {lossFunctions: Array<(a: tf.Tensor, b: tf.Tensor) => tf.Tensor>}).lossFunctions[0];
      const {value, grads} = tf.variableGrads(
          () => tf.mean(lossFn(ys, model.apply(xs, {training: true}) as tf.Tensor)) as tf.Scalar, vars);
      value.dispose();
      const byLayer = (layer: string) => Math.sqrt(vars.filter(v => v.name.startsWith(layer + '/'))
          .reduce((s, v) => s + tf.sum(tf.square(grads[v.name])).dataSync()[0], 0));
      return {total: Math.sqrt(vars.reduce((s, v) => s + tf.sum(tf.square(grads[v.name])).dataSync()[0], 0)),
              h1: byLayer('h1'), out: byLayer('out')};
    });
    const gq = gradientQuality({every: 1});
    await model.fit(xs, ys, {epochs: 1, batchSize: N, verbose: 0, callbacks: [gq]});
    const r = gq.history[0];
    expect(r.exactNorm).toBeCloseTo(want.total, 5);
    expect(r.layers['h1'].exactNorm).toBeCloseTo(want.h1, 5);
    expect(r.layers['out'].exactNorm).toBeCloseTo(want.out, 5);
    model.dispose();
    opt.dispose();
  });

  it('every: 2 measures steps 0, 2, 4 (counted across epochs) and logs only those', async () => {
    const {gq, logs} = await fitWith({perturb: 'weight', every: 2, epochs: 2, batchSize: 6});  // 3 batches/epoch
    expect(gq.history.map(r => r.step)).toEqual([0, 2, 4]);
    expect(gq.history.map(r => [r.epoch, r.batch])).toEqual([[0, 0], [0, 2], [1, 1]]);
    expect(logs.length).toBe(6);
    logs.forEach((l, step) => {
      const keys = ['gq_cos', 'gq_rel_sq_err', 'gq_norm_ratio', 'gq_cos/h1', 'gq_rel_sq_err/h1',
                    'gq_cos/h2', 'gq_rel_sq_err/h2', 'gq_cos/out', 'gq_rel_sq_err/out'];
      for (const key of keys) {
        if (step % 2 === 0) {
          expect(typeof l[key]).withContext(`step ${step} ${key}`).toBe('number');
        } else {
          expect(key in l).withContext(`step ${step} ${key}`).toBe(false);
        }
      }
      if (step % 2 === 0) {
        const r = gq.history[step / 2];
        expect(l['gq_cos']).toBe(r.cos);
        expect(l['gq_cos/h2']).toBe(r.layers['h2'].cos);
        expect(l['gq_rel_sq_err/out']).toBe(r.layers['out'].relSqErr);
      }
      expect(typeof l['loss']).toBe('number');
      expect(typeof l['acc']).toBe('number');
    });
    expect(Object.keys(gq.history[0].layers)).toEqual(['h1', 'h2', 'out']);
  });

  it('perLayer: false and logs: false', async () => {
    const model = mlp();
    model.compile({optimizer: fg.optimizers.forwardGradient({perturb: 'weight', seed: 1}), loss: 'categoricalCrossentropy'});
    const quiet = gradientQuality({every: 1, logs: false}), flat = gradientQuality({every: 1, perLayer: false});
    const logs: Array<{[key: string]: number}> = [];
    await model.fit(xs, ys, {epochs: 1, batchSize: 8, verbose: 0, callbacks: [quiet, flat, recorder(logs)]});
    expect(quiet.history.length).toBe(2);
    expect(flat.history.length).toBe(2);
    expect(Object.keys(flat.history[0].layers)).toEqual([]);
    expect(Object.keys(logs[0]).filter(k => k.startsWith('gq_')).sort()).toEqual(['gq_cos', 'gq_norm_ratio', 'gq_rel_sq_err']);
    // Two callbacks on the same optimizer share one measurement, and the optimizer is restored.
    expect(quiet.history[1].cos).toBe(flat.history[1].cos);
    expect(Object.prototype.hasOwnProperty.call(model.optimizer, 'computeGradients')).toBe(false);
    model.optimizer.dispose();
    model.dispose();
  });

  it('does not change training: same weights and BatchNormalization statistics with and without it', async () => {
    const build = () => reseed(tfl.sequential({layers: [
      tfl.layers.dense({inputShape: [5], units: 8, name: 'd1'}),
      tfl.layers.batchNormalization({name: 'bn'}),
      tfl.layers.activation({activation: 'relu'}),
      tfl.layers.dense({units: 3, activation: 'softmax', name: 'd2'})]}));
    const init = build();
    const initial = init.getWeights().map(w => w.clone());
    init.dispose();
    const results: tf.Tensor[][] = [];
    let gq: GradientQualityCallback|null = null;
    for (const measure of [false, true]) {
      const model = build();
      model.setWeights(initial);
      const opt = fg.optimizers.forwardGradient({perturb: 'weight', samples: 2, seed: 9, learningRate: 0.1});
      model.compile({optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      gq = measure ? gradientQuality({every: 1}) : null;
      await model.fit(xs, ys, {epochs: 2, batchSize: 8, shuffle: false, verbose: 0,
                               callbacks: gq == null ? [] : [gq]});
      results.push(model.getWeights().map(w => w.clone()));  // includes BN moving mean / variance
      model.dispose();
      opt.dispose();
    }
    tf.dispose(initial);
    expect(gq!.history.length).toBe(4);
    expect(Object.keys(gq!.history[0].layers)).toEqual(['d1', 'bn', 'd2']);
    expect(results[0].length).toBe(results[1].length);
    results[0].forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(results[1][i].dataSync())));
    tf.dispose(results);
  });

  it('works with a functional model with two inputs and two outputs', async () => {
    const xa = seeded([N, 4], 2), xb = seeded([N, 3], 3), y2 = seeded([N, 1], 4);
    for (const perturb of ['none', 'weight', 'activity'] as const) {
      const model = functional();
      const opt = fg.optimizers.forwardGradient({perturb, samples: 256, seed: 2});
      model.compile({optimizer: opt, loss: ['categoricalCrossentropy', 'meanSquaredError'], metrics: ['accuracy']});
      const gq = gradientQuality({every: 2});
      const logs: Array<{[key: string]: number}> = [];
      await model.fit([xa, xb], [ys, y2], {epochs: 1, batchSize: 4, shuffle: false, verbose: 0,
                                           callbacks: [fg.callbacks.forwardGradient(), gq, recorder(logs)]});
      expect(gq.history.map(r => r.step)).toEqual([0, 2]);
      expect(Object.keys(gq.history[0].layers)).toEqual(['fa', 'fb', 'cls', 'reg']);
      expect(typeof logs[0]['gq_cos/reg']).toBe('number');
      for (const r of gq.history) {
        if (perturb === 'none') {
          expect(Math.abs(r.cos - 1)).toBeLessThan(1e-5);
          expect(r.relSqErr).toBeLessThan(1e-5);
        } else {
          expect(r.cos).withContext(`${perturb} ${JSON.stringify(r)}`).toBeGreaterThan(0.7);
        }
      }
      model.dispose();
      opt.dispose();
    }
    tf.dispose([xa, xb, y2]);
  });

  it('compares on the same forward pass: with dropout and perturb none, cosine 1', async () => {
    const model = reseed(tfl.sequential({layers: [
      tfl.layers.dense({inputShape: [5], units: 16, activation: 'relu', name: 'd1'}),
      tfl.layers.dropout({rate: 0.5}),
      tfl.layers.dense({units: 3, activation: 'softmax', name: 'd2'})]}));
    model.compile({optimizer: fg.optimizers.forwardGradient({perturb: 'none'}), loss: 'categoricalCrossentropy'});
    const gq = gradientQuality({every: 1});
    await model.fit(xs, ys, {epochs: 2, batchSize: 8, verbose: 0, callbacks: [gq]});
    expect(gq.history.length).toBe(4);
    for (const r of gq.history) {
      expect(Math.abs(r.cos - 1)).withContext(JSON.stringify(r)).toBeLessThan(1e-5);
      expect(r.relSqErr).withContext(JSON.stringify(r)).toBeLessThan(1e-5);
    }
    model.optimizer.dispose();
    model.dispose();
  });

  it('works with fitDataset', async () => {
    const model = mlp();
    const opt = fg.optimizers.forwardGradient({perturb: 'activity', samples: 8, seed: 4});
    model.compile({optimizer: opt, loss: 'categoricalCrossentropy'});
    const batches = 4;
    // A minimal dataset (tfjs-data is not a dependency): fitDataset disposes the batches it gets.
    const dataset = {
      iterator: async () => {
        let i = 0;
        return {next: async () => i >= batches ? {done: true, value: null} :
            {done: false, value: {xs: tf.slice(xs, 4 * i, 4), ys: tf.slice(ys, 4 * i++, 4)}}};
      },
    };
    const gq = gradientQuality({every: 3});
    const logs: Array<{[key: string]: number}> = [];
    await model.fitDataset(dataset as unknown as Parameters<typeof model.fitDataset>[0], {
      epochs: 2, verbose: 0, callbacks: [fg.callbacks.forwardGradient(), gq, recorder(logs)]});
    const before = tf.memory().numTensors;
    await model.fitDataset(dataset as unknown as Parameters<typeof model.fitDataset>[0], {
      epochs: 1, verbose: 0, callbacks: [fg.callbacks.forwardGradient(), gq]});
    expect(tf.memory().numTensors).toBe(before);
    expect(gq.history.map(r => [r.step, r.epoch, r.batch])).toEqual([[0, 0, 0], [3, 0, 3], [6, 1, 2], [0, 0, 0], [3, 0, 3]]);
    expect(logs.map(l => 'gq_cos' in l)).toEqual([true, false, false, true, false, false, true, false]);
    for (const r of gq.history) {
      expect(r.cos).withContext(JSON.stringify(r)).toBeGreaterThan(0);
    }
    model.dispose();
    opt.dispose();
  });

  it('leaks no tensors and restores the optimizer', async () => {
    for (const perturb of ['weight', 'activity', 'none'] as const) {
      const model = mlp();
      const opt = fg.optimizers.forwardGradient({perturb, samples: 4, seed: 1});
      model.compile({optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      const gq = gradientQuality({every: 2});
      // Warm up (the optimizer creates its state on the first step), then count.
      await model.fit(xs, ys, {epochs: 1, batchSize: 8, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
      const before = tf.memory().numTensors;
      await model.fit(xs, ys, {epochs: 2, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient(), gq]});
      expect(tf.memory().numTensors).withContext(perturb).toBe(before);
      expect(gq.history.length).toBe(4);
      expect(Object.prototype.hasOwnProperty.call(opt, 'computeGradients')).toBe(false);
      model.dispose();
      opt.dispose();
    }
  });

  it('leaves no working hook when fit throws: in the loss (none at all), or in a later callback (gone at the next step)', async () => {
    for (const where of ['loss', 'onBatchBegin'] as const) {
      const model = mlp();
      const opt = fg.optimizers.forwardGradient({perturb: 'weight', seed: 1});
      const boom = (): never => {
        throw new Error('boom');
      };
      const loss = where === 'loss' ? boom : 'categoricalCrossentropy';
      model.compile({optimizer: opt, loss: loss as 'categoricalCrossentropy'});
      const gq = gradientQuality({every: 1});
      const failing = new tfl.CustomCallback({onBatchBegin: where === 'onBatchBegin' ? boom : undefined});
      await expectAsync(model.fit(xs, ys, {epochs: 1, batchSize: N, verbose: 0,
                                           callbacks: [fg.callbacks.forwardGradient(), gq, failing]}))
          .withContext(where).toBeRejectedWithError(/boom/);
      if (where === 'onBatchBegin') {
        // The step never ran: the next step outside that fit measures nothing and removes the hook.
        model.compile({optimizer: opt, loss: 'categoricalCrossentropy'});
        const before = tf.memory().numTensors;
        await model.fit(xs, ys, {epochs: 1, batchSize: N, verbose: 0});
        expect(tf.memory().numTensors).toBe(before);
        expect((gq as unknown as {pending: unknown}).pending).toBeNull();
      }
      expect(Object.prototype.hasOwnProperty.call(opt, 'computeGradients')).withContext(where).toBe(false);
      expect(gq.history.length).toBe(0);
      model.dispose();
      opt.dispose();
    }
  });

  it('rejects bad arguments', () => {
    expect(() => gradientQuality({every: 0})).toThrowError(ValueError, /every/);
    expect(() => gradientQuality({every: 1.5})).toThrowError(ValueError, /every/);
    expect(gradientQuality().every).toBe(100);
  });
});
