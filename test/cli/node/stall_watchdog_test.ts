/**
 * The stall watchdog of runs on wasm threads (src/cli/stall_watchdog.ts), in child processes: a
 * main thread that stops advancing (spinning, as in the threaded wasm deadlock) is killed after the
 * timeout with the message on stderr; one that keeps advancing, or ends, is left alone; the watcher
 * does not keep node alive.
 */
import {spawnSync} from 'child_process';
import * as path from 'path';

import {stallMessage, STALL_MINUTES} from '../../../src/cli/stall_watchdog';

const MODULE = JSON.stringify(path.resolve(__dirname, '../../../src/cli/stall_watchdog'));

/** Runs `body` in a child node with the watchdog module as `w`; its exit and stderr. */
function child(body: string, timeoutMs = 20_000): {status: number|null, signal: string|null, stderr: string, ms: number} {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['-e', `const w = require(${MODULE});\n${body}`], {encoding: 'utf8', timeout: timeoutMs});
  return {status: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - t0};
}

describe('cli: stall watchdog (wasm threads)', () => {
  it('kills a process whose main thread stops advancing, after the timeout, saying why', () => {
    // the main thread spins in JavaScript (as in the allocator deadlock): no progress, no event loop
    const r = child(`w.startStallWatchdog(400, 'STALLED: continue with --resume\\n');
                     const end = Date.now() + 15000; while (Date.now() < end) {}
                     process.exit(0);`);
    expect(r.signal).withContext(r.stderr).toBe('SIGKILL');
    expect(r.stderr).toContain('STALLED: continue with --resume');
    expect(r.ms).toBeLessThan(10_000);
  });

  it('leaves a process alone while it advances, and does not keep node alive after it', () => {
    const r = child(`w.startStallWatchdog(400, 'STALLED\\n');
                     let n = 0;
                     const t = setInterval(() => { w.trainingProgress(); if (++n === 30) { clearInterval(t); } }, 50);`);
    expect(r.status).withContext(r.stderr).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stderr).not.toContain('STALLED');
    const stopped = child(`w.startStallWatchdog(200, 'STALLED\\n'); w.stopStallWatchdog();
                           setTimeout(() => {}, 800);`);
    expect(stopped.status).withContext(stopped.stderr).toBe(0);
    expect(stopped.stderr).not.toContain('STALLED');
  });

  it('says what happened and how to continue', () => {
    const m = stallMessage(2);
    expect(m).toContain(`no training progress for ${STALL_MINUTES} minutes with 2 wasm threads`);
    expect(m).toMatch(/--resume/);
    expect(m).toMatch(/--threads 1/);
  });
});
