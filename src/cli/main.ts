/// <reference types="node" />
/**
 * The `tfjs-fg` command line (node only): `train`, `eval` and `reproduce` on MNIST, Fashion-MNIST and
 * CIFAR-10 with the paper's LocalMixer and its eleven training modes. `run(argv)` runs a command
 * in-process and resolves to its exit code: 0 success, 1 failure (e.g. missing data files), 2 bad
 * command-line input. `bin/tfjs-fg.js` calls `main()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Command, CommanderError, InvalidArgumentError, Option} from 'commander';

import {TracingError, UnsupportedKernelError, ValueError} from '../errors';
import {TRAINING_MODES} from '../models/training_modes';
import {version} from '../version';
import {CLI_BACKENDS, defaultBackend, setWasmThreads} from './backend';
import {evalRun} from './eval';
import {describeDomain, NUMBER_DOMAINS, NumberDomain, NumericSetting, parseNumber} from './numbers';
import {Io, processIo, UsageError} from './progress';
import {parseModels, parseModes, reproduce} from './reproduce';
import {CLI_DATASETS, CLI_PRESETS, defaultOut, defaultPreset, OBJECTIVES, SCHEDULES, timestamp, train, TrainConfig} from './train';

/** A commander parser of a numeric option with the domain of `setting` (one table for all: numbers.ts). */
function numberOf(setting: NumericSetting): (v: string) => number {
  const domain: NumberDomain = NUMBER_DOMAINS[setting];
  return (v: string) => {
    const n = parseNumber(v, domain);
    if (n == null) {
      throw new InvalidArgumentError(`expected ${describeDomain(domain)}.`);
    }
    return n;
  };
}

const WASM_THREADS_HELP = 'XNNPACK threads of the wasm backend (experimental in node; see README)';

/** The options `train` and `reproduce` share (training settings). */
function addTrainingOptions(cmd: Command): Command {
  return cmd
      .addOption(new Option('--data <name>', 'data set').choices(CLI_DATASETS).default('mnist'))
      .option('--data-dir <dir>', 'folder of the data files (default: the loader\'s; see README)')
      .option('--epochs <n>', 'epochs', numberOf('epochs'), 1)
      .option('--batch <n>', 'batch size', numberOf('batch'), 128)
      .option('--lr <x>', 'peak learning rate', numberOf('lr'), 0.01)
      .addOption(new Option('--schedule <name>', 'learning-rate schedule over epochs·steps (optax semantics)')
                     .choices(SCHEDULES).default('linear'))
      .option('--warmup-epochs <n>', 'linear warmup from 0, in epochs (may be fractional)', numberOf('warmupEpochs'), 0)
      .option('--momentum <x>', 'SGD momentum in [0, 1) (0: plain SGD)', numberOf('momentum'), 0.9)
      .option('--weight-decay <x>', 'weight decay added to weight-matrix gradients', numberOf('weightDecay'), 1e-4)
      .addOption(new Option('--backend <name>', 'tfjs backend (default: wasm if @tensorflow/tfjs-backend-wasm is installed, else cpu)')
                     .choices(CLI_BACKENDS).default(defaultBackend()))
      .option('--threads <n>', WASM_THREADS_HELP, numberOf('threads'), 1)
      .option('--seed <n>', 'seed of the initial weights, the perturbations and the shuffling', numberOf('seed'), 0)
      .option('--limit-train <n>', 'use only the first N training examples', numberOf('limitTrain'))
      .option('--limit-test <n>', 'use only the first N test examples', numberOf('limitTest'))
      .option('--train-eval-size <n>',
              'train error on the first N training examples (default: as many as the test set has)', numberOf('trainEvalSize'))
      .addOption(new Option('--objective <name>', 'supervised, or contrastive (two BYOL views, InfoNCE; the readout ' +
                                                   'trained after each epoch)').choices(OBJECTIVES).default('supervised'))
      .option('--area-lb <x>', 'contrastive: crop-area lower bound of the views (default: 0.5 for M/8/16, 0.3 for L/8/64)',
              v => Number(v))
      .option('--verbose', 'print stack traces of errors');
}

