/// <reference types="node" />
/**
 * `tfjs-fg reproduce`: trains every (model, mode) pair of a Table 3 column set (Table 4 with the
 * contrastive objective) and writes a Markdown table of our test / train error beside the paper's,
 * rows in the table's order. A failed run does
 * not stop the others: its cell holds the error. The table is rewritten after every run.
 */
import * as fs from 'fs';
import * as path from 'path';

import {ValueError} from '../errors';
import {LocalMixerPreset} from '../models/local_mixer';
import {TRAINING_MODES, TrainingMode} from '../models/training_modes';
import {paperEpochs, paperResult, paperTable} from './paper_results';
import {CHECKPOINT_DIR, CHECKPOINT_STATE} from './checkpoint';
import {formatSeconds, Io, UsageError} from './progress';
import {makeFolders} from './run_folder';
import {checkMode, checkPreset, checkTrainNumbers, RUN_FILES, train, TrainConfig, TrainSummary} from './train';

/** Options of `reproduce`: the shared training settings, the models and modes, and the outputs. */
export interface ReproduceOptions extends Omit<TrainConfig, 'model'|'mode'> {
  models: LocalMixerPreset[];
  modes: TrainingMode[];
  /** The Markdown file. */
  out: string;
  /** Folder of the runs (one sub-folder per model and mode). */
  runsDir: string;
  quiet: boolean;
  verbose: boolean;
  /** Reuse the finished runs (same epochs) found in `runsDir` and resume the interrupted ones. */
  resumeGrid?: boolean;
  /**
   * Train nothing: write the table from the finished runs in `runsDir` (a grid still running in
   * another process, or carried across sessions); the others are left blank.
   */
  reportOnly?: boolean;
  /** How the table names the data set, e.g. "CIFAR-10 (JPEG copy)"; default: the data set's name. */
  dataLabel?: string|null;
  /**
   * A Markdown file appended below the table: the reading of the results, kept beside the runs so
   * that regenerating the report (`--resume`, `--report-only`) keeps it. Null: none.
   */
  notes?: string|null;
}

/**
 * Training settings a reused or resumed run of the grid must share with it (`epochs` may differ: a
 * shorter run is resumed and its schedule recomputed; backend, threads and data folder may differ).
 */
const GRID_SETTINGS = ['data', 'model', 'mode', 'objective', 'batch', 'lr', 'schedule', 'warmupEpochs', 'momentum',
                       'weightDecay', 'seed', 'limitTrain', 'limitTest', 'trainEvalSize', 'areaLowerBound'] as const;

/** The settings where a saved run's configuration differs from the grid's, e.g. "lr 0.02 (grid: 0.01)". */
export function settingsMismatch(saved: Partial<TrainConfig>, wanted: TrainConfig): string[] {
  const norm = (key: string, v: unknown) => key === 'objective' ? (v ?? 'supervised') : (v ?? null);
  return GRID_SETTINGS.filter(k => norm(k, saved[k]) !== norm(k, wanted[k]))
      .map(k => `${k} ${JSON.stringify(norm(k, saved[k]))} (grid: ${JSON.stringify(norm(k, wanted[k]))})`);
}

/** The configuration saved in a run folder (its summary, else its checkpoint), or null if none. */
function savedConfig(runDir: string): Partial<TrainConfig>|null {
  for (const file of [path.join(runDir, RUN_FILES.summary), path.join(runDir, CHECKPOINT_DIR, CHECKPOINT_STATE)]) {
    try {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {config?: Partial<TrainConfig>};
      if (saved.config != null) {
        return saved.config;
      }
    } catch {
      // absent or unreadable: try the next (train itself reports a corrupt checkpoint)
    }
  }
  return null;
}

/** Why the run saved in `runDir` is not this grid's (model, mode) run, or null if it is or none is saved. */
function otherSettings(runDir: string, opts: ReproduceOptions, model: LocalMixerPreset, mode: TrainingMode): string|null {
  const saved = savedConfig(runDir);
  const differs = saved == null ? [] : settingsMismatch(saved, {...opts, model, mode});
  return differs.length === 0 ? null : `${runDir} holds a run with other settings: ${differs.join(', ')}`;
}

