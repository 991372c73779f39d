/** Forward-gradient optimizers and learning-rate schedules. */
export {DEFAULT_KEEP_NOISE_BYTES, forwardGradient, ForwardGradientOptimizer, ForwardGradientOptimizerArgs, ForwardGradientStats, Perturbation} from './forward_gradient_optimizer';
export {NoiseKind} from './noise';
export {constantSchedule, linearSchedule, LinearScheduleArgs, linearWarmupSchedule, LinearWarmupScheduleArgs, Schedule, setLearningRate, warmupCosineDecaySchedule, WarmupCosineDecayScheduleArgs, WrappingOptimizer} from './schedules';
