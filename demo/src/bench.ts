/**
 * The demo's benchmark page (bench.html): each trial runs in a fresh training worker (so a trial
 * that runs out of memory takes nothing of the next one with it) and reports steps per second.
 * Driven by scripts/bench-demo.mjs through `window.benchTrial`; also usable by hand from the console.
 */
import {BackendName, FromWorker, ModeName, PresetName, ToWorker} from './protocol';

/** One benchmark trial. */
export interface Trial {
  backend: BackendName;
  preset: PresetName;
  mode: ModeName;
  batchSize: number;
  steps: number;
  warmup: number;
  /** Measure the peak tensor memory (tf.profile) of the timed steps. */
  profile?: boolean;
}

/** The result of a trial: steps per second, or why it failed. */
export type TrialResult = Extract<FromWorker, {type: 'bench'}>;

function benchTrial(trial: Trial): Promise<TrialResult> {
  const worker = new Worker('worker.js');
  return new Promise<TrialResult>(resolve => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (e.data.type === 'bench') {
        resolve(e.data);
      } else if (e.data.type === 'error') {
        resolve({type: 'bench', ok: false, error: e.data.message, stepsPerSecond: 0, memory: {numTensors: 0, numBytes: 0}});
      }
    };
    worker.onerror = e => {
      e.preventDefault();
      resolve({type: 'bench', ok: false, error: e.message || 'worker error', stepsPerSecond: 0,
               memory: {numTensors: 0, numBytes: 0}});
    };
    const m: ToWorker = {type: 'bench', ...trial};
    worker.postMessage(m);
  }).then(result => {
    worker.terminate();
    const line = document.createElement('li');
    line.textContent = `${trial.backend} ${trial.preset} ${trial.mode} batch ${trial.batchSize}: ` +
        (result.ok ? `${result.stepsPerSecond.toFixed(2)} steps/s` +
                     (result.peakBytes != null ? `, peak ${(result.peakBytes / 2 ** 20).toFixed(0)} MB of tensors` : '') :
                     `failed: ${result.error}`);
    document.getElementById('results')!.appendChild(line);
    return result;
  });
}

(window as unknown as {benchTrial: typeof benchTrial}).benchTrial = benchTrial;
document.getElementById('state')!.textContent = `ready (${self.crossOriginIsolated ? '' : 'not '}cross-origin isolated)`;
document.body.dataset.ready = 'true';
