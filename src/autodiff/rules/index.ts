/** Registers every built-in JVP rule (the counterpart of tfjs's register_all_gradients). */
import {registerJvpConfigs} from '../registry';

import {activationsJvps} from './activations';
import {convJvps} from './conv';
import {mathJvps} from './math';
import {matmulJvps} from './matmul';
import {nondiffJvps} from './nondiff';
import {reductionsJvps} from './reductions';
import {shapeJvps} from './shape';

/** Every built-in rule, family by family. */
export const builtinJvps = [
  ...mathJvps, ...activationsJvps, ...matmulJvps, ...convJvps, ...reductionsJvps, ...shapeJvps,
  ...nondiffJvps,
];

registerJvpConfigs(builtinJvps);
