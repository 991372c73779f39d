/**
 * The one check of a setting that takes one of a list of names (data set, model preset, training
 * mode, schedule, objective, backend): the same UsageError wording for all of them, whether the
 * value came from the command line, a programmatic `train` call or a checkpoint.
 */
import {UsageError} from './progress';

/**
 * `value` as one of `choices`, or a UsageError `unknown <what> '<value>': use one of <choices>.`
 *
 * ```ts
 * oneOf('cosine', SCHEDULES, 'schedule');  // 'cosine'
 * oneOf('step', SCHEDULES, 'schedule');    // UsageError: unknown schedule 'step': use one of linear, cosine, constant.
 * ```
 */
export function oneOf<T extends string>(value: unknown, choices: readonly T[], what: string): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
    throw new UsageError(`unknown ${what} ${shown}: use one of ${choices.join(', ')}.`);
  }
  return value as T;
}
