/**
 * A small line chart on a canvas: several series (one per training run), each a line with optional
 * emphasised points (per-epoch values), "nice" axis ticks, redrawn on demand and on resize.
 */

/** One run's curve. */
export interface Series {
  color: string;
  /** [x, y] points, x increasing. */
  points: Array<[number, number]>;
  /** Points drawn as dots (e.g. the per-epoch evaluation on the full test set). */
  marks?: Array<[number, number]>;
}

/** How a chart is drawn. */
export interface ChartOptions {
  /** Lower bound of the y axis if the data do not go below it (e.g. 0 for an error). */
  yMin?: number;
  /** Upper bound of the y axis if the data do not exceed it. */
  yMax?: number;
  /** Formats the y tick labels. */
  format?: (v: number) => string;
}

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    return [lo];
  }
  const raw = (hi - lo) / count;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw) ?? 10 * p;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

const compact = (v: number) => Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toPrecision(3)}`;

/** A chart bound to a canvas; `draw(series)` repaints it. */
export class LineChart {
  private series: Series[] = [];

  constructor(private readonly canvas: HTMLCanvasElement, private readonly options: ChartOptions = {}) {
    new ResizeObserver(() => this.draw(this.series)).observe(canvas);
  }

  draw(series: Series[]): void {
    this.series = series;
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth, height = this.canvas.clientHeight;
    if (width === 0 || height === 0) {
      return;
    }
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const styles = getComputedStyle(this.canvas);
    const ink = styles.getPropertyValue('--chart-ink').trim() || '#64748b';
    const grid = styles.getPropertyValue('--chart-grid').trim() || '#e2e8f0';
    ctx.font = '11px system-ui, -apple-system, "Segoe UI", sans-serif';

    const all = series.flatMap(s => [...s.points, ...(s.marks ?? [])]).filter(([x, y]) => isFinite(x) && isFinite(y));
    const left = 44, right = 10, top = 8, bottom = 24;
    const w = width - left - right, h = height - top - bottom;
    let xMax = Math.max(10, ...all.map(p => p[0]));
    let yLo = Math.min(...all.map(p => p[1]), this.options.yMin ?? Infinity);
    let yHi = Math.max(...all.map(p => p[1]), this.options.yMax ?? -Infinity);
    if (!isFinite(yLo) || !isFinite(yHi)) {
      yLo = this.options.yMin ?? 0;
      yHi = this.options.yMax ?? 1;
    }
    if (yHi - yLo < 1e-9) {
      yHi = yLo + (Math.abs(yLo) > 0 ? Math.abs(yLo) * 0.1 : 1);
    }
    const yTicks = niceTicks(yLo, yHi, 4);
    const step = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
    yLo = Math.min(yLo, yTicks[0]);
    yHi = Math.max(yHi, yTicks[yTicks.length - 1] < yHi ? yTicks[yTicks.length - 1] + step : yHi);
    const xTicks = niceTicks(0, xMax, 5);
    xMax = Math.max(xMax, xTicks[xTicks.length - 1]);
    const X = (x: number) => left + (x / xMax) * w;
    const Y = (y: number) => top + h - ((y - yLo) / (yHi - yLo)) * h;

    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = ink;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const format = this.options.format ?? compact;
    for (const t of yTicks) {
      const y = Math.round(Y(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + w, y);
      ctx.stroke();
      ctx.fillText(format(t), left - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of xTicks) {
      ctx.fillText(compact(t), X(t), top + h + 6);
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 4, w + 4, h + 8);
    ctx.clip();
    for (const s of series) {
      const pts = s.points.filter(([x, y]) => isFinite(x) && isFinite(y));
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.beginPath();
      pts.forEach(([x, y], i) => i === 0 ? ctx.moveTo(X(x), Y(y)) : ctx.lineTo(X(x), Y(y)));
      ctx.stroke();
      if (pts.length === 1) {
        ctx.fillStyle = s.color;
        ctx.beginPath();
        ctx.arc(X(pts[0][0]), Y(pts[0][1]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
      for (const [x, y] of (s.marks ?? []).filter(([x, y]) => isFinite(x) && isFinite(y))) {
        ctx.fillStyle = '#fff';
        ctx.strokeStyle = s.color;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(X(x), Y(y), 4, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
    ctx.restore();
  }
}
