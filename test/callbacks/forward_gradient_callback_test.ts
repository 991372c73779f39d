/**
 * fg.callbacks.forwardGradient(): wires a model to its ForwardGradientOptimizer while it trains
 * (activity perturbation needs it), reports the step statistics in the batch logs, restores the
 * model afterwards, and fails early and clearly on what it cannot train.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {ForwardGradientOptimizer} from '../../src/optimizers/forward_gradient_optimizer';
import {describeBackends, seedWeights} from '../util';

type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

function makeData(n: number): {x: tf.Tensor, y: tf.Tensor} {
  const x = tf.randomNormal([n, 4], 0, 1, 'float32', 5);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({length: n}, (_, i) => i % 3), 'int32'), 3));
  return {x, y};
}

function mlp(batchNorm = false): tfl.LayersModel {
  const layers = [tfl.layers.dense({inputShape: [4], units: 5, activation: 'relu'})];
  if (batchNorm) {
    layers.push(tfl.layers.batchNormalization() as tfl.layers.Layer as ReturnType<typeof tfl.layers.dense>);
  }
  layers.push(tfl.layers.dense({units: 3, activation: 'softmax'}));
  return seedWeights(tfl.sequential({layers}));
}

function lossFunctions(model: tfl.LayersModel): LossFn[] {
  const m = (model as unknown as {model?: tfl.LayersModel}).model ?? model;
  return (m as unknown as {lossFunctions: LossFn[]}).lossFunctions;
}

function weightValues(model: tfl.LayersModel): number[][] {
  return model.getWeights().map(w => Array.from(w.dataSync()));
}

describeBackends('fg.callbacks.forwardGradient', () => {
  it('activity perturbation without the callback: fit attaches the optimizer by itself and trains', async () => {
    const model = mlp();
    const {x, y} = makeData(8);
    let calls = 0;
    const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 1});
    model.compile({optimizer: o, loss: (a: tf.Tensor, b: tf.Tensor) => (calls++, tfl.metrics.categoricalCrossentropy(a, b))});
    const before = weightValues(model);
    const h = await model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0});
    expect(calls).toBe(2);
    expect(o.iterations).toBe(2);
    expect(Number.isFinite(h.history.loss[0] as number)).toBe(true);
    expect(weightValues(model)).not.toEqual(before);
    expect(o.attachment).toBeNull();
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('BatchNormalization with activity perturbation: a clear error when training begins', async () => {
    const model = mlp(true);
    const {x, y} = makeData(8);
    let calls = 0;
    const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 1});
    model.compile({optimizer: o, loss: (a: tf.Tensor, b: tf.Tensor) => (calls++, tfl.metrics.categoricalCrossentropy(a, b))});
    const original = lossFunctions(model)[0];
    await expectAsync(model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]}))
        .toBeRejectedWithError(fg.ValueError, /BatchNormalization.*mixes the examples.*perturb: 'weight'/);
    expect(calls).toBe(0);
    expect(o.attachment).toBeNull();
    expect(lossFunctions(model)[0]).toBe(original);
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('BatchNormalization with weight perturbation trains (moving statistics updated once per step)', async () => {
    const model = mlp(true);
    const {x, y} = makeData(8);
    const o = fg.optimizers.forwardGradient({perturb: 'weight', seed: 1});
    model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
    const bn = model.layers[1];
    const movingMean = () => Array.from(bn.getWeights()[2].dataSync());
    const before = movingMean();
    const batchMean = tf.tidy(() => Array.from(tf.mean(model.layers[0].apply(x) as tf.Tensor, 0).dataSync()));
    const h = await model.fit(x, y, {epochs: 1, batchSize: 8, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
    expect(Number.isFinite(h.history.loss[0] as number)).toBe(true);
    // momentum 0.99, one step: mean ← 0.99·0 + 0.01·batch mean (a second loss evaluation would differ)
    const after = movingMean();
    expect(before.every(v => v === 0)).toBe(true);
    after.forEach((v, i) => expect(v).toBeCloseTo(0.01 * batchMean[i], 5));
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('rejects a model whose optimizer is not a forward-gradient one', async () => {
    const model = mlp();
    const {x, y} = makeData(4);
    model.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
    await expectAsync(model.fit(x, y, {epochs: 1, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]}))
        .toBeRejectedWithError(fg.ValueError, /must be compiled with fg\.optimizers\.forwardGradient/);
    tf.dispose([x, y]);
    model.dispose();
  });

  for (const perturb of ['weight', 'activity', 'none'] as const) {
    it(`${perturb}: batch logs carry fg_dd and fg_skipped; the model is attached only while it trains`, async () => {
      const model = mlp();
      const {x, y} = makeData(8);
      const o = fg.optimizers.forwardGradient({perturb, seed: 1});
      model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
      const original = lossFunctions(model)[0];
      const logs: tfl.Logs[] = [];
      const attached: boolean[] = [];
      const probe = new tfl.CustomCallback({onBatchEnd: async (_b, l) => {
        logs.push({...l});
        attached.push(o.attachment != null);
      }});
      await model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient(), probe]});
      expect(logs.length).toBe(2);
      for (const l of logs) {
        expect(typeof l.fg_dd).toBe('number');
        expect(Number.isFinite(l.fg_dd)).toBe(true);
        if (perturb !== 'none') {
          expect(l.fg_dd).not.toBe(0);
        }
        expect(l.fg_skipped).toBe(0);
      }
      // weight perturbation attaches too: a model may declare local credit (LG-FG-W)
      expect(attached).toEqual([perturb !== 'none', perturb !== 'none']);
      expect(o.attachment).toBeNull();
      expect(lossFunctions(model)[0]).toBe(original);
      // logStats: false leaves the logs alone
      const quiet: tfl.Logs[] = [];
      await model.fit(x, y, {epochs: 1, batchSize: 8, verbose: 0, callbacks: [
        fg.callbacks.forwardGradient({logStats: false}),
        new tfl.CustomCallback({onBatchEnd: async (_b, l) => void quiet.push({...l})})]});
      expect(quiet.length).toBe(1);
      expect('fg_dd' in quiet[0]).toBe(false);
      expect('fg_skipped' in quiet[0]).toBe(false);
      tf.dispose([x, y]);
      model.dispose();
      o.dispose();
    });
  }

  it('activity: after a fit that failed mid-way, the next fit re-attaches cleanly and restores the loss', async () => {
    const model = mlp();
    const {x, y} = makeData(8);
    let fail = false;
    const loss: LossFn = (a, b) => {
      if (fail) {
        throw new Error('boom');
      }
      return tfl.metrics.categoricalCrossentropy(a, b);
    };
    const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 1});
    model.compile({optimizer: o, loss});
    const original = lossFunctions(model)[0];
    fail = true;
    // (no tensor count here: tfjs's fit itself leaks when a step throws, with any optimizer)
    await expectAsync(model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]}))
        .toBeRejectedWithError(/boom/);
    fail = false;
    await model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
    expect(o.iterations).toBe(2);
    expect(o.attachment).toBeNull();
    expect(lossFunctions(model)[0]).toBe(original);
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('reports skipped steps in the logs', async () => {
    const model = mlp();
    const {x, y} = makeData(8);
    let batch = 0;
    const loss: LossFn = (a, b) => {
      const l = tfl.metrics.categoricalCrossentropy(a, b);
      return batch === 1 ? tf.mul(l, NaN) : l;
    };
    const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 1}) as ForwardGradientOptimizer;
    model.compile({optimizer: o, loss});
    const skipped: number[] = [];
    await model.fit(x, y, {epochs: 1, batchSize: 2, verbose: 0, callbacks: [
      fg.callbacks.forwardGradient(),
      new tfl.CustomCallback({
        onBatchBegin: async b => void (batch = b),
        onBatchEnd: async (_b, l) => void skipped.push(l!.fg_skipped),
      })]});
    expect(skipped).toEqual([0, 1, 1, 1]);
    expect(weightValues(model).every(w => w.every(Number.isFinite))).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });
});

/** A tiny LocalMixer (2 blocks: its heads and classifier get exact gradients, the rest runs with the tape paused). */
function tinyMixer(): tfl.LayersModel {
  return fg.models.localMixer({inputShape: [4, 4, 1], patchSize: 2, blocks: 2, channels: 8, groups: 2, classes: 3, seed: 2});
}

