#!/usr/bin/env node
// Makes the README's screenshot of the demo (docs/demo.png): in headless Chromium, trains LG-FG-A and
// then BP (M/1/16, MNIST, one epoch each, batch 128) on one backend, so both curves share the
// charts, and saves the page. About two minutes on wasm.
//
//   node scripts/screenshot-demo.mjs [--backend wasm] [--out docs/demo.png]   (after npm run build:demo)
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';


import {launchChromium, optionsOf} from './demo-browser.mjs';
import {serveDemo} from './serve-demo.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = optionsOf(args);
const backend = option('--backend', 'wasm');
const out = path.resolve(root, option('--out', 'docs/demo.png'));

const {server, url} = await serveDemo({dir: path.join(root, 'build', 'demo'), port: 0});
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1360, height: 1000});
  page.on('console', m => m.type() === 'error' && console.error(`page: ${m.text()}`));
  await page.goto(url, {waitUntil: 'load'});
  await page.waitForFunction(() => document.querySelector('#app').dataset.ready === 'true', {timeout: 60000});
  for (const mode of ['LG-FG-A', 'BP']) {
    await page.select('#preset', 'M/1/16');
    await page.select('#mode', mode);
    await page.select('#backend', backend);
    await page.select('#batch', '128');
    await page.select('#epochs', '1');
    await page.select('#eval-every', '50');
    await page.click('#start');
    await page.waitForFunction(() => document.querySelector('#start').disabled, {timeout: 60000});
    await page.waitForFunction(() => !document.querySelector('#start').disabled, {timeout: 30 * 60000, polling: 1000});
    console.log(`${mode}: ${await page.$eval('#status', el => el.textContent)}`);
  }
  await page.screenshot({path: out, fullPage: true});
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
} finally {
  await browser.close();
  server.close();
}
