/// <reference types="node" />
/**
 * `tfjs-fg train`: trains a LocalMixer (paper Table 2 presets) on MNIST, Fashion-MNIST or CIFAR-10
 * in one of the paper's eleven training modes, one `model.fit` epoch at a time (the order of the
 * examples drawn here from a seeded RNG whose state is checkpointed, so `--resume` continues
 * exactly), evaluating test and train error after every epoch, logging to `log.jsonl`, saving a
 * checkpoint, and at the end writing `curves.svg` and `summary.json`.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor2D, Tensor4D} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as seedrandom from 'seedrandom';

import {wasmThreadsCount} from '../backends/wasm/threads';
import {LearningRateScheduler} from '../callbacks/learning_rate_scheduler';
import {forwardGradient} from '../callbacks/forward_gradient_callback';
import {randomFlip} from '../data/augment';
import {loadDataset} from '../data/files';
import {normalizationOf, toTensors} from '../data/normalize';
import {permutation} from '../data/random';
import {DatasetName, gatherSplit, ImageSplit, sliceSplit} from '../data/split';
import {ValueError} from '../errors';
import {evaluate} from '../models/evaluate';
import {LocalMixerPreset, localMixer} from '../models/local_mixer';
import {trainReadout} from '../models/readout';
import {compileLocalMixer, localMixerTargets, TRAINING_MODES, TrainingMode} from '../models/training_modes';
import {ForwardGradientOptimizer} from '../optimizers/forward_gradient_optimizer';
import {constantSchedule, linearSchedule, linearWarmupSchedule, Schedule, warmupCosineDecaySchedule} from '../optimizers/schedules';
import {checkBackend, CliBackend, explainBackendFailure, setUpBackend} from './backend';
import {contrastiveEpochDataset, EpochViews, readoutInputs} from './contrastive_data';
import {CheckpointData, CHECKPOINT_DIR, CHECKPOINT_STATE, damagedCheckpoint, decodeCheckpoint, hasCheckpoint, readCheckpoint, saveCheckpoint} from './checkpoint';
import {numberProblem} from './numbers';
import {oneOf} from './one_of';
import {paperEpochs, paperResult, paperTable} from './paper_results';
import {curvesSvg, Reference} from './plot';
import {EpochProgress, formatSeconds, Io, RunningMetrics, UsageError} from './progress';
import {lockRunFolder, makeFolders, removeEmptyFolders} from './run_folder';
import {stallMessage, STALL_MINUTES, startStallWatchdog, stopStallWatchdog, trainingProgress} from './stall_watchdog';
import {epochScalars, EventFileWriter} from './tensorboard';

/** The data sets of the CLI. */
export const CLI_DATASETS: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10'];
/** The LocalMixer presets the CLI trains (L/32/64 needs ImageNet, which the CLI does not load). */
export const CLI_PRESETS: readonly LocalMixerPreset[] = ['S/1/1', 'M/1/16', 'M/8/16', 'L/8/64'];
/** Learning-rate schedules (optax semantics over epochs · steps per epoch). */
export const SCHEDULES = ['linear', 'cosine', 'constant'] as const;
export type ScheduleName = typeof SCHEDULES[number];

/** Everything that determines a training run (saved in its checkpoint). */
export interface TrainConfig {
  data: DatasetName;
  /** Folder of the data files; null: the loader's default. */
  dataDir: string|null;
  model: LocalMixerPreset;
  mode: TrainingMode;
  epochs: number;
  batch: number;
  lr: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  momentum: number;
  weightDecay: number;
  backend: CliBackend;
  seed: number;
  /** Keep the first N training / test examples (null: all). */
  limitTrain: number|null;
  limitTest: number|null;
  /** Train error is measured on the first N training examples; null: as many as the test set has. */
  trainEvalSize: number|null;
  /**
   * 'supervised' (default; also when absent, as in runs saved before it existed) or 'contrastive':
   * the paper's SimCLR-style pretraining on two BYOL views with shared noise, the linear readout
   * trained after each epoch (`trainReadout`).
   */
  objective?: Objective|null;
  /** Contrastive: lower bound of the crop area of the BYOL views; null: the paper's for the model. */
  areaLowerBound?: number|null;
}

/** The training objectives of the CLI. */
export const OBJECTIVES = ['supervised', 'contrastive'] as const;
/** One of `OBJECTIVES`. */
export type Objective = typeof OBJECTIVES[number];

/** The paper's crop-area lower bound of the BYOL views (Appendix 11): 0.5 for M/8, 0.3 for L/8. */
export function defaultAreaLowerBound(model: LocalMixerPreset): number {
  return model === 'L/8/64' ? 0.3 : model === 'M/8/16' ? 0.5 : 0.08;
}

