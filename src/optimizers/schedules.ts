/**
 * Learning-rate schedules with optax semantics and optax's names in camelCase (`constantSchedule`,
 * `linearSchedule`, `warmupCosineDecaySchedule`: the paper's `linear_schedule` and
 * `warmup_cosine_decay_schedule`; `linearWarmupSchedule` puts a warmup before any of them), and `setLearningRate`, which changes the learning rate of any tfjs
 * optimizer in place. Schedules are plain functions of the step on JS numbers: no tensors, no host
 * sync.
 */
import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';

/** A learning-rate schedule: the learning rate to use at optimizer step `step` (0, 1, 2, …). */
export type Schedule = (step: number) => number;

function describeValue(x: unknown): string {
  if (typeof x === 'string') {
    return `'${x}'`;
  }
  if (x === null || typeof x !== 'object') {
    return String(x);
  }
  const name = (x as object).constructor?.name;
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
}

function checkArgs(fn: string, args: unknown): void {
  if (args == null || typeof args !== 'object') {
    throw new ValueError(`${fn}: expected an arguments object. Received: ${describeValue(args)}.`);
  }
}

function checkFinite(fn: string, name: string, x: unknown): asserts x is number {
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    throw new ValueError(`${fn}: ${name} must be a finite number. Received: ${describeValue(x)}.`);
  }
}

function checkInteger(fn: string, name: string, x: unknown, min: number, what: string): void {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min) {
    throw new ValueError(`${fn}: ${name} must be an integer ${what}. Received: ${describeValue(x)}.`);
  }
}

function checkStep(fn: string, step: unknown): asserts step is number {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) {
    throw new ValueError(
        `${fn} schedule: step must be a finite number ≥ 0. Received: ${describeValue(step)}.`);
  }
}

/**
 * A constant schedule (optax `constant_schedule(value)`): `lr(t) = value`.
 *
 * ```js
 * fg.optimizers.constantSchedule(0.01)(1234);  // 0.01
 * ```
 */
export function constantSchedule(value: number): Schedule {
  const fn = 'constantSchedule';
  checkFinite(fn, 'value', value);
  return (step: number) => {
    checkStep(fn, step);
    return value;
  };
}

/** Arguments of `linearSchedule`. */
export interface LinearScheduleArgs {
  /** Learning rate at step 0. */
  initValue: number;
  /** Number of steps over which the rate goes from `initValue` to `endValue` (integer > 0). */
  transitionSteps: number;
  /** Learning rate at and after `transitionSteps`. Default 0. */
  endValue?: number;
}

/**
 * Linear schedule (optax `linear_schedule(initValue, endValue, transitionSteps)`):
 * `lr(t) = (initValue − endValue) · (1 − min(t, T)/T) + endValue`, with `T = transitionSteps`;
 * constant at `endValue` from step `T` on. The paper's MNIST schedule is `linearSchedule({initValue:
 * lr, transitionSteps: epochs · stepsPerEpoch})` (a linear decay to 0).
 *
 * ```js
 * const s = fg.optimizers.linearSchedule({initValue: 0.01, transitionSteps: 100});
 * s(0);  // 0.01     s(50);  // 0.005     s(100);  // 0     s(150);  // 0
 * ```
 */
export function linearSchedule(args: LinearScheduleArgs): Schedule {
  const fn = 'linearSchedule';
  checkArgs(fn, args);
  const {initValue, transitionSteps, endValue = 0} = args;
  checkFinite(fn, 'initValue', initValue);
  checkFinite(fn, 'endValue', endValue);
  checkInteger(fn, 'transitionSteps', transitionSteps, 1, '> 0');
  return (step: number) => {
    checkStep(fn, step);
    const t = Math.min(step, transitionSteps);
    return (initValue - endValue) * (1 - t / transitionSteps) + endValue;
  };
}

/** Arguments of `warmupCosineDecaySchedule`. */
export interface WarmupCosineDecayScheduleArgs {
  /** Learning rate at the end of the warmup (step `warmupSteps`). */
  peakValue: number;
  /** Number of linear warmup steps from `initValue` to `peakValue` (integer ≥ 0). */
  warmupSteps: number;
  /** Total number of steps, warmup INCLUDED (optax `decay_steps`; integer > `warmupSteps`). */
  totalSteps: number;
  /** Learning rate at step 0. Default 0. */
  initValue?: number;
  /** Learning rate at and after `totalSteps`. Default 0. */
  endValue?: number;
}