/** A finished run of `epochs` epochs in `runDir`, or null. */
function finishedRun(runDir: string, epochs: number): TrainSummary|null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.summary), 'utf8')) as TrainSummary;
    return s.finished && s.epochs === epochs && s.failure == null ? s : null;
  } catch {
    return null;
  }
}

/** The folder of one run of the grid: `<data>[-contrastive]-<preset>-<mode>` in `runsDir`. */
export function gridRunDir(runsDir: string, data: string, objective: string|null|undefined, model: string,
                           mode: string): string {
  const kind = objective === 'contrastive' ? '-contrastive' : '';
  return path.join(runsDir, `${data}${kind}-${model.replace(/\//g, '_')}-${mode}`);
}

/** Outcome of one run: its summary, or the error that stopped it. */
export interface RunOutcome {
  model: LocalMixerPreset;
  mode: TrainingMode;
  summary: TrainSummary|null;
  error: string|null;
  seconds: number;
}

/** Parses --models (comma-separated presets). */
export function parseModels(list: string): LocalMixerPreset[] {
  const models = list.split(',').map(s => s.trim()).filter(Boolean);
  if (models.length === 0) {
    throw new UsageError('--models: give at least one preset, e.g. S/1/1,M/1/16.');
  }
  return models.map(checkPreset);
}

/** Parses --modes ('all' or comma-separated modes), returned in Table 3's order. */
export function parseModes(list: string): TrainingMode[] {
  if (list.trim() === 'all') {
    return [...TRAINING_MODES];
  }
  const modes = list.split(',').map(s => s.trim()).filter(Boolean).map(checkMode);
  if (modes.length === 0) {
    throw new UsageError(`--modes: give 'all' or a comma-separated list of ${TRAINING_MODES.join(', ')}.`);
  }
  return TRAINING_MODES.filter(m => modes.includes(m));
}

const pct = (v: number) => Number.isFinite(v) ? v.toFixed(2) : String(v);

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The text of the `--notes` file, or null when none is given; a UsageError naming it when unreadable. */
function readNotes(file: string|null|undefined): string|null {
  if (file == null) {
    return null;
  }
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--notes: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
}

/**
 * The backends of the finished runs: the one they share, or each with its runs (model and mode, or
 * mode alone for a one-model grid) where they differ, e.g. after a grid resumed with other
 * `--threads`; null when no run has finished.
 */
function backendsOf(outcomes: RunOutcome[], withModel: boolean): string|null {
  const runs = new Map<string, string[]>();
  for (const o of outcomes) {
    if (o.summary != null) {
      runs.set(o.summary.backend, [...runs.get(o.summary.backend) ?? [], withModel ? `${o.model} ${o.mode}` : o.mode]);
    }
  }
  if (runs.size <= 1) {
    return runs.keys().next().value ?? null;
  }
  return [...runs].map(([backend, names]) => `${backend} (${names.join(', ')})`).join('; ');
}

/**
 * The Markdown report of (possibly unfinished) reproduction runs; `notes` (Markdown) follows the
 * table.
 */
