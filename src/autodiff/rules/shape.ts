/** JVP rules: shape kernels. */
import {JvpConfig} from '../registry';

/** JVP rules of the shape kernel family. */
export const shapeJvps: JvpConfig[] = [];
