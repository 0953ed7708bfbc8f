/**
 * The process entry of every floe function: `FLOE_FUNCTION=<name>` picks the function, the environment configures
 * it (validated at start: a bad value stops the process with the variable named), and the host serves it on `PORT`.
 * In the cluster this is the container's command; the local stack starts the same entry once per function.
 */
import { closeOnSignals, startHost } from '../shared/runtime/host.ts';
import { loadEnv } from '../shared/runtime/env.ts';
import { createLogger } from '../shared/runtime/log.ts';
import { FUNCTIONS, loadFunction } from './registry.ts';

async function main(): Promise<void> {
  const name = process.env.FLOE_FUNCTION;
  if (!name || !(FUNCTIONS as readonly string[]).includes(name)) {
    console.error(`FLOE_FUNCTION must name one of: ${FUNCTIONS.join(', ')} (got ${name === undefined ? 'nothing' : `'${name}'`})`);
    process.exit(2);
  }
  let env;
  try {
    env = loadEnv();
  } catch (err) {
    console.error(`${name}: ${(err as Error).message}`);
    process.exit(2);
  }
  const { fn, log } = await loadFunction(name as (typeof FUNCTIONS)[number], env);
  const host = await startHost({ fn, logger: log, port: env.port, sink: env.sink, bodyLimitBytes: env.bodyLimitBytes });
  log.info({ port: host.port, sink: env.sink ?? null }, `${name} ready`);
  closeOnSignals(host, log);
}

main().catch((err) => {
  createLogger({ name: 'floe' }).fatal({ err }, 'function failed to start');
  process.exit(1);
});
