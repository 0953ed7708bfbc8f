/**
 * The embedded Nessie-compatible server (REST API v2 subset, durable on disk) that floe runs on one machine and in
 * tests: `const nessie = await startNessieServer({ dataDir })`, then `createNessieClient({ uri: nessie.uri })`.
 */
export { startNessieServer } from './server.ts';
export type { NessieServerOptions, RunningNessieServer } from './server.ts';
export { inspectNessieDirectory } from './store.ts';
export type { NessieDirectoryState } from './store.ts';
