import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../../src/errors';
import {constantSchedule, linearSchedule, linearWarmupSchedule, Schedule, setLearningRate, warmupCosineDecaySchedule} from '../../src/optimizers/schedules';
import {describeBackends, WrappingOptimizer} from '../util';

/** Expects `fn` to throw a ValueError whose message contains every string of `parts`. */
function expectValueError(fn: () => unknown, ...parts: string[]): void {
  let error: unknown = null;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error instanceof ValueError).withContext(`threw ${String(error)}`).toBe(true);
  for (const p of parts) {
    expect((error as Error).message).toContain(p);
  }
}

function expectValues(s: Schedule, expected: Array<[number, number]>): void {
  for (const [step, value] of expected) {
    expect(s(step)).withContext(`step ${step}`).toBeCloseTo(value, 12);
  }
}

describeBackends('schedules', () => {
  it('linearSchedule: (init − end)·(1 − min(t, T)/T) + end, constant after T', () => {
    expectValues(linearSchedule({initValue: 0.4, transitionSteps: 8}),
                 [[0, 0.4], [1, 0.35], [2, 0.3], [4, 0.2], [7, 0.05], [8, 0], [12, 0], [1e9, 0]]);
    expectValues(linearSchedule({initValue: 0.4, transitionSteps: 8, endValue: 0.1}),
                 [[0, 0.4], [4, 0.25], [8, 0.1], [20, 0.1]]);
    // Increasing schedules are allowed (optax does not restrict the sign).
    expectValues(linearSchedule({initValue: 0, transitionSteps: 4, endValue: 1}), [[1, 0.25], [4, 1]]);
  });

  it('warmupCosineDecaySchedule: linear warmup from init to peak, then cosine to end over total − warmup', () => {
    const peak = 0.1, W = 4, T = 12, D = T - W;
    const cos = (t: number) => 0.5 * (1 + Math.cos(Math.PI * (t - W) / D));
    expectValues(warmupCosineDecaySchedule({peakValue: peak, warmupSteps: W, totalSteps: T}), [
      [0, 0],                 // step 0: initValue
      [1, peak / 4],          // mid-warmup
      [2, peak / 2],
      [W, peak],              // end of warmup: the peak
      [5, peak * cos(5)],
      [W + D / 2, peak / 2],  // middle of the decay
      [11, peak * cos(11)],
      [T, 0],                 // end
      [T + 5, 0],             // past the end
    ]);
    const init = 0.01, end = 0.001;
    expectValues(
        warmupCosineDecaySchedule({peakValue: peak, warmupSteps: W, totalSteps: T, initValue: init, endValue: end}),
        [[0, init], [2, (init + peak) / 2], [W, peak], [W + D / 2, (peak + end) / 2], [T, end], [100, end]]);
  });

  it('warmupCosineDecaySchedule without warmup starts at the peak; fractional steps interpolate', () => {
    const s = warmupCosineDecaySchedule({peakValue: 2, warmupSteps: 0, totalSteps: 10});
    expectValues(s, [[0, 2], [5, 1], [10, 0]]);
    expectValues(warmupCosineDecaySchedule({peakValue: 1, warmupSteps: 2, totalSteps: 4}), [[0.5, 0.25]]);
  });

  it('constantSchedule', () => {
    expectValues(constantSchedule(0.03), [[0, 0.03], [7, 0.03], [1e6, 0.03]]);
  });

  it('linearWarmupSchedule: peak · t/W during the warmup, then the schedule from its own step 0', () => {
    const after = linearSchedule({initValue: 0.2, transitionSteps: 8});
    const s = linearWarmupSchedule({peakValue: 0.2, warmupSteps: 4, schedule: after});
    expectValues(s, [[0, 0], [1, 0.05], [2, 0.1], [3, 0.15], [4, 0.2], [8, 0.1], [12, 0], [100, 0]]);
    // The warmup is peak · t/W exactly (the CLI's --warmup-epochs), and the rest is the schedule shifted by W.
    for (const t of [0, 1, 2, 3]) {
      expect(s(t)).toBe(0.2 * t / 4);
    }
    for (const t of [4, 5, 7.5, 11, 30]) {
      expect(s(t)).toBe(after(t - 4));
    }
    // No warmup: the schedule itself.
    expect(linearWarmupSchedule({peakValue: 0.2, warmupSteps: 0, schedule: after})).toBe(after);
    // A constant after the warmup.
    expectValues(linearWarmupSchedule({peakValue: 0.5, warmupSteps: 2, schedule: constantSchedule(0.5)}),
                 [[0, 0], [1, 0.25], [2, 0.5], [1e6, 0.5]]);
  });

  it('validates arguments with ValueErrors naming the function, the argument and the value', () => {
    expectValueError(() => linearSchedule({initValue: 0.1, transitionSteps: 0}), 'linearSchedule', 'transitionSteps',
                     'Received: 0');
    expectValueError(() => linearSchedule({initValue: 0.1, transitionSteps: 2.5}), 'linearSchedule', 'transitionSteps',
                     '2.5');
    expectValueError(() => linearSchedule({initValue: 0.1, transitionSteps: '10' as unknown as number}),
                     'transitionSteps', `'10'`);
    expectValueError(() => linearSchedule({initValue: NaN, transitionSteps: 10}), 'linearSchedule', 'initValue',
                     'NaN');
    expectValueError(() => linearSchedule({initValue: 0.1, transitionSteps: 10, endValue: Infinity}),
                     'endValue', 'Infinity');
    expectValueError(() => linearSchedule(undefined as unknown as {initValue: number, transitionSteps: number}),
                     'linearSchedule', 'arguments');
    expectValueError(() => warmupCosineDecaySchedule({peakValue: 0.1, warmupSteps: 10, totalSteps: 10}),
                     'warmupCosineDecaySchedule', 'totalSteps', 'warmupSteps', 'Received: 10');
    expectValueError(() => warmupCosineDecaySchedule({peakValue: 0.1, warmupSteps: -1, totalSteps: 10}),
                     'warmupCosineDecaySchedule', 'warmupSteps', '-1');
    expectValueError(() => warmupCosineDecaySchedule({peakValue: undefined as unknown as number, warmupSteps: 1,
                                              totalSteps: 10}),
                     'warmupCosineDecaySchedule', 'peakValue', 'undefined');
    expectValueError(() => constantSchedule(Infinity), 'constantSchedule', 'value');
    const after = constantSchedule(0.1);
    expectValueError(() => linearWarmupSchedule({peakValue: 0.1, warmupSteps: 1.5, schedule: after}),
                     'linearWarmupSchedule', 'warmupSteps', '1.5');
    expectValueError(() => linearWarmupSchedule({peakValue: NaN, warmupSteps: 2, schedule: after}),
                     'linearWarmupSchedule', 'peakValue', 'NaN');
    expectValueError(() => linearWarmupSchedule({peakValue: 0.1, warmupSteps: 2, schedule: 0.1 as unknown as Schedule}),
                     'linearWarmupSchedule', 'schedule', 'Received: 0.1');
    expectValueError(() => linearWarmupSchedule({peakValue: 0.1, warmupSteps: 2, schedule: after})(-1),
                     'linearWarmupSchedule', 'step', '-1');
    const s = linearSchedule({initValue: 0.1, transitionSteps: 10});
    expectValueError(() => s(-1), 'linearSchedule', 'step', '-1');
    expectValueError(() => s(NaN), 'step', 'NaN');
  });
});

