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
 * Connects a model compiled with `fg.optimizers.forwardGradient(...)` to its optimizer while it
 * trains: finds the perturbation sites (the weight layers) and the per-example losses that activity
 * perturbation credits. The model itself is patched only inside each step (and restored when the
 * step ends or throws), so a fit that fails — when tfjs never calls `onTrainEnd` — leaves nothing
 * behind. Noise is drawn fresh every batch by the optimizer (from its seed and step).
 */
export class ForwardGradientCallback extends tfl.Callback {
  private readonly logStats: boolean;
  private optimizer: ForwardGradientOptimizer|null = null;

  constructor(args: ForwardGradientCallbackArgs = {}) {
    super();
    this.logStats = args.logStats ?? true;
  }

  override async onTrainBegin(): Promise<void> {
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
    if (!this.logStats || this.optimizer == null || logs == null) {
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
 * The callback every `model.fit` with a forward-gradient optimizer should get.
 *
 * ```js
 * await model.fit(xs, ys, {epochs: 5, callbacks: [fg.callbacks.forwardGradient()]});
 * ```
 */
export function forwardGradient(args: ForwardGradientCallbackArgs = {}): ForwardGradientCallback {
  return new ForwardGradientCallback(args);
}
