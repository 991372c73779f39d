/**
 * Losses of local learning (Ren et al., ICLR 2023, §2): the supervised local cross-entropy over the
 * replicated (patch, group) structure, and the contrastive (InfoNCE) local loss, in closed form.
 */
export {localCrossEntropy, LossFunction, softmaxCrossEntropy} from './local_cross_entropy';
export {contrastive, ContrastiveOptions, infoNce} from './contrastive';
export {lossNameOf} from './loss_name';
export {lossFromName} from './registry';
