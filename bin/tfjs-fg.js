#!/usr/bin/env node
'use strict';
// The `tfjs-fg` command: runs the compiled CLI, the rollup bundle dist/cli.js (`npm run build`), or
// else the tsc test build build/src/cli/main.js (`npm run build:test`).
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const candidates = [path.join(root, 'dist', 'cli.js'), path.join(root, 'build', 'src', 'cli', 'main.js')];
const entry = candidates.find(f => fs.existsSync(f));
if (entry == null) {
  process.stderr.write(`tfjs-fg: the CLI is not built (no ${candidates.join(' nor ')}): run \`npm run build\`.\n`);
  process.exit(1);
}
require(entry).main(process.argv.slice(2)).then(code => process.exit(code), e => {
  process.stderr.write(`tfjs-fg: ${(e && e.stack) || e}\n`);
  process.exit(1);
});
