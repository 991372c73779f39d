/**
 * Losses of local learning (Ren et al., ICLR 2023, §2): the supervised local cross-entropy over the
 * replicated (patch, group) structure, in closed form.
 */
export {localCrossEntropy, localLossTangents, LossFunction, softmaxCrossEntropy} from './local_cross_entropy';
