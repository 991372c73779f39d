/**
 * The demo page (main thread): loads the data files, starts one training worker per run, and draws
 * what the workers report. It never imports tfjs: all training happens in `worker.ts`.
 */
import {LineChart, Series} from './chart';
import {BACKENDS, BackendName, BackendSupport, DatasetName, DATASETS, FromWorker, ModeName, MODES, PresetName, PRESETS, RunConfig, SplitBytes, ToWorker} from './protocol';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const IDX_FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};
const ALL_FILES = [...IDX_FILES.train, ...IDX_FILES.test];

const DATASET_LABELS: Record<DatasetName, string> = {'mnist': 'MNIST digits', 'fashion-mnist': 'Fashion-MNIST'};
const FASHION_CLASSES = ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Boot'];
const MODE_NOTES: Record<ModeName, string> = {
  'LG-FG-A': 'Forward gradient, activity perturbation, local greedy losses: each group of features learns from ' +
      'its own loss. No backward pass.',
  'FG-A': 'Forward gradient with noise on the activations, one loss per block. No backward pass.',
  'FG-W': 'Forward gradient with noise on the weights: the plainest and noisiest estimate. No backward pass.',
  'LG-BP': 'Reference: backprop, but each block learns only from its local losses.',
  'BP': 'Reference: ordinary end-to-end backprop.',
};
const PRESET_NOTES: Record<PresetName, string> = {
  'M/1/16': 'M/1/16: one block, 512 channels in 16 groups (429k weights)',
  'S/1/1': 'S/1/1: one block, 256 channels, one group (272k weights)',
};
const COLORS = ['#2563eb', '#e11d48', '#059669', '#d97706', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f'];

/** What the build found (data/datasets.json, written by scripts/build-demo.mjs). */
interface Manifest {
  datasets: Record<DatasetName, {files: Record<string, string>}|{missing: string}>;
}

interface Run {
  config: RunConfig;
  color: string;
  label: string;
  error: Array<[number, number]>;
  errorEpoch: Array<[number, number]>;
  loss: Array<[number, number]>;
  cos: Array<[number, number]>;
  speed: Array<[number, number]>;
  memory: Array<[number, number]>;
  epochs: Array<{epoch: number, loss: number, testError: number}>;
  state: 'training'|'paused'|'finished'|'stopped'|'failed';
}

const params = new URLSearchParams(location.search);
const runs: Run[] = [];
let worker: Worker|null = null;
let current: Run|null = null;
let manifest: Manifest|null = null;
let support: Record<BackendName, BackendSupport>|null = null;
/** Bytes of each data set, once loaded (from the build's copy, a URL, or the user's files). */
const loaded = new Map<DatasetName, {train: SplitBytes, test: SplitBytes}>();
/** Files the user picked, per data set. */
const picked = new Map<DatasetName, Map<string, File>>();

// ---------------------------------------------------------------- data

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

/** The file's bytes, gunzipped if they are gzipped (a server may already have done it). */
async function plainBytes(buffer: ArrayBuffer): Promise<ArrayBuffer> {
  const b = new Uint8Array(buffer);
  return isGzip(b) ? gunzip(b) : buffer;
}

async function fetchFirst(urls: string[]): Promise<ArrayBuffer> {
  const failures: string[] = [];
  for (const url of urls) {
    try {
      const r = await fetch(url);
      if (r.ok) {
        return plainBytes(await r.arrayBuffer());
      }
      failures.push(`${url}: HTTP ${r.status}`);
    } catch (e) {
      failures.push(`${url}: ${(e as Error).message}`);
    }
  }
  throw new Error(`could not load ${failures.join('; ')}`);
}

/** Where a data set's files come from, or why it has none. */
function dataSource(name: DatasetName): {kind: 'picked'|'url'|'build', where: string}|{kind: 'missing', why: string} {
  if (picked.get(name)?.size === 4) {
    return {kind: 'picked', where: 'your files'};
  }
  const url = params.get('data');
  if (url != null && (params.get('dataset') ?? 'mnist') === name) {
    return {kind: 'url', where: url.endsWith('/') ? url : `${url}/`};
  }
  const entry = manifest?.datasets[name];
  if (entry != null && 'files' in entry) {
    return {kind: 'build', where: `data/${name}/`};
  }
  return {kind: 'missing', why: entry != null && 'missing' in entry ? entry.missing : 'the data list data/datasets.json is missing'};
}

async function loadData(name: DatasetName): Promise<{train: SplitBytes, test: SplitBytes}> {
  const have = loaded.get(name);
  if (have != null) {
    return have;
  }
  const src = dataSource(name);
  let buffers: ArrayBuffer[];
  if (src.kind === 'missing') {
    throw new Error(src.why);
  } else if (src.kind === 'picked') {
    const files = picked.get(name)!;
    buffers = await Promise.all(ALL_FILES.map(async f => plainBytes(await files.get(f)!.arrayBuffer())));
  } else if (src.kind === 'url') {
    buffers = await Promise.all(ALL_FILES.map(f => fetchFirst([`${src.where}${f}`, `${src.where}${f}.gz`])));
  } else {
    const entry = manifest!.datasets[name] as {files: Record<string, string>};
    buffers = await Promise.all(ALL_FILES.map(f => fetchFirst([`${src.where}${entry.files[f]}`])));
  }
  const data = {train: {images: buffers[0], labels: buffers[1]}, test: {images: buffers[2], labels: buffers[3]}};
  loaded.set(name, data);
  return data;
}

/** Files picked by the user: matched to the four IDX names by their names (".gz" allowed). */
function pickFiles(files: FileList): void {
  const name = $<HTMLSelectElement>('dataset').value as DatasetName;
  const map = new Map<string, File>();
  for (const file of Array.from(files)) {
    // e.g. train-images-idx3-ubyte, train-images.idx3-ubyte, t10k-labels-idx1-ubyte.gz
    const base = file.name.replace(/\.gz$/, '').replace(/\./g, '-');
    const match = ALL_FILES.find(f => base === f);
    if (match != null) {
      map.set(match, file);
    }
  }
  const missing = ALL_FILES.filter(f => !map.has(f));
  if (missing.length > 0) {
    showDataNote(`Those files do not include ${missing.join(', ')} (plain or .gz): pick all four IDX files.`, true);
    return;
  }
  picked.set(name, map);
  loaded.delete(name);
  updateDataNote();
}

function showDataNote(text: string, warn: boolean): void {
  const note = $('data-note');
  note.textContent = text;
  note.classList.toggle('warn', warn);
}

function updateDataNote(): void {
  const name = $<HTMLSelectElement>('dataset').value as DatasetName;
  const src = dataSource(name);
  if (src.kind === 'missing') {
    showDataNote(`${DATASET_LABELS[name]} is not available: ${src.why} You can also pick the four IDX files ` +
                 'of your own copy below.', true);
  } else {
    const where = src.kind === 'build' ? 'bundled with this page' : src.kind === 'url' ? `from ${src.where}` : 'from your files';
    showDataNote(`${DATASET_LABELS[name]}: 60,000 training and 10,000 test images, ${where}.`, false);
  }
  updateButtons();
}

// ---------------------------------------------------------------- controls

function fillSelect(id: string, values: readonly string[], labels: (v: string) => string = v => v, initial?: string|null): void {
  const select = $<HTMLSelectElement>(id);
  select.innerHTML = '';
  for (const v of values) {
    const o = document.createElement('option');
    o.value = v;
    o.textContent = labels(v);
    select.appendChild(o);
  }
  if (initial != null && values.includes(initial)) {
    select.value = initial;
  }
}

function readConfig(): RunConfig {
  const num = (id: string) => Number($<HTMLInputElement|HTMLSelectElement>(id).value);
  const lr = num('lr');
  if (!(lr > 0 && lr < 10)) {
    throw new Error(`the learning rate must be a number in (0, 10); it is "${$<HTMLInputElement>('lr').value}".`);
  }
  const evalEvery = num('eval-every');
  return {
    dataset: $<HTMLSelectElement>('dataset').value as DatasetName,
    preset: $<HTMLSelectElement>('preset').value as PresetName,
    mode: $<HTMLSelectElement>('mode').value as ModeName,
    backend: $<HTMLSelectElement>('backend').value as BackendName,
    batchSize: num('batch'),
    learningRate: lr,
    epochs: num('epochs'),
    evalEvery,
    evalSubset: 1000,
    gradientQualityEvery: Math.max(1, Math.round(evalEvery / 2)),
    seed: 1,
  };
}

function updateButtons(): void {
  const busy = current != null && (current.state === 'training' || current.state === 'paused');
  const name = $<HTMLSelectElement>('dataset').value as DatasetName;
  const backend = $<HTMLSelectElement>('backend').value as BackendName;
  const canStart = !busy && support != null && support[backend].ok && dataSource(name).kind !== 'missing';
  $<HTMLButtonElement>('start').disabled = !canStart;
  $<HTMLButtonElement>('pause').disabled = !busy;
  $<HTMLButtonElement>('pause').textContent = current?.state === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('stop').disabled = !busy;
  for (const id of ['dataset', 'preset', 'mode', 'backend', 'batch', 'lr', 'epochs', 'eval-every', 'files']) {
    $<HTMLInputElement>(id).disabled = busy;
  }
  $('mode-note').textContent = MODE_NOTES[$<HTMLSelectElement>('mode').value as ModeName];
  const s = support?.[backend];
  const note = $('backend-note');
  note.textContent = s == null ? 'Checking what this browser supports…' : s.ok ? s.note : `Not available here: ${s.note}.`;
  note.classList.toggle('warn', s != null && !s.ok);
}

function setStatus(text: string, kind: 'info'|'error' = 'info'): void {
  const el = $('status');
  el.textContent = text;
  el.dataset.kind = kind;
}

// ---------------------------------------------------------------- runs and drawing

const charts = {
  error: new LineChart($('chart-error'), {yMin: 0, format: v => `${+v.toFixed(1)}%`}),
  loss: new LineChart($('chart-loss'), {yMin: 0}),
  cos: new LineChart($('chart-cos'), {yMin: 0, yMax: 1}),
  speed: new LineChart($('chart-speed'), {yMin: 0}),
  memory: new LineChart($('chart-memory'), {yMin: 0, format: v => `${+v.toPrecision(3)} MB`}),
};

function drawCharts(): void {
  const series = (pick: (r: Run) => Array<[number, number]>, marks?: (r: Run) => Array<[number, number]>): Series[] =>
      runs.map(r => ({color: r.color, points: pick(r), marks: marks?.(r)}));
  // (the error at step 0, ~90 %, is left out: it would squash the curves being compared)
  charts.error.draw(series(r => r.error.filter(([step]) => step > 0), r => r.errorEpoch));
  charts.loss.draw(series(r => r.loss));
  charts.cos.draw(series(r => r.cos));
  charts.speed.draw(series(r => r.speed));
  charts.memory.draw(series(r => r.memory));
  drawLegend();
  drawEpochTable();
}

function drawLegend(): void {
  const list = $('runs');
  list.innerHTML = '';
  for (const r of runs) {
    const li = document.createElement('li');
    const last = r.error[r.error.length - 1];
    const best = r.errorEpoch.length > 0 ? r.errorEpoch[r.errorEpoch.length - 1] : last;
    li.innerHTML = `<span class="swatch" style="background:${r.color}"></span>` +
        `<span class="run-label"></span><span class="run-state"></span>`;
    (li.querySelector('.run-label') as HTMLElement).textContent = r.label;
    (li.querySelector('.run-state') as HTMLElement).textContent =
        `${best != null ? `${best[1].toFixed(1)}% error` : ''}${r.state === 'training' ? '' : ` · ${r.state}`}`;
    list.appendChild(li);
  }
  $('legend-empty').hidden = runs.length > 0;
}

function drawEpochTable(): void {
  const body = $('epochs-body');
  body.innerHTML = '';
  for (const r of runs) {
    for (const e of r.epochs) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td><span class="swatch" style="background:${r.color}"></span></td><td></td>` +
          `<td class="num">${e.epoch}</td><td class="num">${e.loss.toFixed(3)}</td><td class="num">${e.testError.toFixed(2)}%</td>`;
      tr.children[1].textContent = r.config.mode;
      (tr.children[1] as HTMLElement).title = r.label;
      body.appendChild(tr);
    }
  }
  $('epochs-empty').hidden = body.children.length > 0;
}

function setTile(id: string, text: string, value?: number): void {
  const el = $(id);
  el.textContent = text;
  if (value != null) {
    el.dataset.value = String(value);
  }
}

function drawSamples(m: Extract<FromWorker, {type: 'samples'}>): void {
  const box = $('samples');
  box.innerHTML = '';
  const names = current?.config.dataset === 'fashion-mnist' ? FASHION_CLASSES : null;
  const n = m.size * m.size;
  m.labels.forEach((label, i) => {
    const fig = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = m.size;
    const ctx = canvas.getContext('2d')!;
    const img = ctx.createImageData(m.size, m.size);
    for (let p = 0; p < n; p++) {
      const v = 255 - m.images[i * n + p];
      img.data.set([v, v, v, 255], 4 * p);
    }
    ctx.putImageData(img, 0, 0);
    const ok = m.predictions[i] === label;
    const cap = document.createElement('figcaption');
    cap.className = ok ? 'ok' : 'bad';
    const name = (c: number) => names != null ? names[c] : String(c);
    cap.textContent = ok ? `${name(m.predictions[i])} ✓` : `${name(m.predictions[i])} ✗`;
    cap.title = ok ? 'predicted correctly' : `predicted ${name(m.predictions[i])}, is ${name(label)}`;
    fig.append(canvas, cap);
    box.appendChild(fig);
  });
}

function drawWeights(m: Extract<FromWorker, {type: 'weights'}>): void {
  const box = $('weights');
  box.innerHTML = '';
  const n = m.size * m.size;
  for (let u = 0; u < m.units; u++) {
    const w = m.data.subarray(u * n, (u + 1) * n);
    let max = 1e-12;
    w.forEach(v => max = Math.max(max, Math.abs(v)));
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = m.size;
    const ctx = canvas.getContext('2d')!;
    const img = ctx.createImageData(m.size, m.size);
    for (let p = 0; p < n; p++) {
      // diverging: blue < 0 < red, white at zero
      const t = w[p] / max;
      const a = Math.round(255 * (1 - Math.abs(t)));
      img.data.set(t >= 0 ? [255, a, a, 255] : [a, a + Math.round(0.35 * (255 - a)), 255, 255], 4 * p);
    }
    ctx.putImageData(img, 0, 0);
    box.appendChild(canvas);
  }
}

function onMessage(run: Run, m: FromWorker): void {
  switch (m.type) {
    case 'status':
      setStatus(m.text);
      break;
    case 'ready':
      setStatus(`Training ${run.label} on ${m.details}: ${m.parameters.toLocaleString('en-US')} weights, ` +
                `${m.stepsPerEpoch} steps per epoch.`);
      break;
    case 'progress': {
      if (isFinite(m.loss)) {
        run.loss.push([m.step, m.loss]);
      }
      if (isFinite(m.stepsPerSecond)) {
        run.speed.push([m.step, m.stepsPerSecond]);
        setTile('tile-speed', m.stepsPerSecond.toFixed(1), m.stepsPerSecond);
      }
      run.error.push([m.step, m.testError]);
      run.memory.push([m.step, m.memory.numBytes / 2 ** 20]);
      for (const c of m.cos) {
        run.cos.push([c.step, c.cos]);
      }
      setTile('tile-step', m.step.toLocaleString('en-US'), m.step);
      setTile('tile-epoch', m.epoch.toFixed(2));
      setTile('tile-error', `${m.testError.toFixed(1)}%`, m.testError);
      $('tile-error').dataset.step = String(m.step);
      setTile('tile-tensors', m.memory.numTensors.toLocaleString('en-US'), m.memory.numTensors);
      setTile('tile-memory', `${(m.memory.numBytes / 2 ** 20).toFixed(1)} MB`, m.memory.numBytes);
      const lastCos = run.cos[run.cos.length - 1];
      setTile('tile-cos', lastCos != null ? lastCos[1].toFixed(3) : '–', lastCos?.[1]);
      drawCharts();
      break;
    }
    case 'tick':
      setTile('tile-step', m.step.toLocaleString('en-US'), m.step);
      break;
    case 'epoch':
      run.errorEpoch.push([m.step, m.testError]);
      run.epochs.push({epoch: m.epoch, loss: m.loss, testError: m.testError});
      setTile('tile-error', `${m.testError.toFixed(1)}%`, m.testError);
      drawCharts();
      break;
    case 'samples':
      drawSamples(m);
      break;
    case 'weights':
      drawWeights(m);
      break;
    case 'paused':
      run.state = 'paused';
      setStatus(`Paused ${run.label}.`);
      updateButtons();
      drawLegend();
      break;
    case 'resumed':
      run.state = 'training';
      setStatus(`Training ${run.label}…`);
      updateButtons();
      drawLegend();
      break;
    case 'done':
      run.state = m.reason;
      setStatus(m.reason === 'stopped' ? `Stopped ${run.label}. Start another mode to compare.` :
                                         `Finished ${run.label}. Start another mode to compare.`);
      endRun();
      break;
    case 'error':
      run.state = 'failed';
      console.error(`training failed: ${m.message}`);
      setStatus(`Training failed: ${m.message}`, 'error');
      endRun();
      break;
    default:
      break;
  }
}

function endRun(): void {
  worker?.terminate();
  worker = null;
  drawCharts();
  updateButtons();
}

async function start(): Promise<void> {
  let config: RunConfig;
  try {
    config = readConfig();
  } catch (e) {
    setStatus((e as Error).message, 'error');
    return;
  }
  const label = `${config.mode} · ${config.preset} · ${config.backend} · batch ${config.batchSize}`;
  const run: Run = {
    config, label, color: COLORS[runs.length % COLORS.length], error: [], errorEpoch: [], loss: [],
    cos: [], speed: [], memory: [], epochs: [], state: 'training',
  };
  current = run;
  for (const tile of Array.from(document.querySelectorAll<HTMLElement>('.tile-value'))) {
    tile.textContent = '–';
    delete tile.dataset.value;
    delete tile.dataset.step;
  }
  updateButtons();
  setStatus(`Loading ${DATASET_LABELS[config.dataset]}…`);
  let data: {train: SplitBytes, test: SplitBytes};
  try {
    data = await loadData(config.dataset);
  } catch (e) {
    run.state = 'failed';
    current = null;
    setStatus(`Could not load ${DATASET_LABELS[config.dataset]}: ${(e as Error).message}`, 'error');
    updateButtons();
    return;
  }
  runs.push(run);
  worker = new Worker('worker.js');
  worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(run, e.data);
  worker.onerror = e => {
    e.preventDefault();
    onMessage(run, {type: 'error', message: e.message || 'the worker failed to load'});
  };
  const message: ToWorker = {type: 'start', config, train: data.train, test: data.test};
  worker.postMessage(message);
  drawLegend();
}

function send(m: ToWorker): void {
  worker?.postMessage(m);
}

async function init(): Promise<void> {
  fillSelect('dataset', DATASETS, d => DATASET_LABELS[d as DatasetName], params.get('dataset'));
  fillSelect('preset', PRESETS, p => PRESET_NOTES[p as PresetName], params.get('model'));
  fillSelect('mode', MODES, m => m, params.get('mode'));
  fillSelect('backend', BACKENDS, b => b, params.get('backend'));
  updateButtons();
  for (const id of ['dataset', 'preset', 'mode', 'backend']) {
    $(id).addEventListener('change', () => id === 'dataset' ? updateDataNote() : updateButtons());
  }
  $<HTMLInputElement>('files').addEventListener('change', e => {
    const files = (e.target as HTMLInputElement).files;
    if (files != null && files.length > 0) {
      pickFiles(files);
    }
  });
  $('start').addEventListener('click', () => void start());
  $('pause').addEventListener('click', () => {
    if (current?.state === 'paused') {
      send({type: 'resume'});
    } else {
      send({type: 'pause'});
      setStatus('Pausing after this step…');
    }
  });
  $('stop').addEventListener('click', () => {
    send({type: 'stop'});
    setStatus('Stopping after this step…');
  });
  $('clear').addEventListener('click', () => {
    runs.splice(0, runs.length, ...runs.filter(r => r === current && (r.state === 'training' || r.state === 'paused')));
    drawCharts();
  });

  try {
    const r = await fetch('data/datasets.json');
    manifest = r.ok ? await r.json() as Manifest : null;
  } catch (e) {
    manifest = null;
  }
  updateDataNote();

  // What the browser supports is probed where training runs: in a worker.
  const probe = new Worker('worker.js');
  support = await new Promise<Record<BackendName, BackendSupport>>((resolve, reject) => {
    probe.onmessage = (e: MessageEvent<FromWorker>) => e.data.type === 'backends' ? resolve(e.data.support) :
        e.data.type === 'error' ? reject(new Error(e.data.message)) : undefined;
    probe.onerror = e => {
      e.preventDefault();
      reject(new Error(e.message || 'the training worker failed to load'));
    };
    probe.postMessage({type: 'probe'} as ToWorker);
  }).finally(() => probe.terminate());
  const select = $<HTMLSelectElement>('backend');
  for (const o of Array.from(select.options)) {
    const s = support[o.value as BackendName];
    o.textContent = s.ok ? o.value : `${o.value} (not available)`;
  }
  if (!params.has('backend')) {
    select.value = BACKENDS.find(b => b !== 'webgpu' && support![b].ok) ?? 'cpu';
  }
  const isolated = self.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (wasm runs one thread)';
  setStatus(`Ready. This page is ${isolated}.`);
  updateButtons();
  drawCharts();
  $('app').dataset.ready = 'true';
}

init().catch(e => {
  console.error(e);
  setStatus(`The demo could not start: ${(e as Error).message}`, 'error');
});
