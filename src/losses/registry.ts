/**
 * The package's losses by name, so that a model compiled with them can be saved with its training
 * configuration (tfjs-layers stores a model's losses as names only) and compiled again from it:
 * every loss function this package makes carries its name, and `lossFromName` makes it again.
 *
 * tfjs-layers resolves loss names from its own closed table, so a plain `tf.LayersModel` cannot
 * compile from these names; the LocalMixer model class (`fg.models.localMixer`) does (its `compile`
 * resolves them), which is what makes `tf.loadLayersModel` → `fit` work.
 */
import {ValueError} from '../errors';
import {contrastive} from './contrastive';
import {localCrossEntropy, LossFunction} from './local_cross_entropy';

/** The name tfjs-layers saves (snake_case) and loads (camelCase) compared without case and `_`. */
function canonical(name: string): string {
  return name.replace(/_/g, '').toLowerCase();
}

/**
 * The loss function of this package saved under `name` (as `lossNameOf` gives it, or as
 * tfjs-layers wrote it), or null if the name is none of this package's.
 */
export function lossFromName(name: string): LossFunction|null {
  const c = canonical(name);
  if (c === canonical('fgLocalCrossEntropy')) {
    return localCrossEntropy();
  }
  const prefix = canonical('fgContrastive');
  if (c === prefix) {
    return contrastive();
  }
  const tau = canonical('fgContrastiveTau');
  if (c.startsWith(tau)) {
    const temperature = Number(c.slice(tau.length));
    if (!(temperature > 0)) {
      throw new ValueError(`The saved loss name '${name}' has no valid temperature.`);
    }
    return contrastive({temperature});
  }
  return null;
}