/** Options of one `train` invocation. */
export interface TrainOptions extends TrainConfig {
  /** Run folder (log, checkpoint, curves, summary). */
  out: string;
  /** Continue from the checkpoint in `out`. */
  resume: boolean;
  /** No progress bar and no per-epoch lines. */
  quiet: boolean;
  /** Stop after this many epochs are done (as if interrupted); resume later with `resume`. */
  stopAfterEpoch: number|null;
  /** Options given explicitly on the command line (on resume only these override the checkpoint). */
  explicit?: ReadonlySet<string>;
  /** Folder of TensorBoard event files (`--tensorboard`): each epoch's scalars at its step. */
  tensorboard?: string|null;
}

/** One line of `log.jsonl`. */
export interface EpochRecord {
  /** Epochs done (1-based). */
  epoch: number;
  /** Optimizer steps done. */
  step: number;
  /** Mean classifier cross-entropy over the epoch's training batches. */
  loss: number;
  /** Mean total loss (local losses + classifier) over the epoch's training batches, as fit reports it. */
  totalLoss: number;
  /** Classifier accuracy over the epoch's training batches (%). */
  runningTrainAccuracy: number;
  /** Error (%) of the classifier on the train-error subset, after the epoch. */
  trainError: number;
  /** Classifier cross-entropy on the train-error subset. */
  trainLoss: number;
  /** Error (%) of the classifier on the test set, after the epoch. */
  testError: number;
  /** Classifier cross-entropy on the test set. */
  testLoss: number;
  /** Wall time of the epoch (fit + evaluation), seconds. */
  seconds: number;
  /** Of which in `model.fit` (including the host-side shuffle and tensor conversion), seconds. */
  fitSeconds: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Steps skipped so far for a non-finite gradient estimate. */
  skippedSteps: number;
}

/** The state of a run kept in its checkpoint. */
export interface RunState {
  version: 1;
  config: TrainConfig;
  /** Epochs done. */
  epoch: number;
  /** Optimizer steps done. */
  step: number;
  /** State of the shuffling RNG (seedrandom Alea) before the next epoch's permutation. */
  shuffleRng: object;
  history: EpochRecord[];
  /** Wall time of the epochs so far, each with its evaluation (all sessions), seconds. */
  seconds: number;
}

/** `summary.json` of a finished (or stopped) run. */
export interface TrainSummary {
  config: TrainConfig;
  out: string;
  finished: boolean;
  epochs: number;
  steps: number;
  stepsPerEpoch: number;
  trainExamples: number;
  testExamples: number;
  trainEvalExamples: number;
  parameters: number;
  testError: number;
  trainError: number;
  testLoss: number;
  bestTestError: number;
  bestEpoch: number;
  /** Wall time of the epochs, each with its evaluation (all sessions), seconds. */
  seconds: number;
  backend: string;
  paper: {test: number, train: number, epochs: number}|null;
  date: string;
  /**
   * Why the run failed, or null: its weights became non-finite, or an epoch skipped every step (then
   * the run stopped after that epoch, whose checkpoint was not saved).
   */
  failure: string|null;
}

/** `log.jsonl` etc. file names in a run folder. */
export const RUN_FILES = {log: 'log.jsonl', curves: 'curves.svg', summary: 'summary.json'};

/** Default model of a data set: M/1/16 for the 28×28 ones, M/8/16 for CIFAR-10 (paper Table 3). */
export function defaultPreset(data: DatasetName): LocalMixerPreset {
  return data === 'cifar10' ? 'M/8/16' : 'M/1/16';
}

/** Checks a --data value (a UsageError naming the choices if unknown). */
export const checkDataset = (name: string): DatasetName => oneOf(name, CLI_DATASETS, 'data set');
/** Checks a --model value. */
export const checkPreset = (name: string): LocalMixerPreset => oneOf(name, CLI_PRESETS, 'model preset');
/** Checks a --mode value. */
export const checkMode = (name: string): TrainingMode => oneOf(name, TRAINING_MODES, 'training mode');
/** Checks a --schedule value. */
export const checkSchedule = (name: string): ScheduleName => oneOf(name, SCHEDULES, 'schedule');

/** A file-name-safe timestamp, e.g. 20250101-120000. */
export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The default run folder: runs/<data>-<model>-<mode>-<timestamp> ('/' of presets as '_'). */
export function defaultOut(data: string, model: string, mode: string, when = new Date()): string {
  return path.join('runs', `${data}-${model.replace(/\//g, '_')}-${mode}-${timestamp(when)}`);
}

