/**
 * The names the package's loss functions are saved under (see registry.ts, which makes them again
 * from these names).
 */
import type {LossFunction} from './local_cross_entropy';

/** τ of the contrastive loss when none is given (the paper's). */
export const DEFAULT_TEMPERATURE = 0.5;

/** The name a loss function of this package is saved under (tfjs-layers snake-cases it). */
export function lossNameOf(fn: unknown): string|null {
  const name = (fn as {fgLossName?: unknown}|null)?.fgLossName;
  return typeof fn === 'function' && typeof name === 'string' ? name : null;
}

/**
 * Marks `fn` as the loss saved under `name` (what `lossFromName(name)` makes again). `name` must
 * survive tfjs-layers' snake_case → camelCase round trip: letters and digits, camel-cased.
 */
export function nameLoss(fn: LossFunction, name: string): LossFunction {
  Object.defineProperty(fn, 'fgLossName', {value: name});
  return fn;
}

/** The contrastive loss's name: its temperature, when not the default, follows 'Tau'. */
export function contrastiveLossName(temperature: number): string {
  return temperature === DEFAULT_TEMPERATURE ? 'fgContrastive' : `fgContrastiveTau${temperature}`;
}

