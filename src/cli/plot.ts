/**
 * `curves.svg` of a run, drawn by hand (no plotting dependency): two line charts side by side, the
 * loss (train and test) and the error in % (train and test) per epoch, with optional dashed
 * reference lines (the paper's test / train error).
 */

/** One epoch's numbers, as `log.jsonl` has them. */
export interface CurvePoint {
  epoch: number;
  /** Mean classifier loss over the epoch's training batches. */
  loss: number;
  /** Classifier loss on the test set. */
  testLoss: number;
  /** Error (%) on the training subset. */
  trainError: number;
  /** Error (%) on the test set. */
  testError: number;
}

/** A horizontal reference line of the error chart. */
export interface Reference {
  label: string;
  value: number;
  color: string;
}

interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>;
  dashed?: boolean;
}

const TRAIN_COLOR = '#1f77b4';
const TEST_COLOR = '#d62728';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number(v.toFixed(6)).toString();
}

/** About `count` round tick values, the first ≤ lo and the last ≥ hi. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    hi = lo + 1;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  for (let i = first; i <= last; i++) {
    ticks.push(Number((i * step).toPrecision(12)));
  }
  return ticks;
}

/** One chart (axes, grid, lines, legend) in a box at (x0, y0) of size w × h. */
function chart(x0: number, y0: number, w: number, h: number, title: string, yLabel: string,
               series: Series[], xMax: number): string {
  const m = {left: 56, right: 12, top: 28, bottom: 40};
  const pw = w - m.left - m.right, ph = h - m.top - m.bottom;
  const values = series.flatMap(s => s.points.map(p => p[1])).filter(Number.isFinite);
  let yLo = values.length ? Math.min(0, ...values) : 0;
  let yHi = values.length ? Math.max(...values) : 1;
  if (yHi <= yLo) {
    yHi = yLo + 1;
  }
  const yTicks = niceTicks(yLo, yHi);
  yLo = Math.min(yLo, yTicks[0]);
  yHi = Math.max(yHi, yTicks[yTicks.length - 1]);
  const xLo = xMax > 1 ? 1 : 0.5, xHi = xMax > 1 ? xMax : 1.5;
  const xTicks = niceTicks(xLo, xHi, Math.min(8, Math.max(1, xMax - 1))).filter(t => Number.isInteger(t) && t >= 1);
  const sx = (x: number) => x0 + m.left + (x - xLo) / (xHi - xLo) * pw;
  const sy = (y: number) => y0 + m.top + ph - (y - yLo) / (yHi - yLo) * ph;
  const out: string[] = [];
  out.push(`<text x="${fmt(x0 + m.left + pw / 2)}" y="${fmt(y0 + 18)}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${fmt(sx(xLo))}" y1="${fmt(sy(t))}" x2="${fmt(sx(xHi))}" y2="${fmt(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${fmt(x0 + m.left - 6)}" y="${fmt(sy(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${fmt(sx(t))}" y1="${fmt(y0 + m.top + ph)}" x2="${fmt(sx(t))}" y2="${fmt(y0 + m.top + ph + 4)}" stroke="#333"/>`);
    out.push(`<text x="${fmt(sx(t))}" y="${fmt(y0 + m.top + ph + 16)}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${fmt(x0 + m.left)}" y="${fmt(y0 + m.top)}" width="${fmt(pw)}" height="${fmt(ph)}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${fmt(x0 + m.left + pw / 2)}" y="${fmt(y0 + h - 6)}" text-anchor="middle">epoch</text>`);
  out.push(`<text x="${fmt(x0 + 14)}" y="${fmt(y0 + m.top + ph / 2)}" text-anchor="middle" ` +
           `transform="rotate(-90 ${fmt(x0 + 14)} ${fmt(y0 + m.top + ph / 2)})">${esc(yLabel)}</text>`);
  const legendX = x0 + m.left + pw - 158;
  const legend: string[] = [];
  legend.push(`<rect x="${fmt(legendX)}" y="${fmt(y0 + m.top + 2)}" width="154" height="${fmt(16 * series.length + 4)}" ` +
           `fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(p => Number.isFinite(p[1]));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) {
      const d = pts.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${fmt(sx(x))},${fmt(sy(y))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    }
    if (!s.dashed) {
      for (const [x, y] of pts) {
        out.push(`<circle cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="3" fill="${s.color}"/>`);
      }
    }
    const ly = y0 + m.top + 14 + 16 * i;
    const lx = legendX + 6;
    legend.push(`<line x1="${fmt(lx)}" y1="${fmt(ly - 4)}" x2="${fmt(lx + 20)}" y2="${fmt(ly - 4)}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    legend.push(`<text x="${fmt(lx + 26)}" y="${fmt(ly)}">${esc(s.label)}</text>`);
  });
  return [...out, ...legend].join('\n');
}

/**
 * The SVG document of a run's curves: loss (train = mean over the epoch's batches, test) and error
 * (train subset, test) per epoch; `references` add dashed horizontal lines to the error chart.
 */
export function curvesSvg(points: readonly CurvePoint[], title: string, references: Reference[] = []): string {
  const width = 960, height = 400, half = width / 2;
  const xMax = Math.max(1, ...points.map(p => p.epoch));
  const xs = (f: (p: CurvePoint) => number) => points.map(p => [p.epoch, f(p)] as [number, number]);
  const xLo = xMax > 1 ? 1 : 0.5, xHi = xMax > 1 ? xMax : 1.5;
  const lossChart = chart(0, 24, half, height - 24, 'loss', 'cross-entropy', [
    {label: 'train (running)', color: TRAIN_COLOR, points: xs(p => p.loss)},
    {label: 'test', color: TEST_COLOR, points: xs(p => p.testLoss)},
  ], xMax);
  const errorChart = chart(half, 24, half, height - 24, 'error', 'error (%)', [
    {label: 'train', color: TRAIN_COLOR, points: xs(p => p.trainError)},
    {label: 'test', color: TEST_COLOR, points: xs(p => p.testError)},
    ...references.map(r => ({label: r.label, color: r.color, dashed: true,
                             points: [[xLo, r.value], [xHi, r.value]] as Array<[number, number]>})),
  ], xMax);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
        `font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${half}" y="16" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    lossChart,
    errorChart,
    '</svg>',
    '',
  ].join('\n');
}
