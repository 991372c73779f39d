/**
 * tfjs-forward-gradient: train TensorFlow.js models without backpropagation, by forward gradients
 * (Ren, Kornblith, Liao & Hinton, ICLR 2023), on forward-mode automatic differentiation for tfjs.
 */
import * as callbacks from './callbacks';
import * as layers from './layers';
import * as optimizers from './optimizers';

export * from './autodiff';
export {TracingError, UnsupportedKernelError, ValueError} from './errors';
export {version} from './version';
export {callbacks, layers, optimizers};
