/**
 * The paper's results (Ren et al., ICLR 2023; notes/PAPER.md §5): test / train error in %, for the
 * settings the CLI can run. Table 3 (supervised): MNIST S/1/1 and M/1/16, CIFAR-10 M/8/16; Table 4
 * (contrastive pretraining, errors of the linear readout): CIFAR-10 M/8/16.
 */
import {TRAINING_MODES, TrainingMode} from '../models/training_modes';

/** Test and train error (%) of one cell of Table 3 or 4. */
export interface PaperResult {
  test: number;
  train: number;
}

type Column = {[mode in TrainingMode]: PaperResult};

const r = (test: number, train: number): PaperResult => ({test, train});

/** Table 3 columns by `<data set>:<preset>`. */
export const PAPER_TABLE3: {readonly [column: string]: Column} = {
  'mnist:S/1/1': {
    'BP': r(2.66, 0.00), 'L-BP': r(2.38, 0.00), 'LG-BP': r(2.43, 0.00),
    'FA': r(2.82, 0.00), 'L-FA': r(3.21, 0.00), 'LG-FA': r(3.11, 0.00), 'DFA': r(3.31, 0.00),
    'FG-W': r(9.25, 8.93), 'FG-A': r(3.24, 1.53), 'LG-FG-W': r(9.25, 8.93), 'LG-FG-A': r(3.24, 1.53),
  },
  'mnist:M/1/16': {
    'BP': r(2.41, 0.00), 'L-BP': r(2.16, 0.00), 'LG-BP': r(2.81, 0.00),
    'FA': r(2.90, 0.00), 'L-FA': r(2.90, 0.00), 'LG-FA': r(2.50, 0.00), 'DFA': r(3.17, 0.00),
    'FG-W': r(8.56, 8.64), 'FG-A': r(3.76, 1.75), 'LG-FG-W': r(5.66, 4.59), 'LG-FG-A': r(2.55, 0.00),
  },
  'cifar10:M/8/16': {
    'BP': r(33.62, 0.00), 'L-BP': r(30.75, 0.00), 'LG-BP': r(33.84, 0.05),
    'FA': r(39.94, 28.44), 'L-FA': r(39.74, 28.98), 'LG-FA': r(39.73, 32.32), 'DFA': r(38.80, 33.69),
    'FG-W': r(55.95, 54.28), 'FG-A': r(59.72, 41.29), 'LG-FG-W': r(52.70, 51.71), 'LG-FG-A': r(30.68, 19.39),
  },
};

/** Table 4 columns (contrastive pretraining, linear readout) by `<data set>:<preset>`. */
export const PAPER_TABLE4: {readonly [column: string]: Column} = {
  'cifar10:M/8/16': {
    'BP': r(24.11, 21.08), 'L-BP': r(24.69, 21.80), 'LG-BP': r(29.63, 25.60),
    'FA': r(45.87, 44.06), 'L-FA': r(37.73, 36.13), 'LG-FA': r(36.72, 34.06), 'DFA': r(46.09, 42.76),
    'FG-W': r(53.37, 51.56), 'FG-A': r(54.59, 52.96), 'LG-FG-W': r(52.66, 50.23), 'LG-FG-A': r(32.88, 29.73),
  },
};

/** The paper's epochs for each data set of Table 3 (§4: MNIST 1000, CIFAR-10 200). */
export const PAPER_EPOCHS: {readonly [data: string]: number} = {'mnist': 1000, 'cifar10': 200};

/** The paper's epochs of contrastive pretraining for each data set of Table 4 (§4: CIFAR-10 1000). */
export const PAPER_CONTRASTIVE_EPOCHS: {readonly [data: string]: number} = {'cifar10': 1000};

/** The paper's table for an objective: 3 (supervised) or 4 (contrastive). */
export function paperTable(objective: 'supervised'|'contrastive'): 3|4 {
  return objective === 'contrastive' ? 4 : 3;
}

/** The paper's epochs for `data` and `objective`, or undefined when its tables have no such column. */
export function paperEpochs(data: string, objective: 'supervised'|'contrastive' = 'supervised'): number|undefined {
  return (objective === 'contrastive' ? PAPER_CONTRASTIVE_EPOCHS : PAPER_EPOCHS)[data];
}

/**
 * The paper's test / train error of `mode` on `data` with `preset` for `objective` (Table 3 or 4), or
 * null if that table has none.
 */
export function paperResult(data: string, preset: string, mode: string,
                            objective: 'supervised'|'contrastive' = 'supervised'): PaperResult|null {
  const column = (objective === 'contrastive' ? PAPER_TABLE4 : PAPER_TABLE3)[`${data}:${preset}`];
  if (column == null || !(TRAINING_MODES as readonly string[]).includes(mode)) {
    return null;
  }
  return column[mode as TrainingMode];
}