export function resultsMarkdown(opts: ReproduceOptions, outcomes: RunOutcome[], started: Date, complete: boolean,
                                notes: string|null = null): string {
  const first = outcomes.find(o => o.summary != null)?.summary ?? null;
  const objective = opts.objective ?? 'supervised';
  const contrastive = objective === 'contrastive';
  const table = paperTable(objective);
  const epochsOfPaper = paperEpochs(opts.data, objective);
  const dataName = opts.dataLabel ?? opts.data;
  const lines: string[] = [];
  lines.push(`# Table ${table} reproduction: ${dataName}${contrastive ? ' contrastive' : ''}, ${opts.models.join(', ')}`);
  lines.push('');
  lines.push(`Generated by \`tfjs-fg reproduce\`${complete ? '' : ' (in progress: rows fill in as runs finish)'}. ` +
             `Errors in %, "test / train"; the paper's numbers are its Table ${table} (single runs)` +
             (contrastive ? ', errors of the linear readout trained on the frozen features.' : '.'));
  lines.push('');
  lines.push(`- data: ${dataName}` + (first ? ` (train ${first.trainExamples}, test ${first.testExamples} examples)` : '') +
             (opts.limitTrain != null || opts.limitTest != null ?
                  ` — limited: --limit-train ${opts.limitTrain ?? 'none'}, --limit-test ${opts.limitTest ?? 'none'}` : ''));
  lines.push(`- objective: ${objective}` + (contrastive ?
      ` (two BYOL views per image, crop area ≥ ${opts.areaLowerBound ?? 'the paper\'s for the model'}; the linear readout ` +
      'trained after each epoch on the un-augmented images, as the paper\'s code does)' : ''));
  lines.push(`- epochs: ${opts.epochs}` + (epochsOfPaper ? ` (paper: ${epochsOfPaper}; the learning-rate schedule runs its course over these ${opts.epochs})` : '') +
             `; batch ${opts.batch}; lr ${opts.lr}; schedule ${opts.schedule}` +
             (opts.warmupEpochs ? ` with ${opts.warmupEpochs} warmup epoch(s)` : '') +
             `; SGD momentum ${opts.momentum}; weight decay ${opts.weightDecay}`);
  lines.push(`- backend: ${backendsOf(outcomes, opts.models.length > 1) ?? opts.backend}; seed ${opts.seed}; ` +
             `this table's command started ${started.toISOString()}`);
  lines.push(`- train error: on the first ${first ? first.trainEvalExamples : 'N (= test size)'} training examples ` +
             '(fixed subset, unshuffled, evaluated after the last epoch); test error: the whole test split' +
             (opts.limitTest != null ? ' (as limited)' : '') + '.');
  lines.push(`- runs: ${opts.runsDir} (one folder per model and mode: log.jsonl, curves.svg, summary.json, and the checkpoint where it was kept)`);
  const total = outcomes.reduce((a, o) => a + o.seconds, 0);
  lines.push(`- time: ${formatSeconds(total)} for ${outcomes.length} run(s) (each epoch with its evaluation of the test and ` +
             'train-error sets; all sessions of a resumed run); per run in the "time" columns, with a link to its curves');
  lines.push('');
  const head = ['mode'];
  for (const m of opts.models) {
    head.push(`${m} ours test / train`, `${m} paper test / train`, `${m} time`);
  }
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|${head.map((_, i) => i === 0 ? '---' : '---:').join('|')}|`);
  for (const mode of opts.modes) {
    const row: string[] = [mode];
    for (const model of opts.models) {
      const o = outcomes.find(x => x.model === model && x.mode === mode);
      const paper = paperResult(opts.data, model, mode, objective);
      let ours = '';
      if (o == null) {
        ours = complete ? 'not run' : '…';
      } else if (o.error != null) {
        ours = `error: ${o.error}`;
      } else if (o.summary != null) {
        ours = `${pct(o.summary.testError)} / ${pct(o.summary.trainError)}` + (o.summary.finished ? '' : ' (unfinished)');
      }
      row.push(cell(ours), paper ? `${pct(paper.test)} / ${pct(paper.train)}` : '—', o ? timeCell(opts, o) : '');
    }
    lines.push(`| ${row.join(' | ')} |`);
  }
  lines.push('');
  if (notes != null && notes.trim() !== '') {
    lines.push(notes.trim(), '');
  }
  return lines.join('\n');
}

/** A run's time, linked to its curves (relative to the table's folder) when it has them. */
function timeCell(opts: ReproduceOptions, o: RunOutcome): string {
  const time = formatSeconds(o.seconds);
  const curves = path.join(gridRunDir(opts.runsDir, opts.data, opts.objective, o.model, o.mode), RUN_FILES.curves);
  if (o.summary == null || !fs.existsSync(curves)) {
    return time;
  }
  const link = path.relative(path.dirname(path.resolve(opts.out)), path.resolve(curves)).split(path.sep).join('/');
  return `[${time}](${link})`;
}

/** Runs every (model, mode) and writes the table; returns the outcomes. */
export async function reproduce(opts: ReproduceOptions, io: Io): Promise<RunOutcome[]> {
  const started = new Date();
  const outcomes: RunOutcome[] = [];
  opts.models.forEach(checkPreset);
  opts.modes.forEach(checkMode);
  checkTrainNumbers({...opts, model: opts.models[0], mode: opts.modes[0]});
  const notes = readNotes(opts.notes);
  // Fail fast where the table cannot be written (no recursive mkdir: it never returns under /proc).
  makeFolders(path.dirname(path.resolve(opts.out)), 'the folder of the table', '--out');
  const write = (complete: boolean) => {
    fs.writeFileSync(opts.out, resultsMarkdown(opts, outcomes, started, complete, notes));
  };
  write(false);
  const total = opts.models.length * opts.modes.length;
  for (const model of opts.models) {
    for (const mode of opts.modes) {
      const runDir = gridRunDir(opts.runsDir, opts.data, opts.objective, model, mode);
      const t0 = Date.now();
      const outcome: RunOutcome = {model, mode, summary: null, error: null, seconds: 0};
      let reusedSeconds: number|null = null;  // a finished run found in runsDir (--resume)
      if (opts.reportOnly === true) {
        const other = otherSettings(runDir, opts, model, mode);
        const done = finishedRun(runDir, opts.epochs);
        if (other != null || done != null) {
          outcomes.push({model, mode, summary: other != null ? null : done, seconds: done?.seconds ?? 0, error: other});
        }
        continue;
      }
      if (!opts.quiet) {
        io.out(`[${outcomes.length + 1}/${total}] ${model} ${mode} → ${runDir}`);
      }
      try {
        const other = opts.resumeGrid ? otherSettings(runDir, opts, model, mode) : null;
        if (other != null) {
          throw new UsageError(`${other}; choose another --runs-dir, or give the settings it was run with`);
        }
        const done = opts.resumeGrid ? finishedRun(runDir, opts.epochs) : null;
        if (done != null) {
          outcome.summary = done;
          reusedSeconds = done.seconds;
        } else {
          const interrupted = opts.resumeGrid === true && fs.existsSync(path.join(runDir, CHECKPOINT_DIR));
          fs.rmSync(path.join(runDir, RUN_FILES.summary), {force: true});
          outcome.summary = await train({
            ...opts, model, mode, out: runDir, resume: interrupted, stopAfterEpoch: null,
          }, io);
        }
      } catch (e) {
        if (e instanceof UsageError && String(e.message).includes('already holds a run')) {
          outcome.error = `${runDir} already holds a run (choose another --runs-dir)`;
        } else {
          outcome.error = (e as Error)?.message ?? String(e);
        }
        if (opts.verbose && !(e instanceof ValueError || e instanceof UsageError)) {
          io.err(String((e as Error)?.stack ?? e));
        }
      }
      // the run's own training time (all its sessions, when resumed), or the attempt's wall time
      outcome.seconds = reusedSeconds ?? outcome.summary?.seconds ?? (Date.now() - t0) / 1000;
      outcomes.push(outcome);
      if (!opts.quiet) {
        io.out(outcome.summary != null ?
                   `    test ${pct(outcome.summary.testError)}% / train ${pct(outcome.summary.trainError)}% in ${formatSeconds(outcome.seconds)}` :
                   `    failed: ${outcome.error}`);
      }
      write(false);
    }
  }
  write(opts.reportOnly !== true || outcomes.length === total);
  if (!opts.quiet) {
    io.out(opts.reportOnly === true ? `wrote ${opts.out} (${outcomes.length} of ${total} runs finished)` : `wrote ${opts.out}`);
  }
  return outcomes;
}
