/**
 * ForwardGradientOptimizer inside tfjs-layers training (model.fit, fitDataset, trainOnBatch), for
 * every perturbation ('weight' = FG-W, 'activity' = FG-A, 'none' = backprop through the same
 * pipeline): one loss evaluation per step, multi-output credit, sample weights, regularizers, no host
 * sync, non-finite steps, serialization and bit-identical resume, leaks, weight decay and per-layer
 * gradient scales. Weights, data and noise are seeded, so every spec is deterministic.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {ForwardGradientOptimizer, ForwardGradientOptimizerArgs} from '../../src/optimizers/forward_gradient_optimizer';
import {coveringSubset, describeBackends, expectClose, seedWeights} from '../util';
import {BAD_DATA, badData, bits} from './non_finite_data';

type Perturb = 'weight'|'activity'|'none';
const MODES: Perturb[] = ['weight', 'activity', 'none'];
type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

// ---------------------------------------------------------------------------------------------
// Helpers

/** n examples of dimension d, one-hot labels of `classes` classes (seeded). */
function makeData(n: number, d = 4, classes = 3, seed = 11): {x: tf.Tensor, y: tf.Tensor} {
  const x = tf.randomNormal([n, d], 0, 1, 'float32', seed);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({length: n}, (_, i) => (i * 7 + seed) % classes), 'int32'), classes));
  return {x, y};
}

interface MlpArgs {
  functional?: boolean;
  kernelRegularizer?: ReturnType<typeof tfl.regularizers.l2>;
  inputDim?: number;
  hidden?: number;
  classes?: number;
}

/** A 2-layer MLP (layers 'h' relu, 'out' softmax), Sequential or functional, seeded. */
function mlp(args: MlpArgs = {}): tfl.LayersModel {
  const {inputDim = 4, hidden = 5, classes = 3} = args;
  const h = tfl.layers.dense({units: hidden, activation: 'relu', name: 'h', kernelRegularizer: args.kernelRegularizer,
                              inputShape: args.functional ? undefined : [inputDim]});
  const out = tfl.layers.dense({units: classes, activation: 'softmax', name: 'out'});
  if (args.functional) {
    const input = tfl.input({shape: [inputDim]});
    const y = out.apply(h.apply(input)) as tfl.SymbolicTensor;
    return seedWeights(tfl.model({inputs: input, outputs: y}));
  }
  return seedWeights(tfl.sequential({layers: [h, out]}));
}

function opt(perturb: Perturb, args: ForwardGradientOptimizerArgs = {}): ForwardGradientOptimizer {
  return fg.optimizers.forwardGradient({perturb, learningRate: 0.05, seed: 3, ...args});
}

/** The compiled loss functions (of the inner model for a Sequential). */
function lossFunctions(model: tfl.LayersModel): LossFn[] {
  const m = (model as unknown as {model?: tfl.LayersModel}).model ?? model;
  return (m as unknown as {lossFunctions: LossFn[]}).lossFunctions;
}

/**
 * Records the gradients every step of `run` computes (clones, by position in the model's trainable
 * weights) while the optimizer trains normally.
 */
async function captureGrads(
    optimizer: ForwardGradientOptimizer, model: tfl.LayersModel, run: () => Promise<unknown>): Promise<tf.Tensor[][]> {
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const steps: tf.Tensor[][] = [];
  const orig = optimizer.computeGradients.bind(optimizer);
  const spy = spyOn(optimizer, 'computeGradients').and.callFake((f: () => tf.Scalar, varList?: tf.Variable[]) => {
    const r = orig(f, varList);
    steps.push(vars.map(v => tf.keep(r.grads[v.name].clone())));
    return r;
  });
  try {
    await run();
  } finally {
    spy.and.callThrough();
  }
  return steps;
}

/** One training step on the whole batch with the forward-gradient callback. */
function fitOneStep(model: tfl.LayersModel, x: tf.Tensor|tf.Tensor[], y: tf.Tensor|tf.Tensor[], args: tfl.ModelFitArgs = {}) {
  const n = (Array.isArray(x) ? x[0] : x).shape[0];
  return model.fit(x, y, {epochs: 1, batchSize: n, shuffle: false, verbose: 0, callbacks: [fg.callbacks.forwardGradient()], ...args});
}

/** The gradients of one fit step of a fresh optimizer on `model`. */
async function oneStepGrads(model: tfl.LayersModel, optimizer: ForwardGradientOptimizer, loss: string|LossFn|Array<string|LossFn>,
                            x: tf.Tensor|tf.Tensor[], y: tf.Tensor|tf.Tensor[], args: tfl.ModelFitArgs = {}): Promise<tf.Tensor[]> {
  model.compile({optimizer, loss: loss as string});
  const steps = await captureGrads(optimizer, model, () => fitOneStep(model, x, y, args));
  expect(steps.length).toBe(1);
  return steps[0];
}

