/// <reference types="node" />
/**
 * Terminal side of the `tfjs-fg` command line: where its text goes (`Io`, replaceable in tests),
 * the error type of bad command-line input (`UsageError`, exit code 2), and the per-epoch progress
 * bar (cli-progress) fed from `model.fit`'s batch logs.
 */
import * as cliProgress from 'cli-progress';

/** Where the CLI writes: lines for stdout and stderr, and the stream the progress bar draws on. */
export interface Io {
  /** Writes one line (a newline is added) to the standard output. */
  out(line: string): void;
  /** Writes one line (a newline is added) to the standard error. */
  err(line: string): void;
  /** Stream of the progress bar; null: no bar. */
  barStream: NodeJS.WritableStream|null;
}

/**
 * The process's stdout / stderr; the bar is drawn on stderr (redrawn in place on a terminal, else a
 * line every `NOT_TTY_PROGRESS_MS`, so a long run logged to a file still shows how far it is).
 */
export function processIo(): Io {
  return {
    out: line => process.stdout.write(`${line}\n`),
    err: line => process.stderr.write(`${line}\n`),
    barStream: process.stderr,
  };
}

/** How often the progress bar prints a line when its stream is not a terminal (a file, a pipe). */
export const NOT_TTY_PROGRESS_MS = 60_000;

/** An `Io` that only collects the lines (tests, `--quiet`-like use in-process). */
export function bufferIo(): Io&{stdout: string[], stderr: string[]} {
  const stdout: string[] = [], stderr: string[] = [];
  return {stdout, stderr, out: l => stdout.push(l), err: l => stderr.push(l), barStream: null};
}

/**
 * Bad command-line input (unknown mode, preset, data set or backend, bad numbers, a run folder that
 * is missing or already used): printed as one line, exit code 2, never with a stack trace.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
    Object.setPrototypeOf(this, UsageError.prototype);
  }
}

/** Formats seconds as `1h02m`, `3m07s` or `12.3s`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) {
    return '?';
  }
  if (s < 60) {
    return `${s.toFixed(1)}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m${String(Math.floor(s - 60 * m)).padStart(2, '0')}s`;
  }
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Running means of the training batch logs of one epoch. */
export class RunningMetrics {
  private n = 0;
  private sums: {[key: string]: number} = {};
  private weights: {[key: string]: number} = {};

  /** Adds a batch's logs (`size` = examples in the batch, the weight of its means). */
  add(logs: {[key: string]: unknown}, size: number): void {
    this.n += size;
    for (const [k, v] of Object.entries(logs)) {
      if (typeof v === 'number' && Number.isFinite(v) && k !== 'batch' && k !== 'size') {
        this.sums[k] = (this.sums[k] ?? 0) + v * size;
        this.weights[k] = (this.weights[k] ?? 0) + size;
      }
    }
  }

  /** The mean of `key` over the batches so far (NaN if none had it). */
  mean(key: string): number {
    return this.weights[key] ? this.sums[key] / this.weights[key] : NaN;
  }

  /** Examples seen. */
  get count(): number {
    return this.n;
  }
}

/**
 * A progress bar of one epoch: step/total, ETA, running loss and accuracy. Silent without a stream.
 * On a terminal it is cli-progress's bar, redrawn in place. On any other stream (a log file, a pipe)
 * it prints a line when it starts, then at the first update `lineEveryMs` after the last line, and
 * when it stops: from `update` itself, since a training step does not return to node's event loop,
 * where a timer would wait.
 */
export class EpochProgress {
  private readonly bar: cliProgress.SingleBar|null = null;
  private readonly lines: NodeJS.WritableStream|null = null;
  private readonly started = Date.now();
  private lastLine = 0;
  private step = 0;
  private loss = '-';
  private acc = '-';

  constructor(stream: NodeJS.WritableStream|null, readonly label: string, readonly total: number,
              readonly lineEveryMs = NOT_TTY_PROGRESS_MS) {
    if (stream == null) {
      return;
    }
    if ((stream as NodeJS.WriteStream).isTTY !== true) {
      this.lines = stream;
      this.printLine();
      return;
    }
    this.bar = new cliProgress.SingleBar({
      stream,
      format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} | loss {loss} | acc {acc}`,
      barsize: 30,
      hideCursor: null,
      etaBuffer: 20,
      fps: 5,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    this.bar.start(total, 0, {loss: this.loss, acc: this.acc});
  }

  /** Moves to `step` (batches done) with the running classifier loss and accuracy. */
  update(step: number, loss: number, acc: number): void {
    this.step = step;
    this.loss = Number.isFinite(loss) ? loss.toFixed(4) : '-';
    this.acc = Number.isFinite(acc) ? `${(100 * acc).toFixed(2)}%` : '-';
    this.bar?.update(step, {loss: this.loss, acc: this.acc});
    if (this.lines != null && Date.now() - this.lastLine >= this.lineEveryMs) {
      this.printLine();
    }
  }

  /** Stops (the last state stays on screen; off a terminal, a last line unless the last one says it). */
  stop(): void {
    this.bar?.stop();
    if (this.lines != null && this.printed !== this.state()) {
      this.printLine();
    }
  }

  /** What the last line said (step, loss, accuracy), to print no line twice. */
  private printed = '';

  private state(): string {
    return `${this.step} ${this.loss} ${this.acc}`;
  }

  /** `label step/total (pct) | ETA | loss | acc`, the ETA from the mean step time so far. */
  private lineText(): string {
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = this.step > 0 ? formatSeconds(elapsed / this.step * (this.total - this.step)) : '-';
    const pct = this.total > 0 ? Math.floor(100 * this.step / this.total) : 100;
    return `${this.label} ${this.step}/${this.total} (${pct}%) | ETA ${eta} | loss ${this.loss} | acc ${this.acc}`;
  }

  private printLine(): void {
    const text = this.lineText();
    this.lines!.write(`${text}\n`);
    this.printed = this.state();
    this.lastLine = Date.now();
  }
}
