import { waitReady, type Spawned } from './proc.ts';

/** What every engine module hands back once its server is up. */
export interface RunningEngine {
  name: string;
  version: string;
  pid: number;
  ports: Record<string, number>;
  log: string;
  /** The environment a client of this engine uses (merged into the printed env). */
  env: Record<string, string>;
  /** Ends the engine's process group and waits for it. */
  stop(): Promise<void>;
}

export interface StartContext {
  /** Where the engine keeps its config, data and log for this run. */
  home: string;
  env: NodeJS.ProcessEnv;
  progress: (message: string) => void;
  /** How long to wait for readiness. */
  timeoutMs: number;
  /** Told as soon as the engine's process exists, before it is ready, so that a stop can find it. */
  spawned?(info: SpawnedEngine): void;
}

export interface SpawnedEngine {
  name: string;
  version: string;
  pid: number;
  ports: Record<string, number>;
  log: string;
}

export const REGION = 'us-east-1';
export const BUCKET = 'floe';
export const WAREHOUSE = `s3://${BUCKET}/warehouse/`;
/** moto accepts any credentials; these only have to be the same for every client and for Nessie. */
export const ACCESS_KEY_ID = 'floe-engines';
export const SECRET_ACCESS_KEY = 'floe-engines-secret';

/**
 * Tells the context that the engine's process exists (so that a stop can find it), waits until `probe` answers and
 * `prepare` is done, and stops the engine if either fails: a half-started engine is never left running.
 */
export async function untilReady(
  ctx: StartContext,
  engine: RunningEngine,
  spawned: Spawned,
  probe: () => Promise<boolean>,
  prepare?: () => Promise<void>,
): Promise<RunningEngine> {
  const { name, version, pid, ports, log } = engine;
  ctx.spawned?.({ name, version, pid, ports, log });
  try {
    await waitReady(name, probe, { timeoutMs: ctx.timeoutMs, spawned, log, progress: ctx.progress });
    await prepare?.();
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}