function mixerData(n: number): {x: tf.Tensor, y: tf.Tensor} {
  const x = tf.randomNormal([n, 4, 4, 1], 0, 1, 'float32', 9);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({length: n}, (_, i) => i % 3), 'int32'), 3));
  return {x, y};
}

type Failure = 'loss'|'onBatchEnd'|'onEpochEnd';

/** Fit args whose callbacks (or the armed loss) throw 'boom' at `failure`. */
function failingFit(failure: Failure, withForwardGradient: boolean): tfl.ModelFitArgs {
  const thrower = new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (failure === 'onBatchEnd') {
        throw new Error('boom');
      }
    },
    onEpochEnd: async () => {
      if (failure === 'onEpochEnd') {
        throw new Error('boom');
      }
    },
  });
  return {epochs: 2, batchSize: 4, shuffle: false, verbose: 0, yieldEvery: 'never',
          callbacks: withForwardGradient ? [fg.callbacks.forwardGradient(), thrower] : [thrower]};
}

/** Makes the model's first compiled loss throw 'boom' while `armed.on`. */
function armLoss(model: tfl.LayersModel, armed: {on: boolean}): void {
  const fns = lossFunctions(model);
  const original = fns[0];
  fns[0] = (a, b) => {
    if (armed.on) {
      throw new Error('boom');
    }
    return original(a, b);
  };
}

