/**
 * The callback that wires a model to its ForwardGradientOptimizer inside `model.fit` /
 * `fitDataset`, and reports the optimizer's statistics in the logs.
 */
import * as tfl from '@tensorflow/tfjs-layers';

import {ValueError} from '../errors';
import {ForwardGradientOptimizer} from '../optimizers/forward_gradient_optimizer';

/** Options of `fg.callbacks.forwardGradient`. */
export interface ForwardGradientCallbackArgs {
  /**
   * Add the step's statistics to the batch logs: `fg_dd` (directional derivative of the batch
   * loss) and `fg_skipped` (steps skipped so far for a non-finite estimate). Reading them waits for
   * the step to finish on GPU backends, like the loss in the logs does. Defaults to true.
   */
  logStats?: boolean;
}

/**
 * Reports a forward-gradient optimizer's statistics in the batch logs, and connects a model
 * compiled with `fg.optimizers.forwardGradient(...)` to its optimizer while it trains (finds the
 * perturbation sites and the per-example losses that activity perturbation credits). `fit` and
 * `fitDataset` attach the optimizer by themselves (see `optimizers/auto_attach.ts`), so this
 * callback is optional: it re-attaches (the same attachment) and adds `fg_dd` / `fg_skipped` to
 * the logs. It is harmless next to plain-object callbacks: when tfjs wraps it as one (a plain
 * object first in the list), it gets no model and does nothing. The model itself is patched only
 * inside each step, so a fit that fails — when tfjs never calls `onTrainEnd` — leaves nothing behind.
 */
export class ForwardGradientCallback extends tfl.Callback {
  private readonly logStats: boolean;
  private optimizer: ForwardGradientOptimizer|null = null;

  constructor(args: ForwardGradientCallbackArgs = {}) {
    super();
    this.logStats = args.logStats ?? true;
  }

  override async onTrainBegin(): Promise<void> {
    // `this` is a tf.CustomCallback without a model when tfjs wrapped this callback as a plain
    // object (a plain object came first in the list): the fit attaches the optimizer by itself.
    if (this.model == null) {
      return;
    }
    const optimizer = this.model.optimizer;
    if (!(optimizer instanceof ForwardGradientOptimizer)) {
      throw new ValueError(
          'fg.callbacks.forwardGradient(): the model must be compiled with ' +
          `fg.optimizers.forwardGradient(...); its optimizer is ${optimizer?.getClassName?.() ?? optimizer}.`);
    }
    this.optimizer = optimizer;
    optimizer.attach(this.model);
  }

  override async onBatchEnd(_batch: number, logs?: tfl.Logs): Promise<void> {
    if (this.logStats !== true || this.optimizer == null || logs == null) {
      return;
    }
    const {directionalDerivative, skippedSteps} = this.optimizer.stats;
    logs.fg_dd = (await directionalDerivative.data())[0];
    logs.fg_skipped = (await skippedSteps.data())[0];
  }

  override async onTrainEnd(): Promise<void> {
    if (this.optimizer != null) {
      this.optimizer.detach();
      this.optimizer = null;
    }
  }
}

/**
 * An optional callback for `model.fit` with a forward-gradient optimizer: adds the step's
 * statistics (`fg_dd`, `fg_skipped`) to the batch logs. (The fit attaches the optimizer to the
 * model without it.)
 *
 * ```js
 * await model.fit(xs, ys, {epochs: 5, callbacks: [fg.callbacks.forwardGradient()]});
 * ```
 */
export function forwardGradient(args: ForwardGradientCallbackArgs = {}): ForwardGradientCallback {
  return new ForwardGradientCallback(args);
}
