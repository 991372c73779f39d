/**
 * tfjs-layers layers of the LocalMixer (Ren et al., ICLR 2023, §3.1): stop-gradient, patchify,
 * parameter-free (group) layer normalization, grouped linear, the mixer block and its heads. Each
 * is registered for serialization under an `fg.` class name, so models that use them save and load
 * with `tf.loadLayersModel`.
 */
export {GroupLinear, groupLinear, GroupLinearArgs} from './group_linear';
export {LayerNorm, normalize, LayerNormArgs, layerNorm, LayerNormOptions} from './layer_norm';
export {ClassifierHead, classifierHead, ContrastiveHead, contrastiveHead, ContrastiveHeadArgs, HeadArgs, LocalLossHead, localLossHead, LocalLossHeadArgs} from './local_loss_head';
export {Feedback, LocalMixerBlock, localMixerBlock, LocalMixerBlockArgs} from './local_mixer_block';
export {ActivityLayout, LocalHeadInfo, LocalLearner, StepCapabilities, WeightLayout} from '../step/local_step';
export {Patchify, patchify, PatchifyArgs} from './patchify';
export {StopGrad, stopGrad, StopGradArgs} from './stop_grad';
export {FirstView, firstView, ViewsArgs, ViewsToBatch, viewsToBatch} from './views';
