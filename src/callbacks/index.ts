/** Callbacks for `model.fit` with forward-gradient optimizers. */
export {forwardGradient, ForwardGradientCallback, ForwardGradientCallbackArgs} from './forward_gradient_callback';
export {LearningRateScheduler, learningRateScheduler, LearningRateSchedulerArgs} from './learning_rate_scheduler';
export {gradientQuality, GradientQualityArgs, GradientQualityCallback, GradientQualityRecord, GradientQualityStats} from './gradient_quality';