/**
 * Linear warmup then cosine decay (optax `warmup_cosine_decay_schedule(initValue, peakValue,
 * warmupSteps, totalSteps, endValue)`). With `W = warmupSteps`, `D = totalSteps − W`:
 * - `t < W`: `lr(t) = initValue + (peakValue − initValue) · t/W`;
 * - `t ≥ W`: `lr(t) = endValue + (peakValue − endValue) · ½(1 + cos(π · min(t − W, D)/D))`,
 *   so `lr(W) = peakValue` and `lr(t) = endValue` for `t ≥ totalSteps`.
 *
 * The paper's CIFAR/ImageNet schedule is `warmupCosineDecaySchedule({peakValue: lr, warmupSteps: 10 ·
 * stepsPerEpoch, totalSteps: epochs · stepsPerEpoch})`.
 *
 * ```js
 * const s = fg.optimizers.warmupCosineDecaySchedule({peakValue: 0.1, warmupSteps: 10, totalSteps: 110});
 * s(0);  // 0     s(5);  // 0.05     s(10);  // 0.1     s(60);  // 0.05     s(110);  // 0
 * ```
 */
export function warmupCosineDecaySchedule(args: WarmupCosineDecayScheduleArgs): Schedule {
  const fn = 'warmupCosineDecaySchedule';
  checkArgs(fn, args);
  const {peakValue, warmupSteps, totalSteps, initValue = 0, endValue = 0} = args;
  checkFinite(fn, 'peakValue', peakValue);
  checkFinite(fn, 'initValue', initValue);
  checkFinite(fn, 'endValue', endValue);
  checkInteger(fn, 'warmupSteps', warmupSteps, 0, '≥ 0');
  checkInteger(fn, 'totalSteps', totalSteps, 1, '> 0');
  if (totalSteps <= warmupSteps) {
    throw new ValueError(
        `${fn}: totalSteps counts the warmup and must be greater than warmupSteps ` +
        `(${warmupSteps}). Received: ${totalSteps}.`);
  }
  const decaySteps = totalSteps - warmupSteps;
  return (step: number) => {
    checkStep(fn, step);
    if (step < warmupSteps) {
      // optax linear_schedule(init, peak, W): (init − peak)·(1 − t/W) + peak.
      return (initValue - peakValue) * (1 - step / warmupSteps) + peakValue;
    }
    const t = Math.min(step - warmupSteps, decaySteps);
    return (peakValue - endValue) * 0.5 * (1 + Math.cos(Math.PI * t / decaySteps)) + endValue;
  };
}

/** Arguments of `linearWarmupSchedule`. */
export interface LinearWarmupScheduleArgs {
  /** Learning rate reached at the end of the warmup (step `warmupSteps`). */
  peakValue: number;
  /** Number of linear warmup steps from 0 to `peakValue` (integer ≥ 0; 0: no warmup). */
  warmupSteps: number;
  /** The schedule after the warmup; it is called with the step counted from the end of the warmup. */
  schedule: Schedule;
}

/**
 * A linear warmup from 0 to `peakValue` over `warmupSteps` steps, then `schedule`, which starts
 * afresh at the end of the warmup (optax `join_schedules([linear_schedule(0, peakValue,
 * warmupSteps), schedule], [warmupSteps])`): `lr(t) = peakValue · t/W` for `t < W`, else
 * `schedule(t − W)`. With `warmupSteps` 0 it is `schedule` itself. The `tfjs-fg` CLI's
 * `--warmup-epochs` with `--schedule linear` is `linearWarmupSchedule({peakValue: lr, warmupSteps: W,
 * schedule: linearSchedule({initValue: lr, transitionSteps: total − W})})`.
 *
 * ```js
 * const s = fg.optimizers.linearWarmupSchedule({
 *   peakValue: 0.1, warmupSteps: 10,
 *   schedule: fg.optimizers.linearSchedule({initValue: 0.1, transitionSteps: 90}),
 * });
 * s(0);  // 0     s(5);  // 0.05     s(10);  // 0.1     s(55);  // 0.05     s(100);  // 0
 * ```
 */