/** Whether the run is contrastive; a UsageError for an unknown objective or a bad area bound. */
function checkObjective(config: TrainConfig): boolean {
  const objective = oneOf(config.objective ?? 'supervised', OBJECTIVES, 'objective');
  const a = config.areaLowerBound;
  if (a != null && !(a > 0 && a <= 1)) {
    throw new UsageError(`--area-lb must be a number in (0, 1]. Received: ${a}.`);
  }
  if (objective === 'contrastive' && config.mode === 'DFA') {
    throw new UsageError(`--objective contrastive: mode DFA needs labels at every layer; use another mode.`);
  }
  return objective === 'contrastive';
}

/**
 * The training images of epoch `epoch` (0-based), as the paper's code feeds them: CIFAR-10's are each
 * flipped left–right with probability 1/2 (its CIFAR train preprocessing always flips, also without
 * its `aug` flag), drawn from the run's seed and the epoch, so `--resume` draws the same flips;
 * other data sets are unchanged. Takes ownership of `xs` (returns it, or disposes it).
 */
export function epochTrainingImages(xs: Tensor4D, data: DatasetName, seed: number, epoch: number): Tensor4D {
  if (data !== 'cifar10') {
    return xs;
  }
  try {
    return randomFlip(xs, `${seed}/flip/${epoch}`);
  } finally {
    xs.dispose();
  }
}

/** The learning-rate schedule of a run over `stepsPerEpoch`-step epochs (optax semantics). */
export function makeSchedule(config: TrainConfig, stepsPerEpoch: number): Schedule {
  const total = config.epochs * stepsPerEpoch;
  const warmup = Math.round(config.warmupEpochs * stepsPerEpoch);
  const lr = config.lr;
  if (warmup >= total && (config.schedule !== 'constant' || warmup > total)) {
    throw new UsageError(`--warmup-epochs (${config.warmupEpochs}) must be less than --epochs (${config.epochs}).`);
  }
  switch (config.schedule) {
    case 'cosine':
      return warmupCosineDecaySchedule({peakValue: lr, warmupSteps: warmup, totalSteps: total});
    case 'linear':
      return linearWarmupSchedule(
          {peakValue: lr, warmupSteps: warmup, schedule: linearSchedule({initValue: lr, transitionSteps: total - warmup})});
    default:
      return linearWarmupSchedule({peakValue: lr, warmupSteps: warmup, schedule: constantSchedule(lr)});
  }
}

/** Builds the run's LocalMixer for images of `split`'s shape (1-patch presets use the whole image). */
export function buildModel(config: TrainConfig, split: ImageSplit): tfl.LayersModel {
  const onePatch = config.model === 'S/1/1' || config.model === 'M/1/16';
  if (onePatch && split.height !== split.width) {
    throw new UsageError(`model ${config.model} needs square images; ${config.data} has ${split.height}×${split.width}.`);
  }
  return localMixer({
    preset: config.model,
    inputShape: [split.height, split.width, split.channels],
    patchSize: onePatch ? split.height : undefined,
    classes: 10,
    seed: config.seed,
    objective: config.objective ?? 'supervised',
  });
}

function makeOptimizer(model: tfl.LayersModel, config: TrainConfig): ForwardGradientOptimizer {
  const inner = config.momentum > 0 ? tf.train.momentum(config.lr, config.momentum) : tf.train.sgd(config.lr);
  return compileLocalMixer(model, {mode: config.mode, optimizer: inner, weightDecay: config.weightDecay, seed: config.seed});
}

function appendLog(out: string, record: EpochRecord): void {
  fs.appendFileSync(path.join(out, RUN_FILES.log), `${JSON.stringify(record)}\n`);
}

/** Options whose value a resumed run may change (the others come from the checkpoint). */
const RESUME_OVERRIDABLE = new Set(['epochs', 'backend', 'dataDir']);

/** The configuration of a resumed run: the checkpoint's, with the allowed explicit overrides. */
function resumeConfig(opts: TrainOptions, saved: TrainConfig, io: Io): TrainConfig {
  const config: TrainConfig = {...saved};
  const explicit = opts.explicit ?? new Set<string>();
  for (const key of Object.keys(saved) as Array<keyof TrainConfig>) {
    if (!explicit.has(key) || opts[key] === saved[key]) {
      continue;
    }
    if (RESUME_OVERRIDABLE.has(key)) {
      (config as unknown as Record<string, unknown>)[key] = opts[key];
      if (key === 'epochs') {
        io.err(`note: --epochs ${opts.epochs} (was ${saved.epochs}): the learning-rate schedule is recomputed over the new total.`);
      }
    } else {
      // Always printed (also with --quiet): the run does not do what the command line asked.
      io.err(`note: --resume keeps the checkpoint's ${key} = ${JSON.stringify(saved[key])} (ignoring ${JSON.stringify(opts[key])}).`);
    }
  }
  return config;
}

