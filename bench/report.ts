/** What the benchmarks share for reporting: paired-ratio statistics and aligned tables. */

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
