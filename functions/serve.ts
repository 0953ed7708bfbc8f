/**
 * Starts one floe function: validates the environment (a bad value stops the process with the variable named),
 * initialises the function and serves it on `PORT` until SIGTERM. Used by `functions/main.ts` (any function, chosen
 * by FLOE_FUNCTION) and by the per-function bundles `npm run build` produces.
 */
import { loadEnv, type FloeEnv } from '../shared/runtime/env.ts';
import { closeOnSignals, startHost, type FloeFunction } from '../shared/runtime/function-host.ts';
import { createLogger } from '../shared/runtime/logger.ts';

export async function serve(name: string, init: (env: FloeEnv) => Promise<FloeFunction>): Promise<void> {
  const log = createLogger({ name });
  let env: FloeEnv;
  try {
    env = loadEnv();
  } catch (err) {
    console.error(`${name}: ${(err as Error).message}`);
    process.exit(2);
  }
  try {
    const fn = await init(env);
    const host = await startHost({ fn, logger: log, port: env.port, sink: env.sink, bodyLimitBytes: env.bodyLimitBytes });
    log.info({ port: host.port, sink: env.sink ?? null }, `${name} ready`);
    closeOnSignals(host, log);
  } catch (err) {
    log.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
}
