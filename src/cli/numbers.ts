/**
 * The numeric settings of `tfjs-fg` and their domains, in one table: the command-line parsers, the
 * check of a programmatic `train` configuration and the check of a checkpoint's saved configuration
 * all read it, so a value is accepted or refused the same way everywhere.
 */

/** The domain of a numeric setting: finite always; an integer if `integer`; bounds inclusive unless `...Open`. */
export interface NumberDomain {
  integer?: boolean;
  min?: number;
  max?: number;
  /** The lower bound itself is excluded. */
  minOpen?: boolean;
  /** The upper bound itself is excluded. */
  maxOpen?: boolean;
}

/** Domains of the numeric training settings (keys of `TrainConfig`), and of the run options `stopAfterEpoch` and `threads`. */
export const NUMBER_DOMAINS = {
  epochs: {integer: true, min: 1},
  batch: {integer: true, min: 1},
  lr: {min: 0, minOpen: true},
  warmupEpochs: {min: 0},
  momentum: {min: 0, max: 1, maxOpen: true},
  weightDecay: {min: 0},
  seed: {integer: true},
  limitTrain: {integer: true, min: 0},
  limitTest: {integer: true, min: 0},
  trainEvalSize: {integer: true, min: 1},
  stopAfterEpoch: {integer: true, min: 0},
  threads: {integer: true, min: 1, max: 8},
} as const satisfies Record<string, NumberDomain>;

/** A setting of `NUMBER_DOMAINS`. */
export type NumericSetting = keyof typeof NUMBER_DOMAINS;

/** Whether `v` is in `domain`: finite (a safe integer if an integer is meant) and within the bounds. */
export function inDomain(v: unknown, domain: NumberDomain): boolean {
  if (typeof v !== 'number' || !Number.isFinite(v) || (domain.integer && !Number.isSafeInteger(v))) {
    return false;
  }
  if (domain.min != null && (domain.minOpen ? v <= domain.min : v < domain.min)) {
    return false;
  }
  return !(domain.max != null && (domain.maxOpen ? v >= domain.max : v > domain.max));
}

/** The domain in words, e.g. 'a positive integer', 'a finite number in [0, 1)', 'a finite number > 0'. */
export function describeDomain(domain: NumberDomain): string {
  const kind = domain.integer ? 'an integer' : 'a finite number';
  const {min, max} = domain;
  if (domain.integer && min === 1 && !domain.minOpen && max == null) {
    return 'a positive integer';
  }
  if (min != null && max != null) {
    return `${kind} in ${domain.minOpen ? '(' : '['}${min}, ${max}${domain.maxOpen ? ')' : ']'}`;
  }
  if (min != null) {
    return `${kind} ${domain.minOpen ? '>' : '≥'} ${min}`;
  }
  if (max != null) {
    return `${kind} ${domain.maxOpen ? '<' : '≤'} ${max}`;
  }
  return kind;
}

/**
 * Parses a command-line value as a number of `domain`: integers in decimal digits only (no '1e3',
 * '0x10', '2.5'); others anything `Number()` reads, finite. Returns null when the text is not one.
 */
export function parseNumber(text: string, domain: NumberDomain): number|null {
  if (domain.integer ? !/^\s*[-+]?\d+\s*$/.test(text) : text.trim() === '') {
    return null;
  }
  const n = Number(text);
  return inDomain(n, domain) ? n : null;
}

/** The command-line flag of a setting, e.g. `--weight-decay` for `weightDecay`. */
export function flagOf(setting: string): string {
  return `--${setting.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}`;
}

/** Settings that are options of a run, not of its `TrainConfig`: checked only where present. */
const RUN_OPTIONS: readonly NumericSetting[] = ['stopAfterEpoch', 'threads'];

/**
 * The first numeric setting of `values` outside its domain, as a sentence naming its flag, the
 * value and the domain; null if all are valid. Absent (null / undefined) settings are skipped
 * when `optional` lists them.
 */
export function numberProblem(values: object, optional: readonly string[] = []): string|null {
  for (const [key, domain] of Object.entries(NUMBER_DOMAINS) as Array<[NumericSetting, NumberDomain]>) {
    if (!(key in values) && RUN_OPTIONS.includes(key)) {
      continue;
    }
    const v = (values as Record<string, unknown>)[key];
    if (v == null && optional.includes(key)) {
      continue;
    }
    if (!inDomain(v, domain)) {
      return `${flagOf(key)} is ${typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v)}: ` +
          `expected ${describeDomain(domain)}`;
    }
  }
  return null;
}
