/**
 * tfjs-forward-gradient: forward-mode automatic differentiation for TensorFlow.js, the basis for
 * training tfjs models without backpropagation (forward gradients with local losses, Ren et al.,
 * ICLR 2023).
 */
export * from './autodiff';
export {TracingError, UnsupportedKernelError, ValueError} from './errors';
export {version} from './version';
