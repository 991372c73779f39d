/**
 * Attaches a ForwardGradientOptimizer to the model it trains inside every `model.fit` /
 * `fitDataset`, so that `model.compile({optimizer: fg.optimizers.forwardGradient()})` is enough (as
 * Keras users expect) and `fg.callbacks.forwardGradient()` becomes optional.
 *
 * The mechanism is tfjs-layers' own extension point for this, `tf.registerCallbackConstructor`
 * (tfjs-node's progress bar uses it): tfjs instantiates every registered callback at the start of
 * each fit, before the user's callbacks, and hands it the model that trains. The callback registered
 * here does nothing unless that model's optimizer is a forward-gradient one; otherwise it attaches
 * the optimizer in `onTrainBegin` and detaches it in `onTrainEnd`. The model itself is only patched
 * inside each step (see `ModelAttachment.run`), so a fit that throws leaves no patch behind; the
 * optimizer keeps a reference to the model until the next fit attaches it again or `detach()`.
 *
 * The registration is made once, when the first ForwardGradientOptimizer is created (importing the
 * package registers nothing), with the tfjs-layers copy this package imports.
 */
import * as tfl from '@tensorflow/tfjs-layers';

/** The class name of ForwardGradientOptimizer (also matched across two copies of this package). */
export const FORWARD_GRADIENT_CLASS_NAME = 'fg.ForwardGradientOptimizer';

/** What the callback needs of the optimizer (ForwardGradientOptimizer implements it). */
interface Attachable {
  getClassName(): string;
  attach(model: tfl.LayersModel): void;
  detach(): void;
}

function attachableOf(model: tfl.LayersModel|undefined): Attachable|null {
  const o = (model as unknown as {optimizer?: Partial<Attachable>}|undefined)?.optimizer;
  return o != null && typeof o.attach === 'function' && typeof o.detach === 'function' &&
          typeof o.getClassName === 'function' && o.getClassName() === FORWARD_GRADIENT_CLASS_NAME ?
      o as Attachable : null;
}

/** The callback tfjs creates for every fit: attaches a forward-gradient optimizer to its model. */
export class AutoAttachCallback extends tfl.Callback {
  private attached: Attachable|null = null;

  override async onTrainBegin(): Promise<void> {
    const optimizer = attachableOf(this.model);
    if (optimizer != null) {
      optimizer.attach(this.model);
      this.attached = optimizer;
    }
  }

  override async onTrainEnd(): Promise<void> {
    this.attached?.detach();
    this.attached = null;
  }
}

let registered = false;

/**
 * Registers `AutoAttachCallback` with tfjs-layers (verbosity level 0: every fit, whatever its
 * `verbose`). Idempotent.
 */
export function registerAutoAttach(): void {
  if (!registered) {
    tfl.registerCallbackConstructor(0, AutoAttachCallback);
    registered = true;
  }
}

/** Whether the auto-attach callback is registered (for messages and tests). */
export function isAutoAttachRegistered(): boolean {
  return registered;
}
