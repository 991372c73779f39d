/**
 * The paper's supervised results (Ren et al., ICLR 2023, Table 3; notes/PAPER.md §5): test / train
 * error in %, for the settings the CLI can run: MNIST S/1/1 and M/1/16, CIFAR-10 M/8/16.
 */
import {TRAINING_MODES, TrainingMode} from '../models/training_modes';

/** Test and train error (%) of one cell of Table 3. */
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

/** The paper's epochs for each data set of Table 3 (§4: MNIST 1000, CIFAR-10 200). */
export const PAPER_EPOCHS: {readonly [data: string]: number} = {'mnist': 1000, 'cifar10': 200};

/** The paper's test / train error of `mode` on `data` with `preset`, or null if Table 3 has none. */
export function paperResult(data: string, preset: string, mode: string): PaperResult|null {
  const column = PAPER_TABLE3[`${data}:${preset}`];
  if (column == null || !(TRAINING_MODES as readonly string[]).includes(mode)) {
    return null;
  }
  return column[mode as TrainingMode];
}
