import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {learningRateScheduler, LearningRateScheduler} from '../../src/callbacks/learning_rate_scheduler';
import {ValueError} from '../../src/errors';
import {linearSchedule, Schedule, setLearningRate, warmupCosineDecaySchedule} from '../../src/optimizers/schedules';
import {describeBackends, expectClose, randn, WrappingOptimizer} from '../util';

const BATCH = 2, BATCHES = 3, EPOCHS = 2;

function makeModel(): tfl.LayersModel {
  return tfl.sequential({layers: [tfl.layers.dense({inputShape: [3], units: 2, activation: 'tanh'})]});
}

/** A callback that records `logs.lr` of every batch. */
function recorder(lrs: number[]): tfl.CustomCallback {
  return new tfl.CustomCallback({onBatchEnd: async (_b, logs) => void lrs.push(logs!['lr'])});
}

describeBackends('LearningRateScheduler', () => {
  let xs: tf.Tensor, ys: tf.Tensor;
  beforeAll(() => {
    xs = randn([BATCH * BATCHES, 3]);
    ys = randn([BATCH * BATCHES, 2]);
  });
  afterAll(() => tf.dispose([xs, ys]));

  /**
   * fit (EPOCHS × BATCHES, no shuffling) with the scheduler; then the same model trained by a
   * manual loop that sets schedule(step) before each minimize step. Returns the logged rates.
   */
  async function fitAndCompare(makeOpt: () => tf.Optimizer, schedule: Schedule): Promise<number[]> {
    const model = makeModel(), manual = makeModel();
    manual.setWeights(model.getWeights());
    model.compile({optimizer: makeOpt(), loss: 'meanSquaredError'});
    const lrs: number[] = [];
    const history = await model.fit(xs, ys, {
      epochs: EPOCHS, batchSize: BATCH, shuffle: false, verbose: 0,
      callbacks: [learningRateScheduler({schedule}), recorder(lrs)],
    });
    const expected = Array.from({length: EPOCHS * BATCHES}, (_, t) => schedule(t));
    expect(lrs).toEqual(expected);
    expect(history.history['lr']).toEqual([expected[BATCHES - 1], expected[2 * BATCHES - 1]]);
    expect(model.optimizer.getConfig()['learningRate']).toBe(expected[expected.length - 1]);

    const opt = makeOpt();
    const vars = manual.trainableWeights.map(w => w.read() as tf.Variable);
    for (let step = 0; step < EPOCHS * BATCHES; step++) {
      const b = step % BATCHES;
      setLearningRate(opt, schedule(step));
      tf.tidy(() => {
        const xb = tf.slice(xs, b * BATCH, BATCH), yb = tf.slice(ys, b * BATCH, BATCH);
        opt.minimize(() => {
          const pred = manual.apply(xb, {training: true}) as tf.Tensor;
          return tf.mean(tf.mean(tf.square(tf.sub(pred, yb)), -1)) as tf.Scalar;
        }, false, vars);
      });
    }
    const got = model.getWeights(), want = manual.getWeights();
    got.forEach((w, i) => expectClose(w, want[i], 1e-5, 1e-6, `weight ${i}`));
    model.dispose();
    manual.dispose();
    opt.dispose();
    return lrs;
  }

  it('sgd: logs schedule(0..5) across 2 epochs × 3 batches; weights match a manual loop', async () => {
    await fitAndCompare(() => tf.train.sgd(1), linearSchedule({initValue: 0.2, transitionSteps: 6}));
  });

  it('adam: logs schedule(0..5) across 2 epochs × 3 batches; weights match a manual loop', async () => {
    await fitAndCompare(() => tf.train.adam(1),
                        warmupCosineDecaySchedule({peakValue: 0.05, warmupSteps: 2, totalSteps: 6}));
  });

  it('a second fit with the same optimizer continues the schedule from optimizer.iterations', async () => {
    const model = makeModel();
    const opt = tf.train.sgd(1);
    model.compile({optimizer: opt, loss: 'meanSquaredError'});
    const schedule = linearSchedule({initValue: 0.3, transitionSteps: 6});
    const lrs: number[] = [];
    for (let i = 0; i < 2; i++) {
      await model.fit(xs, ys, {
        epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0,
        callbacks: [learningRateScheduler({schedule}), recorder(lrs)],
      });
    }
    expect(lrs).toEqual([0, 1, 2, 3, 4, 5].map(schedule));
    expect(opt.iterations).toBe(6);
    expect(opt.getConfig()['learningRate']).toBe(schedule(5));
    model.dispose();
  });

  it('perBatch: false sets schedule(epoch) before each epoch', async () => {
    const model = makeModel();
    model.compile({optimizer: tf.train.momentum(1, 0.9), loss: 'meanSquaredError'});
    const schedule = linearSchedule({initValue: 0.2, transitionSteps: 2});
    const lrs: number[] = [];
    await model.fit(xs, ys, {
      epochs: EPOCHS, batchSize: BATCH, shuffle: false, verbose: 0,
      callbacks: [new LearningRateScheduler({schedule, perBatch: false}), recorder(lrs)],
    });
    expect(lrs).toEqual([0.2, 0.2, 0.2, 0.1, 0.1, 0.1]);
    model.dispose();
  });

  it('sets the rate of the inner optimizer of a wrapping optimizer, counting its steps', async () => {
    const model = makeModel();
    const inner = tf.train.adam(1);
    model.compile({optimizer: new WrappingOptimizer(inner), loss: 'meanSquaredError'});
    const schedule = linearSchedule({initValue: 0.1, transitionSteps: 12});
    const lrs: number[] = [];
    for (let i = 0; i < 2; i++) {
      await model.fit(xs, ys, {
        epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0,
        callbacks: [learningRateScheduler({schedule}), recorder(lrs)],
      });
    }
    expect(lrs).toEqual([0, 1, 2, 3, 4, 5].map(schedule));
    expect(inner.getConfig()['learningRate']).toBe(schedule(5));
    model.dispose();
  });

  it('adds no tensors to the session (sgd)', async () => {
    const model = makeModel();
    model.compile({optimizer: tf.train.sgd(1), loss: 'meanSquaredError'});
    const before = tf.memory().numTensors;
    await model.fit(xs, ys, {
      epochs: EPOCHS, batchSize: BATCH, shuffle: false, verbose: 0,
      callbacks: learningRateScheduler({schedule: linearSchedule({initValue: 0.1, transitionSteps: 6})}),
    });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('validates its arguments and explains a callback list it cannot be used in', async () => {
    expect(() => learningRateScheduler({} as {schedule: Schedule})).toThrowError(ValueError, /schedule/);
    expect(() => learningRateScheduler({schedule: () => 0.1, perBatch: 'yes' as unknown as boolean}))
        .toThrowError(ValueError, /perBatch/);
    const model = makeModel();
    model.compile({optimizer: tf.train.sgd(1), loss: 'meanSquaredError'});
    const bad = learningRateScheduler({schedule: () => NaN});
    await expectAsync(model.fit(xs, ys, {epochs: 1, batchSize: BATCH, verbose: 0, callbacks: bad}))
        .toBeRejectedWithError(ValueError, /schedule\(0\) must return a finite number/);
    // A plain object first makes tfjs-layers wrap every entry as a CustomCallback (no model set).
    const mixed = [{onBatchEnd: () => {}}, learningRateScheduler({schedule: () => 0.1})] as unknown as
        tfl.CustomCallbackArgs[];
    await expectAsync(model.fit(xs, ys, {epochs: 1, batchSize: BATCH, verbose: 0, callbacks: mixed}))
        .toBeRejectedWithError(ValueError, /no model was set/);
    model.dispose();
  });
});
