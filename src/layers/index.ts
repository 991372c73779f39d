/**
 * tfjs-layers layers of the LocalMixer (Ren et al., ICLR 2023, §3.1): stop-gradient, patchify and
 * parameter-free (group) layer normalization. Each is registered for serialization under an `fg.`
 * class name, so models that use them save and load with `tf.loadLayersModel`.
 */
export {LayerNorm, normalize, LayerNormArgs, layerNorm, LayerNormOptions} from './layer_norm';
export {Patchify, patchify, PatchifyArgs} from './patchify';
export {StopGrad, stopGrad, StopGradArgs} from './stop_grad';
