/**
 * Browser test setup (karma loads it before the specs): the same specs as in node, on the webgl and
 * cpu backends. Prints the counts in the CI's `N passed, N failed` form at the end.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-layers';

(globalThis as unknown as {__FG_TEST_BACKENDS: string[]}).__FG_TEST_BACKENDS = ['webgl', 'cpu'];
