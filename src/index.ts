// The package's entry point: the public API (api.ts) by name, and the same
// namespace as the default export, so that `import batchgram from 'batchgram'`
// works alike from ESM, from CommonJS, and from TypeScript compiled either way,
// with or without esModuleInterop.
export * from './api';
import * as batchgram from './api';
export default batchgram;