const TRAIN_CONFIG_TYPES: Readonly<Record<keyof TrainConfig, 'string'|'number'|'string?'|'number?'>> = {
  data: 'string', dataDir: 'string?', model: 'string', mode: 'string', epochs: 'number', batch: 'number', lr: 'number',
  schedule: 'string', warmupEpochs: 'number', momentum: 'number', weightDecay: 'number', backend: 'string',
  seed: 'number', limitTrain: 'number?', limitTest: 'number?', trainEvalSize: 'number?',
  objective: 'string?', areaLowerBound: 'number?',
};
const OPTIONAL_NUMBERS = ['limitTrain', 'limitTest', 'trainEvalSize', 'stopAfterEpoch'] as const;

/** Checks the numeric settings of a configuration (finite, in range, integers where meant). */
export function checkTrainNumbers(config: TrainConfig&{stopAfterEpoch?: number|null}): void {
  const problem = numberProblem(config, OPTIONAL_NUMBERS);
  if (problem != null) {
    throw new UsageError(`${problem}.`);
  }
}

/** What is wrong with a checkpoint's `state.json` (a `RunState`), or null if nothing. */
export function runStateProblem(state: unknown): string|null {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(state)) {
    return 'is not a JSON object';
  }
  const config = state.config;
  if (!isObject(config)) {
    return 'has no \'config\' object';
  }
  if (state.version !== 1) {
    return `has version ${JSON.stringify(state.version) ?? 'nothing'}, expected 1`;
  }
  for (const [key, type] of Object.entries(TRAIN_CONFIG_TYPES)) {
    const v = config[key];
    // (an optional setting may be absent: runs saved before it existed)
    const ok = type.endsWith('?') ? v == null || typeof v === type.slice(0, -1) : typeof v === type;
    if (!ok) {
      return `has config.${key} = ${JSON.stringify(v) ?? 'nothing'}, expected a ${type.replace('?', ' or null')}`;
    }
  }
  const numbers = numberProblem(config, OPTIONAL_NUMBERS);
  if (numbers != null) {
    return `has an invalid config: ${numbers}`;
  }
  for (const key of ['epoch', 'step'] as const) {
    if (!Number.isSafeInteger(state[key]) || (state[key] as number) < 0) {
      return `has '${key}' = ${JSON.stringify(state[key]) ?? 'nothing'}, expected an integer ≥ 0`;
    }
  }
  if (!isObject(state.shuffleRng)) {
    return 'has no \'shuffleRng\' object';
  }
  if (!Array.isArray(state.history) || state.history.length !== state.epoch || !state.history.every(isObject)) {
    return `has a 'history' that is not a list of ${state.epoch} epoch record(s)`;
  }
  if (typeof state.seconds !== 'number' || !Number.isFinite(state.seconds)) {
    return 'has no finite \'seconds\'';
  }
  return null;
}

/** Names of the model's weights that hold NaN or ±Infinity (one host read; called between epochs). */
async function nonFiniteWeights(model: tfl.LayersModel): Promise<string[]> {
  const weights = model.weights;
  const finite = tf.tidy(() => tf.stack(weights.map(w => tf.min(tf.cast(tf.isFinite(w.read()), 'float32')))));
  const flags = await finite.data();
  finite.dispose();
  return weights.filter((_, i) => flags[i] !== 1).map(w => w.originalName);
}

/**
 * Why epoch `epoch` (1-based, just trained: `steps` steps of which `skipped` were skipped) failed
 * the run, or null: its weights are non-finite, or it skipped every step (nothing was trained).
 */
async function epochFailure(model: tfl.LayersModel, epoch: number, steps: number, skipped: number, config: TrainConfig,
                            out: string): Promise<string|null> {
  const kept = epoch > 1 ? `the checkpoint of epoch ${epoch - 1} in ${path.join(out, CHECKPOINT_DIR)} is kept` :
                           'no checkpoint was saved';
  const retry = `Start a new run (another --out, without --resume, which keeps the run's settings) with a smaller ` +
      `--lr (was ${config.lr}).`;
  const bad = await nonFiniteWeights(model);
  if (bad.length > 0) {
    return `epoch ${epoch}: the weights became non-finite (NaN or ±Infinity in ${bad.slice(0, 3).join(', ')}` +
        `${bad.length > 3 ? ` and ${bad.length - 3} more` : ''}): training diverged, so the run stopped; ${kept}. ${retry}`;
  }
  if (steps > 0 && skipped >= steps) {
    return `epoch ${epoch}: skipped all ${steps} steps (the loss or its gradient estimate was non-finite at each), ` +
        `so nothing was trained and the run stopped; ${kept}. ${retry}`;
  }
  return null;
}