/** The training settings from parsed options. */
function trainConfig(o: Record<string, unknown>, model: string, mode: string): TrainConfig {
  return {
    data: o.data as TrainConfig['data'],
    dataDir: (o.dataDir as string|undefined) ?? null,
    model: model as TrainConfig['model'],
    mode: mode as TrainConfig['mode'],
    epochs: o.epochs as number,
    batch: o.batch as number,
    lr: o.lr as number,
    schedule: o.schedule as TrainConfig['schedule'],
    warmupEpochs: o.warmupEpochs as number,
    momentum: o.momentum as number,
    weightDecay: o.weightDecay as number,
    backend: o.backend as TrainConfig['backend'],
    seed: o.seed as number,
    limitTrain: (o.limitTrain as number|undefined) ?? null,
    limitTest: (o.limitTest as number|undefined) ?? null,
    trainEvalSize: (o.trainEvalSize as number|undefined) ?? null,
    objective: (o.objective as TrainConfig['objective']|undefined) ?? 'supervised',
    areaLowerBound: (o.areaLowerBound as number|undefined) ?? null,
  };
}

/** Reports an error as one line on stderr and returns the exit code (stack only when verbose). */
function report(e: unknown, verbose: boolean, io: Io): number {
  if (e instanceof UsageError) {
    io.err(`tfjs-fg: ${e.message}`);
    return 2;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const userError = err instanceof ValueError || err instanceof TracingError || err instanceof UnsupportedKernelError;
  io.err(`tfjs-fg: ${err.message}` + (verbose || userError ? '' : ' (--verbose prints the stack trace)'));
  if (verbose && err.stack) {
    io.err(err.stack);
  }
  return 1;
}

/** The command-line program; actions store their exit code in `result.code`. */
function program(io: Io, result: {code: number}): Command {
  const prog = new Command('tfjs-fg');
  prog.description('Train LocalMixers with forward gradients (Ren et al., ICLR 2023) in TensorFlow.js.')
      .version(version)
      .exitOverride()
      .configureOutput({
        writeOut: s => io.out(s.replace(/\n$/, '')),
        writeErr: s => io.err(s.replace(/\n$/, '')),
        outputError: (s, write) => write(`tfjs-fg: ${s.replace(/^error: /, '')}`),
      })
      .showSuggestionAfterError(true)
      // --threads reaches the backend set-up (src/cli/backend.ts) without passing through each command.
      .hook('preAction', (_, action) => setWasmThreads((action.opts().threads as number|undefined) ?? 1));

  const trainCmd = addTrainingOptions(prog.command('train').description('train a LocalMixer and save the run'));
  trainCmd
      .addOption(new Option('--model <preset>', 'LocalMixer preset (default: M/1/16 for mnist and fashion-mnist, ' +
                                                    'M/8/16 for cifar10)').choices(CLI_PRESETS))
      .addOption(new Option('--mode <mode>', 'training mode').choices(TRAINING_MODES).default('LG-FG-A'))
      .option('--out <dir>', 'run folder (default: runs/<data>-<model>-<mode>-<timestamp>)')
      .option('--resume', 'continue the run in --out from its checkpoint')
      .option('--stop-after-epoch <k>', 'stop after k epochs are done, as if interrupted (resume with --resume)', numberOf('stopAfterEpoch'))
      .option('--quiet', 'no progress bar and no per-epoch lines')
      .option('--tensorboard <dir>', 'also write TensorBoard event files (scalars of every epoch) into this folder')
      .action(async (o: Record<string, unknown>) => {
        try {
          if (o.resume && o.out == null) {
            throw new UsageError('--resume needs --out <run folder>.');
          }
          const config = trainConfig(o, (o.model as string|undefined) ?? defaultPreset(o.data as TrainConfig['data']),
                                     o.mode as string);
          const explicit = new Set(Object.keys(o).filter(k => trainCmd.getOptionValueSource(k) === 'cli'));
          const summary = await train({
            ...config,
            out: (o.out as string|undefined) ?? defaultOut(config.data, config.model, config.mode),
            resume: o.resume === true,
            quiet: o.quiet === true,
            stopAfterEpoch: (o.stopAfterEpoch as number|undefined) ?? null,
            explicit,
            tensorboard: (o.tensorboard as string|undefined) ?? null,
          }, io);
          result.code = summary.finished || o.stopAfterEpoch != null ? 0 : 1;
        } catch (e) {
          result.code = report(e, o.verbose === true, io);
        }
      });

  prog.command('eval')
      .description('test error and loss of a saved run')
      .requiredOption('--model-dir <dir>', 'run folder (or its checkpoint folder)')
      .addOption(new Option('--data <name>', 'data set (default: the run\'s)').choices(CLI_DATASETS))
      .option('--data-dir <dir>', 'folder of the data files (default: the run\'s)')
      .option('--limit-test <n>', 'use only the first N test examples (default: the run\'s)', numberOf('limitTest'))
      .addOption(new Option('--backend <name>', 'tfjs backend (default: wasm if @tensorflow/tfjs-backend-wasm is installed, else cpu)')
                     .choices(CLI_BACKENDS).default(defaultBackend()))
      .option('--threads <n>', WASM_THREADS_HELP, numberOf('threads'), 1)
      .option('--json', 'print the result as JSON')
      .option('--verbose', 'print stack traces of errors')
      .action(async (o: Record<string, unknown>) => {
        try {
          await evalRun({
            modelDir: o.modelDir as string,
            data: (o.data as TrainConfig['data']|undefined) ?? null,
            dataDir: (o.dataDir as string|undefined) ?? null,
            limitTest: (o.limitTest as number|undefined) ?? null,
            backend: o.backend as string,
            json: o.json === true,
          }, io);
          result.code = 0;
        } catch (e) {
          result.code = report(e, o.verbose === true, io);
        }
      });

  addTrainingOptions(prog.command('reproduce').description('run every (model, mode) and write a Markdown table beside the paper\'s Table 3 (Table 4: contrastive)'))
      .option('--models <list>', 'comma-separated presets', 'S/1/1,M/1/16')
      .option('--modes <list>', '\'all\' or comma-separated training modes', 'all')
      .option('--out <file>', 'Markdown file (default: results.md in the runs folder)')
      .option('--runs-dir <dir>', 'folder of the runs (default: runs/reproduce-<timestamp>)')
      .option('--data-label <text>', 'how the table names the data, e.g. "CIFAR-10 (JPEG copy)" (default: --data)')
      .option('--notes <file>', 'Markdown appended below the table (the reading of the results, kept across regenerations)')
      .option('--resume', 'in --runs-dir, reuse finished runs of the same epochs and resume interrupted ones')
      .option('--report-only', 'train nothing: write the table from the finished runs in --runs-dir (the others left blank)')
      .option('--quiet', 'no per-run lines')
      .action(async (o: Record<string, unknown>) => {
        try {
          const models = parseModels(o.models as string);
          const modes = parseModes(o.modes as string);
          const {model: _m, mode: _d, ...shared} = trainConfig(o, models[0], modes[0]);
          if (o.resume === true && o.runsDir == null) {
            throw new UsageError('reproduce --resume needs --runs-dir <folder of the interrupted grid>.');
          }
          if (o.reportOnly === true && o.runsDir == null) {
            throw new UsageError('reproduce --report-only needs --runs-dir <folder of the grid\'s runs>.');
          }
          const runsDir = (o.runsDir as string|undefined) ?? `runs/reproduce-${timestamp()}`;
          const outcomes = await reproduce({
            ...shared, models, modes, out: (o.out as string|undefined) ?? `${runsDir}/results.md`,
            resumeGrid: o.resume === true, runsDir, dataLabel: (o.dataLabel as string|undefined) ?? null,
            reportOnly: o.reportOnly === true, notes: (o.notes as string|undefined) ?? null,
            quiet: o.quiet === true, verbose: o.verbose === true,
          }, io);
          result.code = outcomes.every(x => x.error == null) ? 0 : 1;
        } catch (e) {
          result.code = report(e, o.verbose === true, io);
        }
      });
  return prog;
}

/**
 * Runs the CLI on `argv` (the arguments after the program name) in-process and resolves to the exit
 * code: 0 success, 1 failure, 2 bad command-line input. Text goes to `io` (default: stdout/stderr).
 */
export async function run(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const result = {code: 0};
  const prog = program(io, result);
  if (argv.length === 0) {
    prog.outputHelp({error: true});
    return 2;
  }
  try {
    await prog.parseAsync([...argv], {from: 'user'});
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 2;  // help / version: 0; unknown option or command, bad value: 2
    }
    return report(e, argv.includes('--verbose'), io);
  }
  return result.code;
}

/** The process entry: quiets tfjs's console notes, runs `argv`, sets the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  tf.enableProdMode();
  const code = await run(argv);
  process.exitCode = code;
  return code;
}

if (require.main === module) {
  main().then(code => process.exit(code), e => {
    process.stderr.write(`tfjs-fg: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  });
}
