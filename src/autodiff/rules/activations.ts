/** JVP rules: activations kernels. */
import {JvpConfig} from '../registry';

/** JVP rules of the activations kernel family. */
export const activationsJvps: JvpConfig[] = [];