export function linearWarmupSchedule(args: LinearWarmupScheduleArgs): Schedule {
  const fn = 'linearWarmupSchedule';
  checkArgs(fn, args);
  const {peakValue, warmupSteps, schedule} = args;
  checkFinite(fn, 'peakValue', peakValue);
  checkInteger(fn, 'warmupSteps', warmupSteps, 0, '≥ 0');
  if (typeof schedule !== 'function') {
    throw new ValueError(
        `${fn}: schedule must be a function of the step (e.g. fg.optimizers.linearSchedule({...})). ` +
        `Received: ${describeValue(schedule)}.`);
  }
  if (warmupSteps === 0) {
    return schedule;
  }
  return (step: number) => {
    checkStep(fn, step);
    return step < warmupSteps ? peakValue * step / warmupSteps : schedule(step - warmupSteps);
  };
}

/** An optimizer that wraps another (e.g. `ForwardGradientOptimizer`): its rate is the inner one's. */
export interface WrappingOptimizer {
  readonly inner: tf.Optimizer;
}

/** The fields `setLearningRate` reads or writes on tfjs's optimizer classes (protected there). */
interface OptimizerInternals {
  learningRate?: unknown;
  setLearningRate?: unknown;
  inner?: unknown;
}

function isOptimizer(x: unknown): x is tf.Optimizer {
  if (x == null || typeof x !== 'object') {
    return false;
  }
  if (x instanceof tf.Optimizer) {
    return true;
  }
  // Another copy of tfjs-core (e.g. a bundle): recognise the Optimizer interface.
  const o = x as {applyGradients?: unknown, minimize?: unknown};
  return typeof o.applyGradients === 'function' && typeof o.minimize === 'function';
}

/**
 * Sets the learning rate of a tfjs optimizer to `lr`, in place, for every built-in class:
 * - `SGDOptimizer`, `MomentumOptimizer` (and any class with a `setLearningRate` method): through
 *   `setLearningRate`, which replaces (and disposes) SGD's kept scalar `−lr`;
 * - `Adam`, `Adamax`, `RMSProp`, `Adagrad`, `Adadelta`: they read the number `learningRate` at each
 *   `applyGradients`, so it is assigned.
 * An object with an `inner` optimizer (e.g. `ForwardGradientOptimizer`) gets it set on `inner`.
 * Nothing is read back from the device and no tensor leaks; setting the current value is a no-op.
 *
 * ```js
 * const opt = tf.train.adam(0.001);
 * fg.setLearningRate(opt, 0.0005);   // the next applyGradients / minimize uses 0.0005
 * ```
 */
export function setLearningRate(optimizer: tf.Optimizer|WrappingOptimizer, lr: number): void {
  const fn = 'setLearningRate';
  checkFinite(fn, 'lr', lr);
  const wrapped = (optimizer as OptimizerInternals | null)?.inner;
  if (wrapped != null && isOptimizer(wrapped)) {
    setLearningRate(wrapped, lr);
    return;
  }
  if (!isOptimizer(optimizer)) {
    throw new ValueError(
        `${fn}: optimizer must be a tf.Optimizer (e.g. tf.train.sgd(0.1)) or an object whose ` +
        `'inner' is one. Received: ${describeValue(optimizer)}` +
        (wrapped !== undefined ? ` with inner = ${describeValue(wrapped)}.` : '.'));
  }
  const o = optimizer as unknown as OptimizerInternals;
  if (o.learningRate === lr) {
    return;  // unchanged: skip re-creating SGD's kept scalar
  }
  if (typeof o.setLearningRate === 'function') {
    (o.setLearningRate as (lr: number) => void).call(optimizer, lr);
  } else if (typeof o.learningRate === 'number') {
    o.learningRate = lr;
  } else {
    throw new ValueError(
        `${fn}: ${describeValue(optimizer)} has neither a setLearningRate method nor a numeric ` +
        `learningRate field, so its learning rate cannot be set.`);
  }
}