type Factory = (lr: number) => tf.Optimizer;

const OPTIMIZERS: Array<[string, Factory]> = [
  ['sgd', lr => tf.train.sgd(lr)],
  ['momentum', lr => tf.train.momentum(lr, 0.9)],
  ['momentum (nesterov)', lr => tf.train.momentum(lr, 0.9, true)],
  ['adam', lr => tf.train.adam(lr)],
  ['adamax', lr => tf.train.adamax(lr)],
  ['adamax (decay)', lr => tf.train.adamax(lr, 0.9, 0.999, undefined, 0.1)],
  ['rmsprop', lr => tf.train.rmsprop(lr)],
  ['rmsprop (centered, momentum)', lr => tf.train.rmsprop(lr, 0.9, 0.5, undefined, true)],
  ['adagrad', lr => tf.train.adagrad(lr)],
  ['adadelta', lr => tf.train.adadelta(lr)],
];

const X0 = [1, -2, 0.5, 3];
const GRAD = [0.3, -0.7, 1.5, 0.05];

/** The value of a variable starting at X0 after one `applyGradients` step with gradient GRAD. */
function oneStep(opt: tf.Optimizer): Float32Array {
  const v = tf.variable(tf.tidy(() => tf.tensor1d(X0)));
  const g = tf.tensor1d(GRAD);
  opt.applyGradients({[v.name]: g});
  const out = v.dataSync() as Float32Array;
  tf.dispose([v, g]);
  return out;
}