/**
 * Runs `train` and returns its summary. Throws UsageError / ValueError on bad input (a damaged
 * checkpoint is a ValueError naming the file), and a ValueError after writing the summary when the
 * run failed (see `TrainSummary.failure`). The run folder is locked while the run writes in it.
 */
export async function train(opts: TrainOptions, io: Io): Promise<TrainSummary> {
  const out = opts.out;
  if (!opts.resume) {
    checkTrainNumbers(opts);
  }
  // The folder is made (fail fast where it cannot be) and locked before anything in it is read.
  const made = makeFolders(out, 'the run folder', '--out');
  const lock = lockRunFolder(out, '--out', line => io.err(line));
  try {
    return await trainLocked(opts, io);
  } finally {
    lock.release();
    removeEmptyFolders(made);  // a run that failed before writing anything leaves no folder behind
  }
}

async function trainLocked(opts: TrainOptions, io: Io): Promise<TrainSummary> {
  const resolved = resolveConfig(opts, io);
  const config = resolved.config;
  const contrastive = checkConfig(config);
  const backendInfo = await setUpBackend(config.backend);
  const data = loadRunData(config);
  const schedule = makeSchedule(config, data.stepsPerEpoch);
  const model = buildModel(config, data.train);
  const optimizer = makeOptimizer(model, config);
  try {
    const progress = await startProgress(opts.out, config, resolved.saved, model, optimizer);
    resolved.saved = null;  // the host copy of the checkpoint is no longer needed
    const run: Run = {
      opts, io, config, data, model, optimizer, schedule, contrastive,
      areaLowerBound: config.areaLowerBound ?? defaultAreaLowerBound(config.model),
      board: opts.tensorboard != null ? new EventFileWriter(opts.tensorboard) : null,
      say: (line: string) => opts.quiet ? undefined : io.out(line),
    };
    run.say(`${opts.resume ? 'resuming' : 'training'} ${config.model} (${model.countParams().toLocaleString('en-US')} parameters) ` +
            `in mode ${config.mode} on ${config.data} (train ${data.train.count}, test ${data.test.count}), ` +
            `${data.stepsPerEpoch} steps/epoch, backend ${backendInfo}, out ${opts.out}` +
            (opts.resume ? `, from epoch ${progress.startEpoch}` : ''));
    let failure: string|null;
    const threads = config.backend === 'wasm' ? wasmThreadsCount() : 0;
    if (threads > 1) {
      startStallWatchdog(STALL_MINUTES * 60_000, stallMessage(threads));
    }
    try {
      failure = await runEpochs(run, progress);
    } catch (e) {
      throw explainBackendFailure(e, config.backend);
    } finally {
      stopStallWatchdog();
    }
    return writeSummary(run, progress, backendInfo, failure);
  } finally {
    optimizer.detach();
    model.dispose();
    optimizer.dispose();
  }
}

/**
 * The configuration of the run in `opts.out`: a new run's from `opts` (refused where the folder
 * already holds a run), or a resumed run's from its checkpoint (read and checked whole first), with
 * the allowed overrides; the checkpoint's data come back with it.
 */
function resolveConfig(opts: TrainOptions, io: Io): {config: TrainConfig, saved: CheckpointData<RunState>|null} {
  const out = opts.out;
  if (opts.resume) {
    if (!hasCheckpoint(out)) {
      throw new UsageError(`--resume: no checkpoint in ${path.resolve(out)} (expected ${path.join(out, CHECKPOINT_DIR, CHECKPOINT_STATE)}).`);
    }
    // Every file of the checkpoint is read and checked first: a damaged one fails before anything else.
    const saved = readCheckpoint<RunState>(out, runStateProblem);
    return {config: resumeConfig(opts, saved.state.config, io), saved};
  }
  if (hasCheckpoint(out)) {
    throw new UsageError(`${path.resolve(out)} already holds a run: continue it with --resume, or choose another --out.`);
  }
  const config: TrainConfig = {
    data: opts.data, dataDir: opts.dataDir, model: opts.model, mode: opts.mode, epochs: opts.epochs, batch: opts.batch,
    lr: opts.lr, schedule: opts.schedule, warmupEpochs: opts.warmupEpochs, momentum: opts.momentum,
    weightDecay: opts.weightDecay, backend: opts.backend, seed: opts.seed, limitTrain: opts.limitTrain,
    limitTest: opts.limitTest, trainEvalSize: opts.trainEvalSize, objective: opts.objective ?? 'supervised',
    areaLowerBound: opts.areaLowerBound ?? null,
  };
  return {config, saved: null};
}

