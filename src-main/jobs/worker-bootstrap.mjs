// Starts the TypeScript engine worker from source (CLI, tests, development): registers tsx's
// loader in this worker thread, then loads the worker. Bundled builds start the compiled
// engine-worker.js directly instead.
import { register } from 'tsx/esm/api';

register();
await import('./engine-worker.ts');
