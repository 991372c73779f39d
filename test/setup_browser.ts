/**
 * Browser test setup: registers the backends and tfjs-layers' gradients (the reverse-mode oracle).
 * karma.conf.js has esbuild inject it, so it is evaluated before every spec module (karma-esbuild
 * imports the spec files in the order in which karma happened to finish preprocessing them). It sets
 * no test configuration: the backend list comes from karma's client config (`client.fgTestBackends`,
 * read by test/util.ts testBackends), which the page has before any script runs.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-layers';