/** Checks every setting of `config` (a UsageError naming the first bad one); returns whether it is contrastive. */
function checkConfig(config: TrainConfig): boolean {
  const contrastive = checkObjective(config);
  checkDataset(config.data);
  checkPreset(config.model);
  checkMode(config.mode);
  checkBackend(config.backend);
  checkSchedule(config.schedule);
  checkTrainNumbers(config);
  return contrastive;
}

/** The data of a run, loaded and checked, and the sizes that follow from them. */
interface RunData {
  train: ImageSplit;
  test: ImageSplit;
  stepsPerEpoch: number;
  /** Training examples used per epoch (whole batches). */
  usedPerEpoch: number;
  /** Train error is measured on the first `trainEvalCount` training examples. */
  trainEvalCount: number;
}

/** Loads the run's splits and checks, before any training, what would otherwise fail after the first epoch. */
function loadRunData(config: TrainConfig): RunData {
  const limit: {train?: number, test?: number} = {};
  if (config.limitTrain != null) {
    limit.train = config.limitTrain;
  }
  if (config.limitTest != null) {
    limit.test = config.limitTest;
  }
  const {train, test} = loadDataset(config.data, {dir: config.dataDir ?? undefined, limit, dirOption: '--data-dir'});
  if (train.count === 0 || test.count === 0) {
    throw new UsageError(`${config.data}: no training or test examples (train ${train.count}, test ${test.count}).`);
  }
  const shape = (s: ImageSplit) => `${s.height}×${s.width}×${s.channels}`;
  if (shape(train) !== shape(test)) {
    throw new ValueError(`${config.data}: training images are ${shape(train)} but test images are ` +
                         `${shape(test)}: both splits must come from the same data set (--data-dir).`);
  }
  normalizationOf(config.data, train.channels);
  const stepsPerEpoch = Math.max(1, Math.floor(train.count / config.batch));
  return {
    train, test, stepsPerEpoch, usedPerEpoch: Math.min(train.count, stepsPerEpoch * config.batch),
    trainEvalCount: Math.min(train.count, config.trainEvalSize ?? test.count),
  };
}

/** Where the epoch loop starts (and, as it runs, stands): the shuffle RNG, the epochs done, their time. */
interface RunProgress {
  rng: seedrandom.prng;
  /** One record per epoch done. */
  history: EpochRecord[];
  /** Wall time of the epochs done, seconds. */
  seconds: number;
  /** Epochs done before this invocation. */
  startEpoch: number;
}

/**
 * A new run's start (the RNG from the seed, an empty log), or a resumed run's: the checkpoint's
 * weights, optimizer state, RNG state and history, and the log rewritten to hold exactly its epochs.
 */
async function startProgress(out: string, config: TrainConfig, saved: CheckpointData<RunState>|null,
                             model: tfl.LayersModel, optimizer: ForwardGradientOptimizer): Promise<RunProgress> {
  if (saved == null) {
    fs.writeFileSync(path.join(out, RUN_FILES.log), '');
    return {rng: seedrandom.alea(`${config.seed}/shuffle`, {state: true}), history: [], seconds: 0, startEpoch: 0};
  }
  const resumed = decodeCheckpoint(saved);
  const dir = path.join(out, CHECKPOINT_DIR);
  try {
    try {
      model.loadWeights(resumed.modelWeights);
    } catch (e) {
      throw damagedCheckpoint(path.join(dir, 'weights.bin'), `does not fit the ${config.model} model (${(e as Error).message})`);
    }
    try {
      await optimizer.setWeights(resumed.optimizerWeights);
    } catch (e) {
      throw damagedCheckpoint(path.join(dir, 'optimizer.bin'), `does not fit the optimizer (${(e as Error).message})`);
    }
  } finally {
    tf.dispose(Object.values(resumed.modelWeights));
    tf.dispose(resumed.optimizerWeights.map(w => w.tensor));
  }
  const history = resumed.state.history;
  // The log holds exactly the checkpoint's epochs (an epoch logged but not saved is redone).
  fs.writeFileSync(path.join(out, RUN_FILES.log), history.map(r => `${JSON.stringify(r)}\n`).join(''));
  return {
    rng: seedrandom.alea('', {state: resumed.state.shuffleRng}), history, seconds: resumed.state.seconds,
    startEpoch: resumed.state.epoch,
  };
}

/** What the epoch loop and the summary work on. */
interface Run {
  opts: TrainOptions;
  io: Io;
  config: TrainConfig;
  data: RunData;
  model: tfl.LayersModel;
  optimizer: ForwardGradientOptimizer;
  schedule: Schedule;
  contrastive: boolean;
  /** Contrastive: crop-area lower bound of the views. */
  areaLowerBound: number;
  board: EventFileWriter|null;
  /** Prints a line unless quiet. */
  say: (line: string) => void;
}

