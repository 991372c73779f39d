/** JVP rules: nondiff kernels. */
import {JvpConfig} from '../registry';

/** JVP rules of the nondiff kernel family. */
export const nondiffJvps: JvpConfig[] = [];
