/** What the benchmarks share: backend set-up, flag checks, paired-ratio statistics, tables. */
export {peakBufferBytes} from './memory';

/** Linear-interpolated quantile q ∈ [0, 1] of xs. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Median of xs. */
export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** Median of the per-round ratios a[i] / b[i] (paired: both timed in the same round). */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((v, i) => v / b[i]));
}

/** Interquartile range of the per-round ratios a[i] / b[i], as 'p25–p75'. */
export function pairedSpread(a: number[], b: number[]): string {
  const r = a.map((v, i) => v / b[i]);
  return `${quantile(r, 0.25).toFixed(2)}–${quantile(r, 0.75).toFixed(2)}`;
}

/** A table column: its header and how a row renders in it. */
export interface Column<R> {
  head: string;
  cell: (r: R) => string;
  /** Left-aligned (labels); numbers are right-aligned. */
  left?: boolean;
}

/** Prints a table whose column widths fit the header and every cell. */
export function printTable<R>(columns: Array<Column<R>>, rows: R[], suffix: (r: R) => string = () => ''): void {
  const cells = rows.map(r => columns.map(c => c.cell(r)));
  const widths = columns.map((c, i) => Math.max(c.head.length, ...cells.map(row => row[i].length)));
  const line = (vals: string[]) =>
      vals.map((v, i) => columns[i].left ? v.padEnd(widths[i]) : v.padStart(widths[i])).join('  ');
  console.log(line(columns.map(c => c.head)));
  cells.forEach((row, i) => console.log(line(row) + suffix(rows[i])));
}

/** A ratio as '1.23x' ('-' when missing). */
export const x2 = (r?: number) => r == null || !isFinite(r) ? '-' : `${r.toFixed(2)}x`;
/** Milliseconds with one decimal ('-' when missing). */
export const ms = (t?: number) => t == null ? '-' : t.toFixed(1);

/** A command-line mistake: printed with the usage text, exit code 2. */
export class UsageError extends Error {}

/** Flag value helpers for a benchmark's parser; `usage` is appended to every error. */
export function flagParsers(usage: string) {
  return {
    /** An integer flag ≥ `min`. */
    int(name: string, s: string|undefined, min: number): number {
      const n = Number(s);
      if (!Number.isInteger(n) || n < min) {
        throw new UsageError(`--${name} must be an integer ≥ ${min}. Received: ${s}.\n${usage}`);
      }
      return n;
    },
    /** A comma-separated list. */
    list(s: string|undefined): string[] {
      return (s ?? '').split(',').map(v => v.trim()).filter(Boolean);
    },
    /** A comma-separated list of names from `known`. */
    names<T extends string>(flag: string, s: string|undefined, known: readonly T[]): T[] {
      const items = (s ?? '').split(',').map(v => v.trim()).filter(Boolean);
      for (const m of items) {
        if (!(known as readonly string[]).includes(m)) {
          throw new UsageError(`--${flag}: unknown value '${m}' (known: ${known.join(', ')}).`);
        }
      }
      return items as T[];
    },
  };
}

/**
 * Makes the requested backends available: `webgpu` in node needs the npm package `webgpu` set up
 * (scripts/node-webgpu.js) before tfjs-backend-webgpu loads; cpu and wasm are imported already.
 */
export async function setUpBackends(names: readonly string[]): Promise<void> {
  if (names.includes('webgpu')) {
    // tslint:disable-next-line:no-require-imports
    console.log('webgpu adapter:', await require('../../scripts/node-webgpu').setupNodeWebGPU());
  }
}