/**
 * Trains the epochs from `progress.startEpoch` to the configured total (or to `--stop-after-epoch`),
 * evaluating, logging and checkpointing after each (`progress` advances with them). Returns why the
 * run failed, or null; a failed epoch is logged but not checkpointed.
 */
async function runEpochs(run: Run, progress: RunProgress): Promise<string|null> {
  const {opts, config, data} = run;
  const test = toTensors(data.test, {dataset: config.data}) as {xs: Tensor4D, ys: Tensor2D};
  const trainEval = toTensors(sliceSplit(data.train, 0, data.trainEvalCount), {dataset: config.data}) as {xs: Tensor4D, ys: Tensor2D};
  try {
    for (let epoch = progress.startEpoch; epoch < config.epochs; epoch++) {
      if (opts.stopAfterEpoch != null && epoch >= opts.stopAfterEpoch) {
        run.say(`stopped after epoch ${epoch} (--stop-after-epoch); continue with --resume --out ${opts.out}`);
        break;
      }
      const t0 = Date.now();
      const skippedBefore = progress.history[progress.history.length - 1]?.skippedSteps ?? 0;
      const stepBefore = run.optimizer.iterations;
      const fit = await trainEpoch(run, epoch, progress.rng, skippedBefore);
      const fitSeconds = (Date.now() - t0) / 1000;
      const testResult = await evaluate(run.model, test.xs, test.ys, {onBatch: trainingProgress});
      const trainResult = await evaluate(run.model, trainEval.xs, trainEval.ys, {onBatch: trainingProgress});
      const elapsed = (Date.now() - t0) / 1000;
      progress.seconds += elapsed;
      const step = run.optimizer.iterations;
      const record: EpochRecord = {
        epoch: epoch + 1, step, loss: run.contrastive ? fit.readoutLoss : fit.metrics.mean('classifier_loss'),
        totalLoss: fit.metrics.mean('loss'), runningTrainAccuracy: 100 * fit.metrics.mean('classifier_acc'),
        trainError: trainResult.error, trainLoss: trainResult.loss, testError: testResult.error, testLoss: testResult.loss,
        seconds: elapsed, fitSeconds, lr: fit.lastLr, skippedSteps: fit.skipped,
      };
      progress.history.push(record);
      appendLog(opts.out, record);
      run.board?.scalars(step, epochScalars(record));
      const failure = await epochFailure(run.model, epoch + 1, step - stepBefore, fit.skipped - skippedBefore, config, opts.out);
      if (failure != null) {
        return failure;  // the checkpoint of the epoch before is kept
      }
      const state: RunState = {
        version: 1, config, epoch: epoch + 1, step, shuffleRng: progress.rng.state(), history: progress.history,
        seconds: progress.seconds,
      };
      await saveCheckpoint(opts.out, run.model, run.optimizer, state);
      run.say(`epoch ${epoch + 1}/${config.epochs}  loss ${record.loss.toFixed(4)}  train err ${record.trainError.toFixed(2)}%  ` +
              `test err ${record.testError.toFixed(2)}% (loss ${record.testLoss.toFixed(4)})  lr ${fit.lastLr.toPrecision(3)}  ` +
              `${formatSeconds(elapsed)} (fit ${formatSeconds(fitSeconds)})`);
    }
    return null;
  } finally {
    tf.dispose([test.xs, test.ys, trainEval.xs, trainEval.ys]);
  }
}

/** What one epoch of `model.fit` reports. */
interface EpochFit {
  /** Running means over the epoch's batches (`loss`, `classifier_loss`, `classifier_acc`). */
  metrics: RunningMetrics;
  /** Learning rate of the epoch's last step. */
  lastLr: number;
  /** Steps skipped so far (this epoch's included). */
  skipped: number;
  /** Contrastive: mean loss of the readout trained after the epoch; NaN otherwise. */
  readoutLoss: number;
}

/**
 * One epoch (0-based `epoch`) over the used examples in the order drawn from `rng`, with the
 * progress bar: supervised, one `model.fit` epoch over the (for CIFAR-10 flipped) images;
 * contrastive, one `model.fitDataset` epoch over two views of each image, made as the batches
 * reach them, then the readout trained on the un-augmented images.
 */
