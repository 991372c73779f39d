#!/usr/bin/env bash
# The GPU device check (run through ../shared/device: `bash .device/gpu-run.sh bash scripts/device-check.sh`
# with `.device` and `build` carried): forward-mode agreement with cpu on WebGPU, and the jvp and
# training-step benchmarks on WebGPU, each printed to $OUT.
set -u
out=${OUT:-/tmp/fg-device}
mkdir -p "$out"
run() { local name=$1 limit=$2; shift 2; echo "== $*" | tee -a "$out/summary.txt";
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1; echo "exit $?" >> "$out/$name.txt"; tail -3 "$out/$name.txt" >> "$out/summary.txt"; }
run agreement 150 node build/bench/agreement.js --backend webgpu
run noise 60 node build/bench/noise.js --backend webgpu
run jvp 200 node build/bench/jvp.js --backends webgpu --no-jaxjs
[ -f build/bench/step.js ] && run step 200 node build/bench/step.js --backends webgpu
cat "$out/summary.txt"
