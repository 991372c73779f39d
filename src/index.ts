/**
 * tfjs-forward-gradient: train TensorFlow.js models without backpropagation, by forward gradients
 * (Ren, Kornblith, Liao & Hinton, ICLR 2023), on forward-mode automatic differentiation for tfjs.
 */
import * as backends from './backends';
import * as callbacks from './callbacks';
import {warnOnTfjsCopies} from './compat';
import * as data from './data';
import * as io from './io';
import * as layers from './layers';
import * as losses from './losses';
import * as models from './models';
import * as optimizers from './optimizers';

export * from './autodiff';
export {TracingError, UnsupportedKernelError, ValueError} from './errors';
export {version} from './version';
export {ForwardGradientOptimizer} from './optimizers/forward_gradient_optimizer';
export {backends, callbacks, data, io, layers, losses, models, optimizers};

// Two copies of tfjs (e.g. a nested one npm installed for an unmet peer range) break model.fit in
// obscure ways: say so once, naming both versions.
warnOnTfjsCopies();