describeBackends('schedules: setLearningRate', () => {
  for (const [name, make] of OPTIMIZERS) {
    it(`${name}: one step after setting lr = 0.5 equals one step of a fresh optimizer with 0.5`, () => {
      const reference = make(0.5);
      const old = make(0.1);
      const opt = make(0.1);
      const before = tf.memory().numTensors;
      setLearningRate(opt, 0.5);
      expect(tf.memory().numTensors).withContext('tensors leaked by setLearningRate').toBe(before);
      expect(opt.getConfig()['learningRate']).toBe(0.5);

      const want = oneStep(reference), got = oneStep(opt), unchanged = oneStep(old);
      expect(Array.from(got)).toEqual(Array.from(want));
      // ... and the step differs from one at the old rate (the setter is not a no-op).
      expect(Array.from(got)).not.toEqual(Array.from(unchanged));
      // Setting it again (also after a step, with optimizer state in place) leaks nothing either.
      const n = tf.memory().numTensors;
      setLearningRate(opt, 0.25);
      setLearningRate(opt, 0.25);
      expect(tf.memory().numTensors).toBe(n);
      [reference, old, opt].forEach(o => o.dispose());
    });
  }

  it('sets the rate of the inner optimizer of a wrapping optimizer', () => {
    const inner = tf.train.adam(0.1);
    setLearningRate(new WrappingOptimizer(inner), 0.5);
    expect(inner.getConfig()['learningRate']).toBe(0.5);
    const sgd = tf.train.sgd(0.1);
    setLearningRate({inner: sgd}, 0.3);
    expect(sgd.getConfig()['learningRate']).toBe(0.3);
    inner.dispose();
    sgd.dispose();
  });

  it('leaves SGD\'s kept scalar alone when the rate does not change', () => {
    const opt = tf.train.sgd(0.1);
    const c = (opt as unknown as {c: tf.Scalar}).c;
    setLearningRate(opt, 0.1);
    expect((opt as unknown as {c: tf.Scalar}).c).toBe(c);
    expect(c.isDisposed).toBe(false);
    setLearningRate(opt, 0.2);
    expect(c.isDisposed).toBe(true);
    opt.dispose();
  });

  it('rejects objects that are not optimizers and non-finite rates', () => {
    const opt = tf.train.sgd(0.1);
    expectValueError(() => setLearningRate({} as tf.Optimizer, 0.1), 'setLearningRate', 'optimizer',
                     'Received: an object');
    expectValueError(() => setLearningRate(null as unknown as tf.Optimizer, 0.1), 'optimizer', 'null');
    expectValueError(() => setLearningRate({inner: {}} as {inner: tf.Optimizer}, 0.1), 'inner');
    expectValueError(() => setLearningRate(new Map() as unknown as tf.Optimizer, 0.1), 'Map');
    expectValueError(() => setLearningRate(opt, NaN), 'setLearningRate', 'lr', 'NaN');
    expectValueError(() => setLearningRate(opt, '0.1' as unknown as number), 'lr', `'0.1'`);
    class NoRate extends tf.Optimizer {
      applyGradients(): void {}
      getConfig(): tf.serialization.ConfigDict {
        return {};
      }
    }
    expectValueError(() => setLearningRate(new NoRate(), 0.1), 'NoRate', 'learningRate');
    expect(opt.getConfig()['learningRate']).toBe(0.1);
    opt.dispose();
  });
});
