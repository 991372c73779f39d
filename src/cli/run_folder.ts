/// <reference types="node" />
/**
 * Run folders of `tfjs-fg`: made one level at a time with a clear error when that is impossible (a
 * recursive `mkdir` under a virtual file system such as /proc never returns in node), and locked
 * while a run writes in them by a `run.lock` file holding the process id, so that two runs never
 * write one folder. A lock whose process is gone is stale and taken over.
 */
import * as fs from 'fs';
import * as path from 'path';

import {UsageError} from './progress';

/** Name of the lock file inside a run folder. */
export const LOCK_FILE = 'run.lock';

/**
 * Makes folder `dir` and its missing parents, one level at a time, and returns the folders it made
 * (outermost first; none when `dir` exists). `what` names the folder and `option` the command-line
 * option that chose it, in the UsageError thrown when a level cannot be made; the levels made
 * before that are removed again.
 */
export function makeFolders(dir: string, what: string, option: string): string[] {
  const target = path.resolve(dir);
  const fail = (why: string) =>
      new UsageError(`cannot create ${what} ${target}: ${why}; choose another ${option}.`);
  const missing: string[] = [];
  for (let p = target;; p = path.dirname(p)) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(p) !== p) {
        missing.unshift(p);
        continue;
      }
      throw fail(`${p} cannot be read (${code ?? (e as Error).message})`);
    }
    if (!stat.isDirectory()) {
      throw fail(`${p} is a file, not a folder`);
    }
    break;
  }
  const made: string[] = [];
  for (const p of missing) {
    try {
      fs.mkdirSync(p);
      made.push(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && isFolder(p)) {
        continue;  // made meanwhile by another process
      }
      removeEmptyFolders(made);
      throw fail(`mkdir ${p} failed (${code ?? (e as Error).message}` +
                 (code === 'ENOENT' || code === 'EPERM' || code === 'EROFS' ?
                      `: ${path.dirname(p)} holds no new folders — a virtual or read-only file system such as /proc or /sys?)` :
                      ')'));
    }
  }
  return made;
}

function isFolder(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Removes `folders` (innermost first) as long as they are empty; leaves the rest. */
export function removeEmptyFolders(folders: readonly string[]): void {
  for (const f of [...folders].reverse()) {
    try {
      fs.rmdirSync(f);
    } catch {
      return;  // not empty (or gone): keep it and its parents
    }
  }
}

/** A held lock on a run folder. */
export interface RunLock {
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file (if it still holds this process's id) and the signal handlers; idempotent. */
  release(): void;
}

function readPid(file: string): number|null {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` exists (EPERM: it does, under another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file without a readable pid younger than this is being written: treated as held. */
const FRESH_MS = 10_000;

/**
 * Locks run folder `dir` (which must exist) for this process: creates `dir/run.lock` exclusively
 * (`wx`) holding the process id. A lock held by a live process is a UsageError naming the process
 * and the lock file; a stale one (its process is gone) is replaced, with a note through `note`. A
 * folder that cannot be written is a UsageError too. The lock is removed by `release()`, on
 * process exit, and on SIGINT / SIGTERM (then the signal is raised again, so the process still ends
 * by it).
 */
export function lockRunFolder(dir: string, option: string, note: (line: string) => void): RunLock {
  const file = path.resolve(dir, LOCK_FILE);
  for (let attempt = 0;; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, `${process.pid}\n`);
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new UsageError(`cannot write in the run folder ${path.resolve(dir)} (creating ${file} failed: ` +
                             `${code ?? (e as Error).message}); choose another ${option}.`);
      }
      const pid = readPid(file);
      let fresh = false;
      try {
        fresh = pid == null && Date.now() - fs.statSync(file).mtimeMs < FRESH_MS;
      } catch {
        // removed meanwhile: try again
      }
      if ((pid != null && isAlive(pid)) || fresh || attempt >= 2) {
        throw new UsageError(`the run folder ${path.resolve(dir)} is in use by process ${pid ?? '(unknown)'} ` +
                             `(lock file ${file}): wait until that run ends, or choose another ${option}. ` +
                             `If no tfjs-fg process runs there, delete ${file}.`);
      }
      note(`note: removed a stale lock ${file} of process ${pid ?? '(unknown)'}, which has ended.`);
      fs.rmSync(file, {force: true});
    }
  }
  let released = false;
  const release = () => {
    if (released) {
      return;
    }
    released = true;
    process.off('exit', release);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (readPid(file) === process.pid) {
      fs.rmSync(file, {force: true});
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    release();
    process.kill(process.pid, signal);
  };
  process.on('exit', release);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {file, release};
}
