/**
 * Saving and loading models in node without tfjs-node: `fg.io.fileSystem(path)` for `model.save`
 * and `tf.loadLayersModel`.
 */
export {fileSystem} from './file_system';
