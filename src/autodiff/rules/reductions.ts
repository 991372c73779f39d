/** JVP rules: reductions kernels. */
import {JvpConfig} from '../registry';

/** JVP rules of the reductions kernel family. */
export const reductionsJvps: JvpConfig[] = [];
