/**
 * Node only: `enableWasmThreads` in child processes (its XNNPACK workers would otherwise live in the
 * jasmine process, and a process can initialise wasm once): 2 threads take effect, a matMul (and a
 * transposed one, through the installed kernels) matches cpu, and the child exits on its own (the
 * workers do not keep node alive); called after wasm started, it warns and keeps 1 thread. And the
 * CLI's --threads checks.
 */
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {run} from '../../../src/cli/main';
import {bufferIo} from '../../../src/cli/progress';

/** The compiled backends module, as the child requires it. */
const BACKENDS = path.resolve(__dirname, '../../../src/backends');

const CHILD = `
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
const backends = require(${JSON.stringify(BACKENDS)});
const late = process.argv[1] === 'late';
(async () => {
  if (late) { await tf.setBackend('wasm'); }
  const threads = await backends.enableWasmThreads(2);
  backends.installWasmKernels();
  const a = tf.randomNormal([300, 200], 0, 1, 'float32', 1), b = tf.randomNormal([250, 200], 0, 1, 'float32', 2);
  const got = [tf.matMul(a, b, false, true).dataSync(), tf.matMul(b, a, false, true).dataSync()];
  const counted = backends.wasmThreadsCount(), backend = tf.getBackend();
  await tf.setBackend('cpu');
  const want = [tf.matMul(a, b, false, true).dataSync(), tf.matMul(b, a, false, true).dataSync()];
  let maxDiff = 0;
  got.forEach((g, k) => g.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - want[k][i])); }));
  console.log('RESULT ' + JSON.stringify({threads, counted, backend, maxDiff}));
})();  // no process.exit: the child must end by itself
`;

interface ChildResult {
  threads: number;
  counted: number;
  backend: string;
  maxDiff: number;
}

function runChild(mode: string): {result: ChildResult|null, stderr: string, status: number|null, signal: string|null} {
  const r = spawnSync(process.execPath, ['-e', CHILD, mode],
                     {encoding: 'utf8', timeout: 120000, cwd: path.resolve(__dirname, '../../../..')});
  const line = (r.stdout ?? '').split('\n').find(l => l.startsWith('RESULT '));
  return {result: line ? JSON.parse(line.slice(7)) : null, stderr: r.stderr ?? '', status: r.status, signal: r.signal};
}

describe('enableWasmThreads (node, child processes)', () => {
  it('2 threads: getThreadsCount() is 2, matMul matches cpu, and the process exits by itself', () => {
    const {result, stderr, status, signal} = runChild('first');
    expect(signal).withContext(`killed (hung?): ${stderr}`).toBeNull();
    expect(status).withContext(stderr).toBe(0);
    expect(result).withContext(stderr).not.toBeNull();
    expect(result!.threads).withContext(stderr).toBe(2);
    expect(result!.counted).toBe(2);
    expect(result!.backend).toBe('wasm');
    expect(result!.maxDiff).toBeLessThan(1e-3);  // 200-long dot products of N(0,1) values
    expect(stderr).not.toContain('enableWasmThreads:');
  });

  it('after the wasm backend started: warns, keeps 1 thread, results still match', () => {
    const {result, stderr, status} = runChild('late');
    expect(status).withContext(stderr).toBe(0);
    expect(result!.threads).toBe(1);
    expect(result!.counted).toBe(1);
    expect(result!.maxDiff).toBeLessThan(1e-3);
    expect(stderr).toContain('already initialised');
  });
});

describe('tfjs-fg --threads', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-threads-'));
  });
  afterAll(() => {
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('is a usage error (exit 2, one line) beyond the pool size or off wasm', async () => {
    for (const [args, message] of [
      [['--threads', '9'], "argument '9' is invalid. expected an integer in [1, 8]"],
      [['--threads', '2', '--backend', 'cpu'], '--threads applies to the wasm backend only'],
      [['--threads', '0'], "argument '0' is invalid. expected an integer in [1, 8]"],
    ] as Array<[string[], string]>) {
      const io = bufferIo();
      const code = await run(['train', '--out', path.join(dir, 'run'), '--data-dir', dir, ...args], io);
      expect(code).withContext(args.join(' ')).toBe(2);
      expect(io.stderr.join('\n')).withContext(args.join(' ')).toContain(message);
    }
  });
});
