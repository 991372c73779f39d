/** JVP rules: conv kernels. */
import {JvpConfig} from '../registry';

/** JVP rules of the conv kernel family. */
export const convJvps: JvpConfig[] = [];