function flat(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Whether two tensors hold the same float32 bits (values). */
function bitEqual(a: tf.Tensor, b: tf.Tensor): boolean {
  const x = a.dataSync(), y = b.dataSync();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function weightValues(model: tfl.LayersModel): number[][] {
  return model.getWeights().map(flat);
}

/** The inner optimizer's state, read back: its weights after the iteration count, and its scalar variables (Adam's β powers). */
async function innerState(o: ForwardGradientOptimizer): Promise<number[][]> {
  const slots = (await o.inner.getWeights()).slice(1).map(w => flat(w.tensor));
  const direct = Object.values(o.inner as unknown as {[k: string]: unknown})
      .filter((v): v is tf.Variable => v instanceof tf.Variable).map(flat);
  return [...slots, ...direct];
}

async function readScalar(t: tf.Tensor): Promise<number> {
  return (await t.data())[0];
}

// ---------------------------------------------------------------------------------------------

describeBackends('ForwardGradientOptimizer: training steps', () => {
  for (const perturb of MODES) {
    for (const functional of [false, true]) {
      it(`${perturb}, ${functional ? 'functional' : 'Sequential'}: one loss call per step, returns the loss, accuracy`, async () => {
        const model = mlp({functional});
        const {x, y} = makeData(8);
        let calls = 0;
        const counted: LossFn = (yt, yp) => {
          calls++;
          return tfl.metrics.categoricalCrossentropy(yt, yp);
        };
        const o = opt(perturb);
        model.compile({optimizer: o, loss: counted, metrics: ['accuracy']});
        const before = (model.evaluate(x, y, {batchSize: 8}) as tf.Scalar[]);
        const lossBefore = await readScalar(before[0]);
        tf.dispose(before);
        calls = 0;
        const h = await model.fit(x, y, {epochs: 2, batchSize: 4, shuffle: false, verbose: 0,
                                         callbacks: [fg.callbacks.forwardGradient()]});
        expect(calls).toBe(4);  // 2 epochs × 2 batches
        expect(o.iterations).toBe(4);
        expect(h.history.loss.length).toBe(2);
        expect(h.history.acc.length).toBe(2);
        for (const v of [...h.history.loss, ...h.history.acc] as number[]) {
          expect(Number.isFinite(v)).toBe(true);
        }
        // The step returns the loss before its update: the first step (batchSize = all) equals evaluate.
        calls = 0;
        const single = mlp({functional});
        const o2 = opt(perturb);
        single.compile({optimizer: o2, loss: counted, metrics: ['accuracy']});
        const h1 = await fitOneStep(single, x, y);
        expect(calls).toBe(1);
        expect(h1.history.loss[0] as number).toBeCloseTo(lossBefore, 5);
        tf.dispose([x, y]);
        model.dispose();
        single.dispose();
        o.dispose();
        o2.dispose();
      });
    }

    it(`${perturb}: no host sync inside optimizer.minimize`, async () => {
      const model = mlp();
      const {x, y} = makeData(8);
      const o = opt(perturb, {samples: 2});
      model.compile({optimizer: o, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      let inStep = false;
      const syncs: string[] = [];
      const origMinimize = o.minimize.bind(o);
      spyOn(o, 'minimize').and.callFake((f: () => tf.Scalar, returnCost?: boolean, varList?: tf.Variable[]) => {
        inStep = true;
        try {
          return origMinimize(f, returnCost, varList);
        } finally {
          inStep = false;
        }
      });
      const origDataSync = tf.Tensor.prototype.dataSync;
      const origArraySync = tf.Tensor.prototype.arraySync;
      const engine = tf.engine();
      const origReadSync = engine.readSync;
      spyOn(tf.Tensor.prototype, 'dataSync').and.callFake(function(this: tf.Tensor) {
        if (inStep) syncs.push('dataSync');
        return origDataSync.call(this);
      } as typeof origDataSync);
      spyOn(tf.Tensor.prototype, 'arraySync').and.callFake(function(this: tf.Tensor) {
        if (inStep) syncs.push('arraySync');
        return origArraySync.call(this);
      } as typeof origArraySync);
      spyOn(engine, 'readSync').and.callFake(function(this: unknown, dataId: unknown) {
        if (inStep) syncs.push('readSync');
        return origReadSync.call(engine, dataId as never);
      } as typeof origReadSync);
      await model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
      expect(o.minimize).toHaveBeenCalledTimes(2);
      expect(syncs).toEqual([]);
      tf.dispose([x, y]);
      model.dispose();
      o.dispose();
    });
  }

  for (const perturb of ['activity', 'none'] as const) {
    it(`${perturb}: two outputs, two losses: a branch-only layer is credited only by its own loss`, async () => {
      // input → trunk → b1 (softmax, output 1, cce) ; trunk → b2h → b2 (linear, output 2, mse)
      const build = () => {
        const input = tfl.input({shape: [4]});
        const trunk = tfl.layers.dense({units: 6, activation: 'tanh', name: 'trunk'}).apply(input) as tfl.SymbolicTensor;
        const o1 = tfl.layers.dense({units: 3, activation: 'softmax', name: 'b1'}).apply(trunk) as tfl.SymbolicTensor;
        const b2h = tfl.layers.dense({units: 5, activation: 'relu', name: 'b2h'}).apply(trunk) as tfl.SymbolicTensor;
        const o2 = tfl.layers.dense({units: 2, name: 'b2'}).apply(b2h) as tfl.SymbolicTensor;
        return seedWeights(tfl.model({inputs: input, outputs: [o1, o2]}), 4000);
      };
      const {x, y: y1} = makeData(8);
      const y2 = tf.randomNormal([8, 2], 0, 1, 'float32', 21);
      const y2b = tf.randomNormal([8, 2], 0, 1, 'float32', 22);
      const y1b = tf.tidy(() => tf.reverse(y1, 0));
      const calls = [0, 0];
      const losses: LossFn[] = [
        (a, b) => (calls[0]++, tfl.metrics.categoricalCrossentropy(a, b)),
        (a, b) => (calls[1]++, tfl.metrics.meanSquaredError(a, b)),
      ];
      const run = async (t1: tf.Tensor, t2: tf.Tensor) => {
        const model = build();
        const names = model.trainableWeights.map(w => w.originalName.split('/')[0]);
        const grads = await oneStepGrads(model, opt(perturb, {samples: 2}), losses, x, [t1, t2]);
        model.dispose();
        return {names, grads};
      };
      const base = await run(y1, y2);
      expect(calls).toEqual([1, 1]);
      const other2 = await run(y1, y2b);
      const other1 = await run(y1b, y2);
      base.names.forEach((layer, i) => {
        const same2 = bitEqual(base.grads[i], other2.grads[i]);
        const same1 = bitEqual(base.grads[i], other1.grads[i]);
        // changing output 2's targets changes output 2's loss tangent only
        expect(same2).withContext(`${layer} vs output 2's targets`).toBe(layer === 'b1');
        expect(same1).withContext(`${layer} vs output 1's targets`).toBe(layer === 'b2h' || layer === 'b2');
      });
      tf.dispose([x, y1, y2, y2b, y1b, base.grads, other1.grads, other2.grads]);
    });
  }

  for (const perturb of MODES) {
    it(`${perturb}: sample weights (classWeight) equal the weights folded into the loss`, async () => {
      const {x, y} = makeData(8);
      const classWeight = {0: 2, 1: 0.5, 2: 1.5};
      const cw = tf.tensor1d([2, 0.5, 1.5]);
      const weighted = await oneStepGrads(mlp(), opt(perturb, {samples: 2}), 'categoricalCrossentropy', x, y, {classWeight});
      const folded = await oneStepGrads(mlp(), opt(perturb, {samples: 2}),
          (yt, yp) => tf.mul(tfl.metrics.categoricalCrossentropy(yt, yp), tf.sum(tf.mul(yt, cw), -1)), x, y);
      const plain = await oneStepGrads(mlp(), opt(perturb, {samples: 2}), 'categoricalCrossentropy', x, y);
      weighted.forEach((g, i) => {
        expectClose(g, folded[i], 1e-5, 1e-7, `variable ${i}`);
        expect(bitEqual(g, plain[i])).withContext('the weights matter').toBe(false);
      });
      tf.dispose([x, y, cw, weighted, folded, plain]);
    });
  }

  for (const perturb of ['activity', 'none'] as const) {
    it(`${perturb}: a kernel regularizer adds its exact gradient to the estimate`, async () => {
      const {x, y} = makeData(8);
      const l2 = 0.05;
      const regModel = mlp({kernelRegularizer: tfl.regularizers.l2({l2})});
      const kernel = tf.keep(regModel.getWeights()[0].clone());
      const withReg = await oneStepGrads(regModel, opt(perturb), 'categoricalCrossentropy', x, y);
      const without = await oneStepGrads(mlp(), opt(perturb), 'categoricalCrossentropy', x, y);
      // variable 0 is h/kernel: the difference is ∇(l2·Σw²) = 2·l2·w; the others are unchanged
      expectClose(tf.sub(withReg[0], without[0]), tf.mul(kernel, 2 * l2), 1e-4, 1e-6, 'regularizer gradient');
      for (let i = 1; i < withReg.length; i++) {
        expectClose(withReg[i], without[i], 1e-6, 1e-8, `variable ${i}`);
      }
      tf.dispose([x, y, kernel, withReg, without]);
    });
  }

  it('weight: a kernel regularizer enters the directional derivative (every estimate changes)', async () => {
    const {x, y} = makeData(8);
    const withReg = await oneStepGrads(mlp({kernelRegularizer: tfl.regularizers.l2({l2: 0.05})}), opt('weight'), 'categoricalCrossentropy', x, y);
    const without = await oneStepGrads(mlp(), opt('weight'), 'categoricalCrossentropy', x, y);
    withReg.forEach((g, i) => expect(bitEqual(g, without[i])).withContext(`variable ${i}`).toBe(false));
    tf.dispose([x, y, withReg, without]);
  });

  it('activity: a regularizer only on a weight-perturbed layer (Embedding) trains', async () => {
    const model = tfl.sequential({layers: [
      tfl.layers.embedding({inputDim: 5, outputDim: 3, inputLength: 2, embeddingsRegularizer: tfl.regularizers.l2({l2: 0.01})}),
      tfl.layers.flatten(),
      tfl.layers.dense({units: 3, activation: 'softmax'})]});
    seedWeights(model);
    const x = tf.tensor2d([[0, 1], [2, 3], [4, 0], [1, 2]]);
    const {y} = makeData(4);
    const o = opt('activity');
    model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
    const h = await model.fit(x, y, {epochs: 2, batchSize: 2, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
    expect(h.history.loss.every(v => Number.isFinite(v as number))).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('activity: a loss that returns a scalar (tf.losses style) trains', async () => {
    const model = mlp();
    const {x, y} = makeData(8);
    const o = opt('activity');
    model.compile({optimizer: o, loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.meanSquaredError(yt, yp)});
    const before = weightValues(model);
    const warn = spyOn(console, 'warn');
    const h = await model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
    expect(Number.isFinite(h.history.loss[0] as number)).toBe(true);
    expect(weightValues(model)).not.toEqual(before);
    // said once (two steps), naming the output and the way out
    const said = warn.calls.allArgs().map(a => String(a[0])).filter(m => m.includes('returns a scalar'));
    expect(said.length).toBe(1);
    expect(said[0]).toContain(`output '${model.outputNames[0]}'`);
    expect(said[0]).toContain('Reduction.NONE');
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('weightDecay: weight matrices only (not a grouped bias [G, D/G]), added after gradientScale (unscaled, as the code: grads *= last_layer_lr, then + wd·w)', () => {
    const o = fg.optimizers.forwardGradient({perturb: 'none', weightDecay: 0.5, gradientScale: {wdcheck: 0.1}});
    const kernel = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, 'wdcheck/group_kernel');
    const groupedBias = tf.variable(tf.tensor2d([[1, -1], [2, -2]]), true, 'wdcheck/group_bias');
    const bias = tf.variable(tf.tensor1d([5, 6]), true, 'wdcheck/bias');
    const vars = [kernel, groupedBias, bias];
    const ones = Object.fromEntries(vars.map(v => [v.name, tf.onesLike(v)]));
    const g = tf.tidy(() => o.postprocessGradients(ones, vars));
    tf.tidy(() => {
      // 0.1·1 + 0.5·w for the kernel; 0.1·1 for the biases
      expectClose(g[kernel.name], tf.tensor2d([[0.6, 1.1], [1.6, 2.1]]), 1e-6, 1e-7, 'kernel');
      expectClose(g[groupedBias.name], tf.fill([2, 2], 0.1), 1e-6, 1e-7, 'grouped bias');
      expectClose(g[bias.name], tf.fill([2], 0.1), 1e-6, 1e-7, 'bias');
    });
    tf.dispose(g as tf.TensorContainer);
    tf.dispose([ones as tf.TensorContainer, vars]);
    o.dispose();
  });

  for (const perturb of MODES) {
    it(`${perturb}: weightDecay applies to rank ≥ 2 weights only; gradientScale scales one layer`, async () => {
      const {x, y} = makeData(8);
      const model0 = mlp();
      const weights = model0.getWeights().map(w => tf.keep(w.clone()));
      const base = await oneStepGrads(model0, opt(perturb), 'categoricalCrossentropy', x, y);
      const decayed = await oneStepGrads(mlp(), opt(perturb, {weightDecay: 0.1}), 'categoricalCrossentropy', x, y);
      const scaled = await oneStepGrads(mlp(), opt(perturb, {gradientScale: {out: 0.1}}), 'categoricalCrossentropy', x, y);
      const byVar = await oneStepGrads(mlp(), opt(perturb, {gradientScale: {'h/kernel': 3}}), 'categoricalCrossentropy', x, y);
      const names = model0.trainableWeights.map(w => w.originalName);  // h/kernel, h/bias, out/kernel, out/bias
      names.forEach((name, i) => {
        if (weights[i].rank >= 2) {
          expectClose(tf.sub(decayed[i], base[i]), tf.mul(weights[i], 0.1), 1e-5, 1e-6, `decay ${name}`);
        } else {
          expect(flat(decayed[i])).withContext(`decay ${name}`).toEqual(flat(base[i]));
        }
        if (name.startsWith('out/')) {
          expectClose(scaled[i], tf.mul(base[i], 0.1), 1e-6, 0, `scale ${name}`);
        } else {
          expect(flat(scaled[i])).withContext(`scale ${name}`).toEqual(flat(base[i]));
        }
        if (name === 'h/kernel') {
          expectClose(byVar[i], tf.mul(base[i], 3), 1e-6, 0, `scale ${name}`);
        } else {
          expect(flat(byVar[i])).withContext(`scale ${name}`).toEqual(flat(base[i]));
        }
      });
      tf.dispose([x, y, weights, base, decayed, scaled, byVar]);
    });
  }
});

describeBackends('ForwardGradientOptimizer: non-finite steps', () => {
  for (const perturb of MODES) {
    for (const inner of ['sgd', 'momentum', 'adam', 'adagrad']) {
      it(`${perturb}, ${inner}: a non-finite loss or derivative leaves weights and state unchanged and is counted`, async () => {
        const model = mlp();
        const {x, y} = makeData(8);
        let bad: 'times-inf'|'plus-inf'|'nan'|null = null;
        const loss: LossFn = (yt, yp) => {
          const l = tfl.metrics.categoricalCrossentropy(yt, yp);
          switch (bad) {
            case 'times-inf': return tf.mul(l, Infinity);  // infinite loss and tangent
            case 'plus-inf': return tf.add(l, Infinity);   // infinite loss, finite tangent
            case 'nan': return tf.mul(l, NaN);
            default: return l;
          }
        };
        const o = opt(perturb, {optimizer: inner, samples: 2});
        model.compile({optimizer: o, loss});
        o.attach(model);  // trainOnBatch has no callbacks
        const step = async (kind: typeof bad) => {
          bad = kind;
          const w = weightValues(model);
          const s = await innerState(o);
          await model.trainOnBatch(x, y);
          bad = null;
          if (kind != null) {
            expect(weightValues(model)).withContext(`weights after a ${kind} step`).toEqual(w);
            if (o.iterations > 1) {  // (the first step creates the slots; checked below)
              expect(await innerState(o)).withContext(`${inner} state after a ${kind} step`).toEqual(s);
            }
          } else {
            expect(weightValues(model)).not.toEqual(w);
            expect(weightValues(model).every(a => a.every(Number.isFinite))).toBe(true);
          }
        };
        // first step skipped: the state the inner optimizer creates is its initial state
        await step('times-inf');
        const fresh = await innerState(o);
        const initial = inner === 'adagrad' ? 0.1 : 0;
        for (const slot of inner === 'adam' ? fresh.slice(0, -2) : fresh) {
          expect(slot.every(v => Math.abs(v - initial) < 1e-7)).withContext(`${inner} initial state`).toBe(true);
        }
        await step(null);
        await step('plus-inf');
        await step(null);
        await step('nan');
        await step(null);
        expect(await readScalar(o.stats.skippedSteps)).toBe(3);
        expect(o.iterations).toBe(6);
        o.detach();
        tf.dispose([x, y]);
        model.dispose();
        o.dispose();
      });
    }
  }
});

describeBackends('ForwardGradientOptimizer: non-finite data', () => {
  for (const perturb of MODES) {
    for (const inner of ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad']) {
      it(`${perturb}, ${inner}: NaN / ±Inf in an input, a label or a sample weight: weights and state bit-identical, the step counted`, async () => {
        const model = mlp();
        const {x, y} = makeData(8);
        const o = opt(perturb, {optimizer: inner});
        model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
        await fitOneStep(model, x, y);  // creates the inner optimizer's state
        let skipped = 0;
        for (const [place, value] of BAD_DATA) {
          const what = `${value} in ${place}`;
          const bad = badData(x, y, place, value);
          const weights = bits(weightValues(model));
          const state = bits(await innerState(o));
          const before = tf.memory().numTensors;
          await fitOneStep(model, bad.x, bad.y, bad.args);
          expect(tf.memory().numTensors).withContext(`${what}: leak`).toBe(before);
          expect(bits(weightValues(model))).withContext(`${what}: weights`).toEqual(weights);
          expect(bits(await innerState(o))).withContext(`${what}: ${inner} state`).toEqual(state);
          expect(await readScalar(o.stats.skippedSteps)).withContext(`${what}: skipped steps`).toBe(++skipped);
          tf.dispose([bad.x, bad.y]);
        }
        // and training goes on
        const weights = weightValues(model);
        await fitOneStep(model, x, y);
        expect(weightValues(model)).not.toEqual(weights);
        expect(weightValues(model).every(w => w.every(Number.isFinite))).toBe(true);
        tf.dispose([x, y]);
        model.dispose();
        o.dispose();
      });
    }
    it(`${perturb}: a first step on NaN data leaves the inner optimizer's new state at its initial value`, async () => {
      const model = mlp();
      const {x, y} = makeData(8);
      const o = opt(perturb, {optimizer: 'momentum'});
      model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
      const weights = bits(weightValues(model));
      const bad = badData(x, y, 'input', NaN);
      await fitOneStep(model, bad.x, bad.y);
      expect(bits(weightValues(model))).toEqual(weights);
      expect((await innerState(o)).every(slot => slot.every(v => v === 0))).withContext('momentum slots are 0').toBe(true);
      tf.dispose([x, y, bad.x, bad.y]);
      model.dispose();
      o.dispose();
    });
  }
});

describeBackends('ForwardGradientOptimizer: a failing inner update', () => {
  for (const perturb of MODES) {
    it(`${perturb}: an inner optimizer that throws after updating leaves weights and state as they were, and leaks nothing`, async () => {
      const model = mlp();
      const {x, y} = makeData(8);
      const o = opt(perturb, {optimizer: 'momentum'});
      model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
      o.attach(model);
      await model.trainOnBatch(x, y);  // creates the momentum state
      const weights = bits(weightValues(model));
      const state = bits(await innerState(o));
      const applyGradients = o.inner.applyGradients.bind(o.inner);
      spyOn(o.inner, 'applyGradients').and.callFake((g: tf.NamedTensorMap) => {
        applyGradients(g);
        throw new Error('boom');
      });
      const before = tf.memory().numTensors;
      expect(() => o.minimize(() => tf.mean(tfl.metrics.categoricalCrossentropy(y, model.apply(x) as tf.Tensor)) as tf.Scalar,
                              false, model.trainableWeights.map(w => w.read() as tf.Variable))).toThrowError(/boom/);
      expect(tf.memory().numTensors).toBe(before);
      expect(bits(weightValues(model))).toEqual(weights);
      expect(bits(await innerState(o))).toEqual(state);
      o.detach();
      tf.dispose([x, y]);
      model.dispose();
      o.dispose();
    });
  }
});

describeBackends('ForwardGradientOptimizer: an empty batch', () => {
  it('activity: a batch of 0 examples is a ValueError that says so; nothing changes, nothing leaks', async () => {
    const model = mlp();
    const o = opt('activity', {optimizer: 'momentum'});
    model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
    o.attach(model);
    const x = tf.zeros([0, 4]);
    const y = tf.zeros([0, 3]);
    const weights = weightValues(model);
    const before = tf.memory().numTensors;
    await expectAsync(model.trainOnBatch(x, y)).toBeRejectedWithError(fg.ValueError, /the batch has 0 examples/);
    expect(tf.memory().numTensors).toBe(before);
    expect(weightValues(model)).toEqual(weights);
    o.detach();
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });
});

describeBackends('ForwardGradientOptimizer: serialization', () => {
  it('getConfig / fromConfig round trip', () => {
    const o = fg.optimizers.forwardGradient({
      perturb: 'weight', samples: 3, noise: 'rademacher', seed: 42, weightDecay: 1e-4,
      gradientScale: {out: 0.1, 'h/kernel': 2}, optimizer: tf.train.momentum(0.05, 0.8, true), keepNoiseBytes: 1e6});
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[o.getClassName()];
    expect(entry).toBeDefined();
    // through JSON, as model.save stores it
    const config = JSON.parse(JSON.stringify(o.getConfig()));
    const back = entry[1](entry[0], config) as unknown as ForwardGradientOptimizer;
    expect(back instanceof ForwardGradientOptimizer).toBe(true);
    expect(back.getConfig()).toEqual(o.getConfig());
    expect(back.inner.getClassName()).toBe('Momentum');
    expect(back.inner.getConfig()).toEqual({learningRate: 0.05, momentum: 0.8, useNesterov: true});
    expect(back.gradientScale).toEqual({out: 0.1, 'h/kernel': 2});
    expect([back.perturb, back.samples, back.noise, back.seed, back.weightDecay, back.keepNoiseBytes])
        .toEqual(['weight', 3, 'rademacher', 42, 1e-4, 1e6]);
    const unseeded = fg.optimizers.forwardGradient();
    const back2 = entry[1](entry[0], JSON.parse(JSON.stringify(unseeded.getConfig()))) as unknown as ForwardGradientOptimizer;
    expect([back2.perturb, back2.seed, back2.inner.getClassName(), back2.learningRate, back2.keepNoiseBytes])
        .toEqual(['activity', null, 'SGD', 0.01, fg.optimizers.DEFAULT_KEEP_NOISE_BYTES]);
    [o, back, unseeded, back2].forEach(x => x.dispose());
  });

  for (const perturb of MODES) {
    for (const inner of ['momentum', 'adam']) {
      it(`${perturb}, ${inner}: save with the optimizer, load, resume: bit-identical to an uninterrupted run`, async () => {
        const {x, y} = makeData(8);
        const args: ForwardGradientOptimizerArgs = {
          optimizer: inner, samples: 2, weightDecay: 0.01, noise: 'rademacher',
          // (tfjs camel-cases string values on load: names must survive)
          gradientScale: {out: 0.5, 'some_layer/kernel_name': 2}};
        const fitArgs = (epochs: number): tfl.ModelFitArgs =>
            ({epochs, batchSize: 4, shuffle: false, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
        // run A: 2 epochs
        const a = mlp();
        const oa = opt(perturb, args);
        a.compile({optimizer: oa, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
        await a.fit(x, y, fitArgs(2));
        // run B: 1 epoch, save, load, 1 epoch
        const b = mlp();
        const ob = opt(perturb, args);
        b.compile({optimizer: ob, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
        await b.fit(x, y, fitArgs(1));
        let saved: tf.io.ModelArtifacts|null = null;
        await b.save(tf.io.withSaveHandler(async artifacts => {
          saved = artifacts;
          return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
        }), {includeOptimizer: true});
        const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
        const ol = loaded.optimizer as ForwardGradientOptimizer;
        expect(ol instanceof ForwardGradientOptimizer).toBe(true);
        expect(ol).not.toBe(ob);
        expect(ol.getConfig()).toEqual(ob.getConfig());
        expect(ol.gradientScale).toEqual({out: 0.5, 'some_layer/kernel_name': 2});
        expect((saved!.trainingConfig!.optimizer_config as {class_name: string}).class_name).toBe('fg.ForwardGradientOptimizer');
        expect(ol.inner.getClassName()).toBe(ob.inner.getClassName());
        expect(ol.iterations).toBe(2);
        expect(await readScalar(ol.stats.skippedSteps)).toBe(0);
        expect(await innerState(ol)).toEqual(await innerState(ob));
        await loaded.fit(x, y, fitArgs(1));
        expect(ol.iterations).toBe(4);
        // bit-identical weights (and optimizer state) to the uninterrupted run
        expect(weightValues(loaded)).toEqual(weightValues(a));
        expect(await innerState(ol)).toEqual(await innerState(oa));
        tf.dispose([x, y]);
        [a, b, loaded].forEach(m => m.dispose());
        [oa, ob, ol].forEach(o => o.dispose());
      });
    }
  }
});

describeBackends('ForwardGradientOptimizer: leaks', backend => {
  const configs: Array<[string, ForwardGradientOptimizerArgs]> = [
    ['weight', {perturb: 'weight'}],
    ['activity', {perturb: 'activity'}],
    ['none', {perturb: 'none'}],
    ['weight, samples 4, rademacher', {perturb: 'weight', samples: 4, noise: 'rademacher'}],
    ['activity, samples 4, rademacher, decay, scale',
     {perturb: 'activity', samples: 4, noise: 'rademacher', weightDecay: 0.01, gradientScale: {out: 0.1}}],
  ];
  // × 10 batches = 200 steps (30 on the GPU backends, test/util.ts coveringSubset: a leak of one
  // tensor per step shows after any number of steps)
  const epochs = coveringSubset(backend) ? 3 : 20;
  for (const [name, args] of configs) {
    it(`${name}: tensor count before fit = after fit (${epochs * 10} steps)`, async () => {
      const model = mlp({inputDim: 2, hidden: 3, classes: 2});
      const {x, y} = makeData(20, 2, 2);
      const before0 = tf.memory().numTensors;
      const o = fg.optimizers.forwardGradient({...args, learningRate: 0.01, seed: 1});
      model.compile({optimizer: o, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      const before = tf.memory().numTensors;
      await model.fit(x, y, {epochs, batchSize: 2, verbose: 0, yieldEvery: 'never',
                             callbacks: [fg.callbacks.forwardGradient()]});
      expect(o.iterations).toBe(epochs * 10);
      expect(tf.memory().numTensors).toBe(before);
      o.dispose();
      expect(tf.memory().numTensors).toBe(before0);
      tf.dispose([x, y]);
      model.dispose();
    });
  }

  it('activity with momentum: its state is created by the first step, nothing leaks after, dispose frees all', async () => {
    const model = mlp({inputDim: 2, hidden: 3, classes: 2});
    const {x, y} = makeData(20, 2, 2);
    const before0 = tf.memory().numTensors;
    const o = fg.optimizers.forwardGradient({perturb: 'activity', optimizer: 'momentum', seed: 1});
    model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
    const cb = () => ({verbose: 0 as const, yieldEvery: 'never' as const, callbacks: [fg.callbacks.forwardGradient()]});
    await model.fit(x, y, {epochs: 1, batchSize: 20, ...cb()});
    const before = tf.memory().numTensors;
    await model.fit(x, y, {epochs: 10, batchSize: 2, ...cb()});
    expect(tf.memory().numTensors).toBe(before);
    o.dispose();  // also the inner momentum optimizer's learning-rate scalar, which tfjs's dispose skips
    expect(tf.memory().numTensors).toBe(before0);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describeBackends('ForwardGradientOptimizer: fitDataset and trainOnBatch', () => {
  /** A minimal tf.data-like dataset of `batches` batches (fitDataset disposes what it is given). */
  function dataset(x: tf.Tensor, y: tf.Tensor, batchSize: number) {
    const n = x.shape[0] / batchSize;
    return {
      size: n,
      iterator: async () => {
        let i = 0;
        return {
          next: async () => i >= n ? {value: null, done: true} : {
            value: tf.tidy(() => ({xs: tf.slice(x, i * batchSize, batchSize), ys: tf.slice(y, (i++) * batchSize, batchSize)})),
            done: false,
          },
        };
      },
    };
  }

  for (const perturb of MODES) {
    it(`${perturb}: fitDataset trains like fit (same steps, same weights), without leaks`, async () => {
      const {x, y} = makeData(8);
      const viaFit = mlp();
      const o1 = opt(perturb);
      viaFit.compile({optimizer: o1, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      await viaFit.fit(x, y, {epochs: 2, batchSize: 4, shuffle: false, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
      const viaDataset = mlp();
      const o2 = opt(perturb);
      viaDataset.compile({optimizer: o2, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      const before = tf.memory().numTensors;
      const h = await viaDataset.fitDataset(dataset(x, y, 4) as unknown as Parameters<tfl.LayersModel['fitDataset']>[0],
                                            {epochs: 2, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
      expect(tf.memory().numTensors).toBe(before);
      expect(o2.iterations).toBe(4);
      expect(h.history.loss.length).toBe(2);
      expect(h.history.acc.length).toBe(2);
      expect(weightValues(viaDataset)).toEqual(weightValues(viaFit));
      tf.dispose([x, y]);
      viaFit.dispose();
      viaDataset.dispose();
      o1.dispose();
      o2.dispose();
    });

    it(`${perturb}: trainOnBatch (activity: after optimizer.attach(model)) equals a fit step`, async () => {
      const {x, y} = makeData(8);
      const viaFit = mlp();
      const o1 = opt(perturb);
      viaFit.compile({optimizer: o1, loss: 'categoricalCrossentropy'});
      const h = await fitOneStep(viaFit, x, y);
      const model = mlp();
      const o2 = opt(perturb);
      model.compile({optimizer: o2, loss: 'categoricalCrossentropy'});
      const original = lossFunctions(model)[0];
      if (perturb === 'activity') {
        await expectAsync(model.trainOnBatch(x, y)).toBeRejectedWithError(fg.ValueError, /optimizer\.attach\(model\)/);
        expect(o2.iterations).toBe(0);
      }
      o2.attach(model);
      const before = tf.memory().numTensors;
      const loss = await model.trainOnBatch(x, y) as number;
      expect(tf.memory().numTensors).toBe(before);
      expect(loss).toBeCloseTo(h.history.loss[0] as number, 6);
      expect(weightValues(model)).toEqual(weightValues(viaFit));
      o2.detach();
      expect(lossFunctions(model)[0]).toBe(original);
      expect(o2.attachment).toBeNull();
      tf.dispose([x, y]);
      viaFit.dispose();
      model.dispose();
      o1.dispose();
      o2.dispose();
    });
  }
});

describe('ForwardGradientOptimizer: options', () => {
  it('rejects bad configs with a ValueError that names the option', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{perturb: 'weights'}, /perturb must be one of weight, activity, none.*weights/],
      [{noise: 'uniform'}, /noise must be one of gaussian, rademacher.*uniform/],
      [{optimizer: 'adamw'}, /unknown optimizer 'adamw'.*sgd, momentum, adam/],
      [{optimizer: {}}, /optimizer must be a tf\.Optimizer/],
      [{samples: 0}, /samples must be a positive integer.*0/],
      [{samples: 1.5}, /samples must be a positive integer/],
      [{weightDecay: -0.1}, /weightDecay must be ≥ 0.*-0\.1/],
      [{learningRate: 0}, /learningRate must be a finite number > 0.*0/],
      [{learningRate: NaN}, /learningRate must be a finite number > 0.*NaN/],
      [{learningRate: Infinity}, /learningRate must be a finite number > 0.*Infinity/],
      [{learningRate: -0.1}, /learningRate must be a finite number > 0/],
      [{optimizer: 'momentum', momentum: 1}, /momentum must be a number in \[0, 1\).*1/],
      [{optimizer: 'momentum', momentum: -0.1}, /momentum must be a number in \[0, 1\)/],
      [{optimizer: 'momentum', momentum: NaN}, /momentum must be a number in \[0, 1\).*NaN/],
      [{optimizer: 'momentum', momentum: Infinity}, /momentum must be a number in \[0, 1\)/],
      // the noise streams hash the seed as an unsigned 32-bit integer: 1.7 and 2^32 + 1 would alias 1
      [{seed: 1.7}, /seed must be an integer in \[0, 2\^32\).*1\.7/],
      [{seed: 2 ** 32}, /seed must be an integer in \[0, 2\^32\)/],
      [{seed: 2 ** 32 + 1}, /seed must be an integer in \[0, 2\^32\).*4294967297/],
      [{seed: -1}, /seed must be an integer in \[0, 2\^32\)/],
      [{seed: NaN}, /seed must be an integer in \[0, 2\^32\).*NaN/],
      [{seed: Infinity}, /seed must be an integer in \[0, 2\^32\)/],
      [{seed: '3'}, /seed must be an integer in \[0, 2\^32\)/],
      [{gradientScale: {out: NaN}}, /gradientScale\['out'\] must be a finite number/],
      [{keepNoiseBytes: -1}, /keepNoiseBytes must be a finite number ≥ 0.*-1/],
      [{keepNoiseBytes: NaN}, /keepNoiseBytes must be a finite number ≥ 0.*NaN/],
      [{keepNoiseBytes: Infinity}, /keepNoiseBytes must be a finite number ≥ 0.*Infinity/],
      [{keepNoiseBytes: '1e6'}, /keepNoiseBytes must be a finite number ≥ 0/],
    ];
    for (const [args, message] of bad) {
      expect(() => fg.optimizers.forwardGradient(args as ForwardGradientOptimizerArgs))
          .withContext(JSON.stringify(args)).toThrowMatching(e => e instanceof fg.ValueError && message.test(e.message));
    }
    for (const seed of [0, 1, 2 ** 32 - 1, null, undefined]) {
      const o = fg.optimizers.forwardGradient({seed});
      expect(o.seed).toBe(seed ?? null);
      o.dispose();
    }
    const ok = fg.optimizers.forwardGradient({optimizer: 'Adam', learningRate: 0.001});
    expect(ok.inner.getClassName()).toBe('Adam');
    expect(tf.train.adam(0.1) instanceof ForwardGradientOptimizer).withContext('instanceof is not duck-typed').toBe(false);
    expect(ok instanceof ForwardGradientOptimizer).toBe(true);
    expect(ok instanceof tf.Optimizer).toBe(true);
    expect(ok.learningRate).toBe(0.001);
    ok.dispose();
  });
});
