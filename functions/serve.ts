/**
 * Starts one floe function: validates the environment (a bad value stops the process with the variable named),
 * initialises the function and serves it on `PORT` until SIGTERM. Used by `functions/main.ts` (any function, chosen
 * by FLOE_FUNCTION) and by the per-function bundles `npm run build` produces.
 *
 * FLOE_EXIT_WITH_PARENT=1 (set by the local stack, never in the cluster): stdin is a pipe from the parent, and its end
 * means the parent is gone — Node has no parent-death signal, but the kernel closes the pipe however the parent died.
 */
import { loadEnv, type FloeEnv } from '../shared/runtime/env.ts';
import { closeOnSignals, startHost, type FloeFunction } from '../shared/runtime/function-host.ts';
import { createLogger, type Logger } from '../shared/runtime/logger.ts';

/** Grace for in-flight requests once the parent is gone; whatever they would reply to died with it. */
const ORPHAN_GRACE_MS = 5000;

function exitWithParent(log: Logger): void {
  const gone = () => {
    log.warn('the parent process is gone (stdin closed): shutting down');
    setTimeout(() => process.exit(1), ORPHAN_GRACE_MS).unref();
    // The same graceful path as SIGTERM (closeOnSignals), bounded by the timer above.
    process.kill(process.pid, 'SIGTERM');
  };
  process.stdin.once('end', gone);
  process.stdin.once('error', gone);
  process.stdin.resume();
}

export async function serve(name: string, init: (env: FloeEnv) => Promise<FloeFunction>): Promise<void> {
  let env: FloeEnv;
  try {
    env = loadEnv();
  } catch (err) {
    console.error(`${name}: ${(err as Error).message}`);
    process.exit(2);
  }
  const log = createLogger({ name, level: env.logLevel, format: env.logFormat });
  // Before init: a parent that dies while the function starts must not leave it behind either.
  if (env.exitWithParent) exitWithParent(log);
  try {
    const fn = await init(env);
    const host = await startHost({
      fn,
      logger: log,
      port: env.port,
      sink: env.sink,
      bodyLimitBytes: env.bodyLimitBytes,
    });
    log.info({ port: host.port, sink: env.sink ?? null }, `${name} ready`);
    closeOnSignals(host, log);
  } catch (err) {
    log.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
}
