/** Forward-mode automatic differentiation for TensorFlow.js. */
import './rules';

export {CustomGradOption, jvp, JvpOptions, JvpResult, isTracing, seedTangent, tangentOf, withTangents, WithTangentsOptions} from './jvp';
export {exactCustomGrad, ExactCustomGradFunc} from './exact_custom_grad';
export {stopGradient} from './stop_gradient';
export {CustomGradMode} from './tracer';
export {FUSED_ACTIVATION_KERNELS, getJvpRule, JvpConfig, JvpContext, JvpRule, KernelInvocationInfo, KernelObserver, listJvpRules, NamedTangentMap, registerJvpRule, Tangent, unregisterJvpRule} from './registry';
export * as jvpHelpers from './helpers';
