/**
 * StopGrad: a layer that is the identity in value and lets no derivative through, in reverse mode
 * (tf.grad, model.fit's backprop) and in forward mode (jvp, the forward-gradient optimizer). The
 * LocalMixer puts one between blocks, so that each block learns from its own local loss only.
 */
import * as tf from '@tensorflow/tfjs-core';
import {serialization, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';

import {stopGradient} from '../autodiff/stop_gradient';
import {StepCapabilities} from '../step/local_step';

/** Arguments of the `StopGrad` layer: only the common layer arguments (`name`, `inputShape`, …). */
export declare interface StopGradArgs extends LayerArgs {
  /**
   * False makes the layer a plain identity (derivatives pass). Training modes switch it (see
   * `fg.models.setTrainingMode`). Defaults to true.
   */
  active?: boolean;
  /** What the stop-gradient separates, for mode switches: e.g. 'block' or 'readout'. Default ''. */
  role?: string;
}

/**
 * Identity in value, zero derivative: upstream weights get an exactly zero gradient from everything
 * downstream, and forward mode sees an exactly zero tangent. Accepts one tensor or a list (each is
 * stopped). Has no weights.
 */
export class StopGrad extends tfl.layers.Layer implements StepCapabilities {
  /** @nocollapse */
  static get className(): string {
    return 'fg.StopGrad';
  }

  /** Mode switch: false lets derivatives pass. */
  active: boolean;
  readonly role: string;

  constructor(args: StopGradArgs = {}) {
    super(args);
    this.active = args.active ?? true;
    this.role = args.role ?? '';
  }

  /** True while no derivative passes (reachability of losses). */
  get stopsDerivatives(): boolean {
    return this.active;
  }

  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape|tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: Tensor|Tensor[], _kwargs: Kwargs): Tensor|Tensor[] {
    const stop = (x: Tensor) => this.active ? stopGradient(x) : x.clone();
    return tf.tidy(() => Array.isArray(inputs) ? inputs.map(stop) : stop(inputs));
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), active: this.active, role: this.role};
  }
}
serialization.registerClass(StopGrad);

/**
 * A stop-gradient layer: passes its input through unchanged, but no gradient (reverse mode) and no
 * tangent (forward mode) flows back through it. Put it between blocks trained by local losses.
 *
 * ```js
 * const x = tf.input({shape: [4]});
 * const h = tf.layers.dense({units: 8}).apply(x);
 * const y = tf.layers.dense({units: 2}).apply(fg.layers.stopGrad().apply(h));
 * // training on a loss of y updates only the second dense layer
 * ```
 */
export function stopGrad(args: StopGradArgs = {}): StopGrad {
  return new StopGrad(args);
}