async function trainEpoch(run: Run, epoch: number, rng: seedrandom.prng, skippedBefore: number): Promise<EpochFit> {
  const {config, data, contrastive} = run;
  const order = permutation(rng, data.train.count).subarray(0, data.usedPerEpoch);
  const examples = gatherSplit(data.train, order);
  const fit: EpochFit = {metrics: new RunningMetrics(), lastLr: NaN, skipped: skippedBefore, readoutLoss: NaN};
  const bar = new EpochProgress(run.opts.quiet ? null : run.io.barStream, `epoch ${epoch + 1}/${config.epochs}`, data.stepsPerEpoch);
  const callbacks = [
    forwardGradient(),
    new LearningRateScheduler({schedule: run.schedule}),
    new tfl.CustomCallback({
      onBatchEnd: (batch: number, logs?: tfl.Logs) => {
        trainingProgress();
        if (logs == null) {
          return;
        }
        fit.metrics.add(logs, typeof logs.size === 'number' ? logs.size : config.batch);
        if (typeof logs.lr === 'number') {
          fit.lastLr = logs.lr;
        }
        if (typeof logs.fg_skipped === 'number') {
          fit.skipped = logs.fg_skipped;
        }
        bar.update(batch + 1, fit.metrics.mean(contrastive ? 'loss' : 'classifier_loss'), fit.metrics.mean('classifier_acc'));
      },
    }),
  ];
  try {
    if (!contrastive) {
      const {xs, ys} = toTensors(examples, {dataset: config.data});
      const images = epochTrainingImages(xs, config.data, config.seed, epoch);
      const targets = localMixerTargets(run.model, ys);
      try {
        await run.model.fit(images, targets, {epochs: 1, batchSize: config.batch, shuffle: false, verbose: 0, callbacks});
      } finally {
        tf.dispose([images, ys, ...targets]);
      }
      return fit;
    }
    const views = new EpochViews(examples, {data: config.data, seed: config.seed, epoch, areaLowerBound: run.areaLowerBound});
    try {
      await run.model.fitDataset(
          contrastiveEpochDataset(examples, views, config.batch, labels => localMixerTargets(run.model, labels)),
          {epochs: 1, verbose: 0, callbacks});
    } finally {
      views.dispose();
    }
    // the paper code's readout: one epoch of plain SGD (lr 0.01) on the un-augmented images
    const {images, labels} = readoutInputs(examples, config.data);
    try {
      fit.readoutLoss = await trainReadout(run.model, images, labels, {
        batchSize: config.batch, weightDecay: config.weightDecay, seed: `${config.seed}/${epoch}`,
      });
    } finally {
      tf.dispose([images, labels]);
    }
    return fit;
  } finally {
    bar.stop();
  }
}

/**
 * Writes `curves.svg` and `summary.json` and returns the summary; then throws a ValueError if the
 * run failed, or prints the final line if it finished.
 */
function writeSummary(run: Run, progress: RunProgress, backendInfo: string, failure: string|null): TrainSummary {
  const {config, data, opts} = run;
  const out = opts.out;
  const history = progress.history;
  const done = history.length;
  const finished = done >= config.epochs;
  const last = history[done - 1];
  const best = history.reduce((b, r) => (r.testError < b.testError ? r : b), history[0] ?? last);
  const objective = config.objective ?? 'supervised';
  const paper = paperResult(config.data, config.model, config.mode, objective);
  const summary: TrainSummary = {
    config, out, finished, epochs: done, steps: last?.step ?? 0, stepsPerEpoch: data.stepsPerEpoch,
    trainExamples: data.train.count, testExamples: data.test.count, trainEvalExamples: data.trainEvalCount,
    parameters: run.model.countParams(),
    testError: last?.testError ?? NaN, trainError: last?.trainError ?? NaN, testLoss: last?.testLoss ?? NaN,
    bestTestError: best?.testError ?? NaN, bestEpoch: best?.epoch ?? 0,
    seconds: progress.seconds, backend: backendInfo,
    paper: paper == null ? null : {...paper, epochs: paperEpochs(config.data, objective) ?? NaN},
    date: new Date().toISOString(),
    failure,
  };
  const refs: Reference[] = paper == null ? [] : [
    {label: `paper test ${paper.test.toFixed(2)}% (Table ${paperTable(objective)})`, value: paper.test, color: '#d62728'},
    {label: `paper train ${paper.train.toFixed(2)}% (Table ${paperTable(objective)})`, value: paper.train, color: '#1f77b4'},
  ];
  fs.writeFileSync(path.join(out, RUN_FILES.curves),
                   curvesSvg(history, `${config.data} ${config.model} ${config.mode} (lr ${config.lr}, batch ${config.batch}, ` +
                                          `${config.schedule}, seed ${config.seed}, ${config.backend})`, refs));
  fs.writeFileSync(path.join(out, RUN_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
  if (failure != null) {
    throw new ValueError(failure);
  }
  if (finished && last != null) {
    run.say(`done: test error ${last.testError.toFixed(2)}%, train error ${last.trainError.toFixed(2)}% after ${done} epoch(s), ` +
            `${formatSeconds(progress.seconds)}; ${path.join(out, RUN_FILES.summary)}`);
  }
  return summary;
}
