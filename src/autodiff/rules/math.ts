/** JVP rules: math kernels. */
import {JvpConfig} from '../registry';

/** JVP rules of the math kernel family. */
export const mathJvps: JvpConfig[] = [];
