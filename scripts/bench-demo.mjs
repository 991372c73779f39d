#!/usr/bin/env node
// Browser benchmark of the demo (build/demo/bench.html in headless Chromium): for each backend and
// mode, steps per second of the LocalMixer at one batch size, and the largest batch that trains
// (batch sizes doubled until a step fails — out of memory, a texture too large, a crashed tab — or
// until a trial takes longer than --trial-seconds, or --max-batch is reached: then the table says
// "≥"). Each trial runs in a fresh worker; a crashed tab is replaced by a new one.
//
//   node scripts/bench-demo.mjs [--backends webgl,wasm] [--modes LG-FG-A,BP] [--preset M/1/16]
//        [--batch 128] [--steps 10] [--warmup 3] [--start-batch 1024] [--max-batch 131072]
//        [--trial-seconds 120] [--no-search] [--profile] [--json FILE]
// A search trial is one step in a new worker; it reports the memory the backend holds after the
// step (wasm: its heap, which never shrinks, max 4 GiB; webgl: all its textures, freed ones pooled), and
// with --profile the peak bytes of live tensors by tfjs's count (tf.profile, which slows the step).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';


import {launchChromium, optionsOf} from './demo-browser.mjs';
import {serveDemo} from './serve-demo.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = optionsOf(args);
const backends = option('--backends', 'webgl,wasm').split(',');
const modes = option('--modes', 'LG-FG-A,BP').split(',');
const preset = option('--preset', 'M/1/16');
const batch = Number(option('--batch', 128));
const steps = Number(option('--steps', 10));
const warmup = Number(option('--warmup', 3));
const startBatch = Number(option('--start-batch', 1024));
const maxBatch = Number(option('--max-batch', 131072));
const trialSeconds = Number(option('--trial-seconds', 120));
const search = !args.includes('--no-search');
const profile = args.includes('--profile');
const jsonFile = path.resolve(root, option('--json', 'build/bench-demo.json'));

const {server, url} = await serveDemo({dir: path.join(root, 'build', 'demo'), port: 0});
const browser = await launchChromium({protocolTimeout: 30 * 60 * 1000});
let page = null;

async function openPage() {
  page = await browser.newPage();
  await page.goto(`${url}bench.html`, {waitUntil: 'load'});
  await page.waitForFunction(() => document.body.dataset.ready === 'true', {timeout: 60000});
}

/** One trial in a fresh worker; a crashed tab or a timeout count as failures. */
async function trial(t, timeoutSeconds) {
  if (page == null) {
    await openPage();
  }
  let timer;
  const timeout = new Promise(resolve => timer = setTimeout(
      () => resolve({ok: false, timedOut: true, error: `longer than ${timeoutSeconds} s`}), timeoutSeconds * 1000));
  const crash = new Promise(resolve => page.once('error', e => resolve({ok: false, crashed: true, error: `tab crashed: ${e.message}`})));
  const run = page.evaluate(t => window.benchTrial(t), t).catch(e => ({ok: false, crashed: true, error: e.message}));
  const t0 = Date.now();
  const result = await Promise.race([run, timeout, crash]);
  clearTimeout(timer);
  result.seconds = (Date.now() - t0) / 1000;
  if (result.crashed || result.timedOut) {
    await page.close().catch(() => {});
    page = null;
  }
  return result;
}

const results = [];
const t0 = Date.now();
try {
  for (const backend of backends) {
    for (const mode of modes) {
      const speed = await trial({backend, preset, mode, batchSize: batch, steps, warmup}, 600);
      const row = {backend, mode, preset, batch, stepsPerSecond: speed.ok ? speed.stepsPerSecond : null,
                   speedError: speed.ok ? null : speed.error, maxBatch: null, maxBatchBound: null, peakBytes: null,
                   heldBytes: null, limit: null};
      console.log(`${backend} ${mode} ${preset} batch ${batch}: ${speed.ok ? `${speed.stepsPerSecond.toFixed(2)} steps/s` : speed.error}`);
      if (search) {
        for (let b = startBatch; b <= maxBatch; b *= 2) {
          const r = await trial({backend, preset, mode, batchSize: b, steps: 1, warmup: 0, profile}, trialSeconds);
          const mb = x => `${(x / 2 ** 20).toFixed(0)} MB`;
          const held = r.heapBytes != null ? `, wasm heap ${mb(r.heapBytes)}` :
              r.memory?.numBytesInGPUAllocated != null ? `, webgl textures ${mb(r.memory.numBytesInGPUAllocated)}` : '';
          console.log(`  batch ${b}: ${r.ok ? `ok (${r.seconds.toFixed(1)} s${r.peakBytes != null ? `, peak ${mb(r.peakBytes)} of tensors` : ''}${held})` : r.error}`);
          if (r.ok) {
            row.maxBatch = b;
            row.peakBytes = r.peakBytes ?? null;
            row.heldBytes = r.heapBytes ?? r.memory?.numBytesInGPUAllocated ?? null;
            if (b * 2 > maxBatch) {
              row.maxBatchBound = '≥';
              row.limit = `search capped at ${maxBatch}`;
            }
          } else {
            row.maxBatchBound = r.timedOut ? '≥' : '';
            row.limit = r.timedOut ? `batch ${b} took over ${trialSeconds} s` : `batch ${b}: ${r.error}`;
            break;
          }
        }
      }
      results.push(row);
    }
  }
} finally {
  await browser.close();
  server.close();
}

const cpus = os.cpus();
const meta = {date: new Date().toISOString(), chromium: await (async () => browser.version)(), cpus: cpus.length,
              cpu: cpus[0]?.model ?? '?', loadavg: os.loadavg().map(l => +l.toFixed(2)), seconds: (Date.now() - t0) / 1000};
fs.mkdirSync(path.dirname(jsonFile), {recursive: true});
fs.writeFileSync(jsonFile, JSON.stringify({meta, args, results}, null, 2));
console.log(`\n${meta.cpus} cpus (${meta.cpu}), load average ${meta.loadavg.join(' ')}, ${meta.seconds.toFixed(0)} s\n`);
console.log(`| backend | mode | steps/s (batch ${batch}) | largest batch that trains | memory held there | per example | ` +
            `${profile ? 'peak tensor bytes (tf.profile) | ' : ''}what stopped the search |`);
console.log(`|---|---|---:|---:|---:|---:|${profile ? '---:|' : ''}---|`);
for (const r of results) {
  const held = r.heldBytes != null ? `${(r.heldBytes / 2 ** 20).toFixed(0)} MB` : '';
  const perExample = r.heldBytes != null ? `${(r.heldBytes / r.maxBatch / 1024).toFixed(1)} KB` : '';
  const peak = profile ? `${r.peakBytes != null ? `${(r.peakBytes / 2 ** 20).toFixed(0)} MB` : ''} | ` : '';
  console.log(`| ${r.backend} | ${r.mode} | ${r.stepsPerSecond?.toFixed(2) ?? r.speedError} | ` +
              `${r.maxBatch == null ? (search ? `< ${startBatch}` : '') : `${r.maxBatchBound ?? ''}${r.maxBatch}`} | ` +
              `${held} | ${perExample} | ${peak}${r.limit ?? ''} |`);
}
for (const b of backends) {
  const fgRow = results.find(r => r.backend === b && r.mode === 'LG-FG-A'), bp = results.find(r => r.backend === b && r.mode === 'BP');
  if (fgRow?.stepsPerSecond && bp?.stepsPerSecond) {
    console.log(`${b}: LG-FG-A / BP steps per second = ${(fgRow.stepsPerSecond / bp.stepsPerSecond).toFixed(2)}`);
  }
}