describeBackends('fg.callbacks.forwardGradient: a fit that throws leaves nothing behind', () => {
  for (const mode of ['FG-A', 'LG-FG-A'] as const) {
    for (const failure of ['loss', 'onBatchEnd', 'onEpochEnd'] as const) {
      it(`${mode}, ${failure} throws: engine, layers and losses restored; backprop then trains the backbone like a never-attached model`, async () => {
        const {x, y} = mixerData(8);
        const engine = tf.engine() as unknown as {runKernelFunc: unknown, disposeTensor: unknown, state: {gradientDepth: number}};
        const hooks = [engine.runKernelFunc, engine.disposeTensor];
        // tfjs's fit itself leaks when it throws mid-way, with any optimizer: the reference is the
        // same failure with a plain tfjs optimizer
        const armed = {on: false};
        const failedFitLeak = async (model: tfl.LayersModel, withForwardGradient: boolean) => {
          armed.on = failure === 'loss';
          const before = tf.memory().numTensors;
          await expectAsync(model.fit(x, fg.models.localMixerTargets(model, y), failingFit(failure, withForwardGradient)))
              .toBeRejectedWithError(/boom/);
          armed.on = false;
          return tf.memory().numTensors - before;
        };
        // (momentum: the same optimizer state as the forward-gradient optimizer's inner one)
        const reference = tinyMixer();
        fg.models.setTrainingMode(reference, mode);
        reference.compile({optimizer: tf.train.momentum(0.01, 0.9), loss: reference.outputNames.map(() => fg.losses.localCrossEntropy()),
                           metrics: {classifier: ['accuracy']} as unknown as string[]});
        armLoss(reference, armed);
        const referenceLeak = await failedFitLeak(reference, false);

        const model = tinyMixer();
        const o = fg.models.compileLocalMixer(model, {mode, seed: 1});
        armLoss(model, armed);
        const ownCalls = () => model.layers.map(l => Object.prototype.hasOwnProperty.call(l, 'call'));
        const callsBefore = ownCalls();
        const losses = lossFunctions(model).slice();
        const leak = await failedFitLeak(model, true);
        if (failure === 'loss') {
          // tfjs's backprop leaks its tape here, the reference is no use: the step itself must
          // leave no tensor (its loss throws after the forward pass and a first loss)
          o.attach(model);
          const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
          const before = tf.memory().numTensors;
          expect(() => o.minimize(() => {
            const outs = model.apply(x, {training: true}) as tf.Tensor[];
            lossFunctions(model)[1](y, outs[1]);
            throw new Error('boom');
          }, true, vars)).toThrowError(/boom/);
          expect(tf.memory().numTensors).withContext('tensors left by the failed step').toBe(before);
          o.detach();
        } else {
          expect(leak).withContext('tensors left by the failed fit').toBe(referenceLeak);
        }
        expect(o.iterations).toBe(failure === 'loss' ? 0 : failure === 'onBatchEnd' ? 1 : 2);
        expect([engine.runKernelFunc, engine.disposeTensor]).withContext('engine hooks').toEqual(hooks);
        expect(engine.state.gradientDepth).toBe(0);
        expect(ownCalls()).withContext('patched layer.call').toEqual(callsBefore);
        expect(lossFunctions(model)).withContext('loss functions').toEqual(losses);

        // Backprop afterwards (plain tfjs SGD, then the BP mode): the backbone trains, exactly as a
        // never-attached copy with the same weights does.
        const fresh = tinyMixer();
        fresh.setWeights(model.getWeights());
        const backbone = (m: tfl.LayersModel) => m.weights.filter(w => w.name.startsWith('block_')).map(w => Array.from(w.read().dataSync()));
        const start = backbone(fresh);
        for (const m of [model, fresh]) {
          fg.models.setTrainingMode(m, mode);
          m.compile({optimizer: tf.train.sgd(0.05), loss: m.outputNames.map(() => fg.losses.localCrossEntropy())});
          await m.fit(x, fg.models.localMixerTargets(m, y), {epochs: 1, batchSize: 8, shuffle: false, verbose: 0});
          fg.models.compileLocalMixer(m, {mode: 'BP'});
          await m.fit(x, fg.models.localMixerTargets(m, y), {epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
        }
        expect(backbone(fresh)).not.toEqual(start);
        expect(backbone(model)).withContext('the backbone after backprop').toEqual(backbone(fresh));
        tf.dispose([x, y]);
        [reference, model, fresh].forEach(m => m.dispose());
        o.dispose();
      });
    }
  }
});
