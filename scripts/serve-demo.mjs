#!/usr/bin/env node
// Serves the built demo (build/demo) over HTTP with the cross-origin-isolation headers
// (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp) that let
// tfjs-backend-wasm use threads. Static files only, GET/HEAD, no directory listing.
//
//   node scripts/serve-demo.mjs [--dir build/demo] [--port 8080] [--host 127.0.0.1]
// Also imported by the browser test and the benchmark: `await serveDemo({dir, port: 0})`.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';

import {optionsOf} from './demo-browser.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.gz': 'application/gzip',
};

/** Starts the server; resolves to {server, url} once it listens (port 0: any free port). */
export function serveDemo({dir, port = 8080, host = '127.0.0.1'}) {
  const rootDir = path.resolve(dir);
  if (!fs.existsSync(path.join(rootDir, 'index.html'))) {
    throw new Error(`serve-demo: ${rootDir} has no index.html: build the demo first (npm run build:demo).`);
  }
  const server = http.createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch (e) {
      res.writeHead(400, headers).end();
      return;
    }
    const file = path.join(rootDir, pathname.endsWith('/') ? `${pathname}index.html` : pathname);
    if (file !== rootDir && !file.startsWith(rootDir + path.sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    fs.stat(file, (err, stat) => {
      if (err != null || !stat.isFile()) {
        res.writeHead(404, {...headers, 'Content-Type': 'text/plain'}).end(`not found: ${pathname}\n`);
        return;
      }
      res.writeHead(200, {
        ...headers,
        'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'Content-Length': stat.size,
      });
      if (req.method === 'HEAD') {
        res.end();
      } else {
        fs.createReadStream(file).pipe(res);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const {port: actual} = server.address();
      resolve({server, url: `http://${host}:${actual}/`});
    });
  });
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const option = optionsOf(args);
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  try {
    const {url} = await serveDemo({dir: path.resolve(root, option('--dir', 'build/demo')),
                                   port: Number(option('--port', process.env.PORT ?? 8080)),
                                   host: option('--host', '127.0.0.1')});
    console.log(`demo: ${url}  (cross-origin isolated; Ctrl-C stops)`);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
