/** Forward-gradient optimizers and learning-rate schedules. */
export {forwardGradient, ForwardGradientOptimizer, ForwardGradientOptimizerArgs, ForwardGradientStats, Perturbation} from './forward_gradient_optimizer';
export {NoiseKind} from './noise';
export {constant as constantSchedule, linearDecay, LinearDecayArgs, Schedule, setLearningRate, warmupCosineDecay, WarmupCosineDecayArgs, WrappingOptimizer} from './schedules';
