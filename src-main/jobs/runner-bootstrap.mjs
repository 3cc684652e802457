// Starts the TypeScript model-runner worker from source (CLI, tests, development): registers
// tsx's loader in this worker thread, then loads the worker. A bundled build starts the
// compiled runner-worker.js directly instead.
import { register } from 'tsx/esm/api';

register();
await import('./runner-worker.ts');
