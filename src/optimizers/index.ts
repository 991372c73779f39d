/** Forward-gradient optimizers. */
export {forwardGradient, ForwardGradientOptimizer, ForwardGradientOptimizerArgs, ForwardGradientStats, Perturbation} from './forward_gradient_optimizer';
export {NoiseKind} from './noise';
