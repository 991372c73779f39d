#!/usr/bin/env bash
# `npm test` after the build: the node suite (cpu + wasm) and the browser suite (karma, webgl + cpu)
# run side by side — the first is one node thread, the second mostly Chromium's SwiftShader threads,
# so together they take little more than the browser suite alone — then the demo page test, alone
# (it times pauses). The node suite's output is printed when it ends. Exits 1 if any failed.
set -u
cd "$(dirname "$0")/.."
mkdir -p build/test-results
node_log=build/test-results/node.log
npm run --silent test:node >"$node_log" 2>&1 &
node_pid=$!
npm run test:browser
browser=$?
wait "$node_pid"
node=$?
echo '--- node suite (ran beside the browser suite):'
cat "$node_log"
npm run test:demo
demo=$?
[ "$node" -eq 0 ] && [ "$browser" -eq 0 ] && [ "$demo" -eq 0 ]
