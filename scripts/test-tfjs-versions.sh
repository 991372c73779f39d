#!/usr/bin/env bash
# The peer range (>=4.20.0 <5) tested: for each tfjs version in TFJS_VERSIONS (default 4.20.0 4.21.0
# 4.22.0) a fresh project gets `npm install @tensorflow/tfjs@<version>`, then `npm install <tarball>`
# (npm's registry / cache), and a smoke test: one copy of tfjs-core and -layers (npm ls), no two-copies warning at
# import, `jvp` against its exact value, and an FG-A `model.fit` without callbacks whose loss falls.
# OUTSIDE=4.19.0 also checks a version outside the range, installed in one command with the tarball
# (npm then nests a second tfjs-core): the package must warn at import, naming both versions. TARBALL=path reuses a packed tarball (else `npm pack` builds one).
# Ends with `tfjs versions: N passed, N failed`.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VERSIONS="${TFJS_VERSIONS:-4.20.0 4.21.0 4.22.0}"
WORK="$(mktemp -d /tmp/fg-tfjs.XXXXXX)"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; else echo "projects kept in $WORK"; fi
NPM_FLAGS=(--no-audit --no-fund --prefer-offline --loglevel=error)
passed=0; failed=0

if [ -z "${TARBALL:-}" ]; then
  (cd "$HERE" && npm pack --pack-destination "$WORK" --silent >"$WORK/pack.log" 2>&1) || {
    echo "FAIL: npm pack"; tail -n 30 "$WORK/pack.log"; echo "tfjs versions: 0 passed, 1 failed"; exit 1; }
  TARBALL="$(ls "$WORK"/tfjs-forward-gradient-*.tgz)"
fi

cat > "$WORK/smoke.js" <<'EOF'
// args: expected tfjs version, 'in' (no warning expected) or 'out' (the two-copies warning expected)
const [version, range] = process.argv.slice(2);
const warnings = [];
const warn = console.warn;
console.warn = (...a) => { warnings.push(a.join(' ')); };
const tf = require('@tensorflow/tfjs');
const fg = require('tfjs-forward-gradient');
console.warn = warn;
const copies = warnings.filter(w => w.includes('two copies of TensorFlow.js'));
if (range === 'out') {
  if (copies.length !== 1 || !copies[0].includes(version) || !copies[0].includes('npm install @tensorflow/tfjs@')) {
    throw new Error(`expected one two-copies warning naming ${version}, got: ${JSON.stringify(warnings)}`);
  }
  console.log(`warned: ${copies[0]}`);
  process.exit(0);
}
if (copies.length > 0) throw new Error(`unexpected warning: ${copies[0]}`);
if (tf.version_core !== version) throw new Error(`tfjs-core ${tf.version_core}, expected ${version}`);
(async () => {
  const {value, tangent} = fg.jvp(x => tf.sum(tf.square(x)), [tf.tensor1d([1, 2, 3])], [tf.tensor1d([1, 0, 0])]);
  if (value.dataSync()[0] !== 14 || tangent.dataSync()[0] !== 2) throw new Error('jvp: wrong value');
  const labels = tf.tensor1d(Array.from({length: 256}, (_, i) => i % 3), 'int32');
  const xs = tf.add(tf.gather(tf.tensor2d([[2, 0], [-1, 1.7], [-1, -1.7]]), labels), tf.randomNormal([256, 2], 0, 0.7, 'float32', 1));
  const ys = tf.oneHot(labels, 3);
  const model = tf.sequential({layers: [tf.layers.dense({inputShape: [2], units: 16, activation: 'relu'}),
                                        tf.layers.dense({units: 3, activation: 'softmax'})]});
  model.compile({optimizer: fg.optimizers.forwardGradient({perturb: 'activity', learningRate: 0.05, seed: 1}),
                 loss: 'categoricalCrossentropy'});
  const h = await model.fit(xs, ys, {epochs: 5, batchSize: 32, verbose: 0});
  const loss = h.history.loss;
  if (!(loss[4] < loss[0])) throw new Error(`FG-A did not train: ${loss}`);
  console.log(`tfjs ${tf.version_core}: jvp ok, FG-A loss ${loss[0].toFixed(3)} -> ${loss[4].toFixed(3)}`);
})().catch(e => { console.error(e); process.exit(1); });
EOF

run_version() {  # run_version VERSION in|out
  local v="$1" range="$2" dir="$WORK/tfjs-$1"
  mkdir -p "$dir" && cd "$dir" || return 1
  npm init -y >/dev/null
  # a project on that tfjs, then the package (one command naming both would let npm pick the newest
  # tfjs-core in the peer range for the package and nest the project's own below @tensorflow/tfjs)
  if [ "$range" = in ]; then
    npm install "${NPM_FLAGS[@]}" "@tensorflow/tfjs@$v" && npm install "${NPM_FLAGS[@]}" "$TARBALL" || return 1
  else
    # (outside the range, a second install is refused by npm itself (ERESOLVE); in one command npm
    # nests a second tfjs-core, which the package must report)
    npm install "${NPM_FLAGS[@]}" "$TARBALL" "@tensorflow/tfjs@$v" || return 1
  fi
  if [ "$range" = in ]; then
    for p in @tensorflow/tfjs-core @tensorflow/tfjs-layers; do
      n="$(npm ls "$p" --all --parseable 2>/dev/null | sort -u | wc -l)"
      [ "$n" = 1 ] || { echo "$p: $n copies"; npm ls "$p" --all; return 1; }
    done
  fi
  cp "$WORK/smoke.js" . && node smoke.js "$v" "$range"
}

for v in $VERSIONS ${OUTSIDE:+$OUTSIDE}; do
  range=in; [ "$v" = "${OUTSIDE:-}" ] && range=out
  if (run_version "$v" "$range") >"$WORK/$v.log" 2>&1; then
    echo "pass: tfjs $v ($range of range): $(tail -n 1 "$WORK/$v.log")"; passed=$((passed + 1))
  else
    echo "FAIL: tfjs $v ($range of range):"; tail -n 15 "$WORK/$v.log" | sed 's/^/    /'; failed=$((failed + 1))
  fi
done
echo "tfjs versions: $passed passed, $failed failed"
[ "$failed" = 0 ]
