/**
 * `LearningRateScheduler`: a `model.fit` callback that drives the optimizer's learning rate from a
 * `Schedule` (per batch by default, as optax does), for any tfjs optimizer or a wrapping one.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Callback} from '@tensorflow/tfjs-layers';

import {ValueError} from '../errors';
import {Schedule, setLearningRate} from '../optimizers/schedules';

/** Arguments of `learningRateScheduler` / `new LearningRateScheduler`. */
export interface LearningRateSchedulerArgs {
  /** Learning rate as a function of the global step (per-batch mode) or of the epoch. */
  schedule: Schedule;
  /**
   * true (default): the rate is `schedule(globalStep)` before every batch, `globalStep` counting
   * batches across epochs (optax semantics). false: `schedule(epoch)` before every epoch (Keras).
   */
  perBatch?: boolean;
}

/** Batch / epoch logs as tfjs-layers passes them to callbacks. */
type Logs = {[key: string]: number|tf.Scalar};

/** How many steps `optimizer` (or, for a wrapper, its `inner` one) has taken; null if unknown. */
function stepsTaken(optimizer: unknown): number|null {
  const counts: number[] = [];
  for (const o of [optimizer, (optimizer as {inner?: unknown} | null)?.inner]) {
    const n = o != null && typeof o === 'object' ? (o as {iterations?: unknown}).iterations : null;
    if (typeof n === 'number' && Number.isFinite(n)) {
      counts.push(n);
    }
  }
  return counts.length > 0 ? Math.max(...counts) : null;
}

/**
 * A `model.fit` / `model.fitDataset` callback that sets the learning rate of the model's optimizer
 * from a schedule and reports it as `lr` in the batch logs (and the epoch logs, hence in
 * `history.history.lr`, the rate of the epoch's last batch). See `learningRateScheduler`.
 */
export class LearningRateScheduler extends Callback {
  /** The schedule. */
  readonly schedule: Schedule;
  /** Per batch (global step) or per epoch. */
  readonly perBatch: boolean;
  /** The learning rate last set, or null before training. */
  currentLearningRate: number|null;
  /** Global step of the next batch (per-batch mode). */
  private step: number;

  constructor(args: LearningRateSchedulerArgs) {
    super();
    if (args == null || typeof args !== 'object' || typeof args.schedule !== 'function') {
      throw new ValueError(
          `learningRateScheduler: schedule must be a function (step) => learning rate, e.g. ` +
          `fg.optimizers.linearSchedule({...}). Received: ${args == null ? args : typeof args.schedule}.`);
    }
    if (args.perBatch != null && typeof args.perBatch !== 'boolean') {
      throw new ValueError(
          `learningRateScheduler: perBatch must be a boolean. Received: ${String(args.perBatch)}.`);
    }
    this.schedule = args.schedule;
    this.perBatch = args.perBatch ?? true;
    this.currentLearningRate = null;
    this.step = 0;
    // tfjs-layers turns a callbacks array whose FIRST entry is a plain object into CustomCallbacks
    // that call these methods unbound; binding makes that case fail with a clear error below.
    this.onTrainBegin = this.onTrainBegin.bind(this);
    this.onEpochBegin = this.onEpochBegin.bind(this);
    this.onEpochEnd = this.onEpochEnd.bind(this);
    this.onBatchBegin = this.onBatchBegin.bind(this);
    this.onBatchEnd = this.onBatchEnd.bind(this);
  }

  override async onTrainBegin(): Promise<void> {
    if (this.model == null) {
      throw new ValueError(
          'LearningRateScheduler: no model was set. Pass it to model.fit among callbacks that are ' +
          'all callback objects (wrap plain {onBatchEnd: …} objects in new tf.CustomCallback(…)), ' +
          'or first in the list.');
    }
    if (this.model.optimizer == null) {
      throw new ValueError('LearningRateScheduler: the model has no optimizer; compile it first.');
    }
    // Resume: continue the schedule where the optimizer left off.
    const taken = stepsTaken(this.model.optimizer);
    if (taken != null) {
      this.step = taken;
    }
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    if (!this.perBatch) {
      this.apply(epoch);
    }
  }

  override async onBatchBegin(_batch: number, logs?: Logs): Promise<void> {
    if (this.perBatch) {
      this.apply(this.step);
    }
    if (logs != null && this.currentLearningRate != null) {
      logs['lr'] = this.currentLearningRate;  // visible to callbacks listed before this one, too
    }
  }

  override async onBatchEnd(_batch: number, logs?: Logs): Promise<void> {
    if (logs != null && this.currentLearningRate != null) {
      logs['lr'] = this.currentLearningRate;
    }
    if (this.perBatch) {
      this.step++;
    }
  }

  override async onEpochEnd(_epoch: number, logs?: Logs): Promise<void> {
    if (logs != null && this.currentLearningRate != null) {
      logs['lr'] = this.currentLearningRate;
    }
  }

  private apply(step: number): void {
    const lr = this.schedule(step);
    if (typeof lr !== 'number' || !Number.isFinite(lr)) {
      throw new ValueError(
          `LearningRateScheduler: schedule(${step}) must return a finite number. Received: ` +
          `${String(lr)}.`);
    }
    setLearningRate(this.model.optimizer, lr);
    this.currentLearningRate = lr;
  }
}

/**
 * A `model.fit` callback that sets the optimizer's learning rate from `schedule` before every batch
 * (`schedule(globalStep)`, the step counting batches across epochs, as optax does) or, with
 * `perBatch: false`, before every epoch (`schedule(epoch)`, as Keras does). Works with every
 * tfjs optimizer (sgd, momentum, adam, adamax, rmsprop, adagrad, adadelta) and with
 * `ForwardGradientOptimizer` (the rate of its inner optimizer is set). The step starts at the
 * optimizer's `iterations`, so a second `fit` with the same optimizer continues the schedule. The
 * rate used is added to the batch logs as `lr`, and the epoch logs (so `history.history.lr`) get the
 * rate of the epoch's last batch.
 *
 * Pass it with other callback *objects* (`new tf.CustomCallback({...})`, `tf.callbacks.
 * earlyStopping(...)`): tfjs-layers accepts plain `{onBatchEnd}` objects only in a list that holds
 * nothing else.
 *
 * ```js
 * const tf = require('@tensorflow/tfjs');
 * const fg = require('tfjs-forward-gradient');
 *
 * const model = tf.sequential({layers: [tf.layers.dense({inputShape: [4], units: 1})]});
 * model.compile({optimizer: tf.train.momentum(0.1, 0.9), loss: 'meanSquaredError'});
 * const xs = tf.randomNormal([64, 4]), ys = tf.randomNormal([64, 1]);
 * const epochs = 10, stepsPerEpoch = 64 / 16;
 * const schedule = fg.optimizers.warmupCosineDecaySchedule({peakValue: 0.1, warmupSteps: 2 * stepsPerEpoch,
 *                                                         totalSteps: epochs * stepsPerEpoch});
 * model.fit(xs, ys, {
 *   epochs, batchSize: 16, verbose: 0,
 *   callbacks: [fg.callbacks.learningRateScheduler({schedule}),
 *               new tf.CustomCallback({onBatchEnd: (batch, logs) => console.log(batch, logs.lr)})],
 * }).then(history => console.log(history.history.lr));  // the rate at the end of each epoch
 * ```
 */
export function learningRateScheduler(args: LearningRateSchedulerArgs): LearningRateScheduler {
  return new LearningRateScheduler(args);
}
