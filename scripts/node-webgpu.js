// Makes the `webgpu` backend available in node through the npm package `webgpu` (dawn): defines
// navigator.gpu before tfjs-backend-webgpu loads (it registers only if navigator.gpu exists).
// On a machine with a GPU and a Vulkan loader, dawn picks the GPU; elsewhere DAWN_BACKEND=opengles
// with EGL_PLATFORM=surfaceless runs it on Mesa's llvmpipe (slowly), or it reports no adapter.
async function setupNodeWebGPU() {
  const {create, globals} = await import('webgpu');
  Object.assign(globalThis, globals);
  const flags = process.env.DAWN_BACKEND ? [`backend=${process.env.DAWN_BACKEND}`] : [];
  const gpu = create(flags);
  if (process.env.DAWN_BACKEND === 'opengles' || process.env.DAWN_BACKEND === 'opengl') {
    const request = gpu.requestAdapter.bind(gpu);
    gpu.requestAdapter = (o = {}) => request({...o, featureLevel: 'compatibility'});
  }
  Object.defineProperty(globalThis, 'navigator', {value: {gpu, userAgent: 'node'}, configurable: true, writable: true});
  const adapter = await gpu.requestAdapter();
  if (adapter == null) throw new Error('webgpu: no adapter (is a Vulkan loader installed?)');
  require('@tensorflow/tfjs-backend-webgpu');
  return adapter.info ? `${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}` : 'adapter';
}
module.exports = {setupNodeWebGPU};
