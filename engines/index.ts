/**
 * The real engines for tests: Apache Kafka, a Nessie server and an S3 server (moto), fetched into a cache outside the
 * repository and started on free loopback ports, each detached in its own process group. `startEngines` is what the
 * `engines` command and a test setup call; it records what it started in `<home>/state.json` as it goes, so that
 * `stopEngines` (or `npm run engines -- stop`, from another process) finds every process even after a failed start.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot } from './cache.ts';
import type { RunningEngine, SpawnedEngine, StartContext } from './engine.ts';
import { fetchKafka, KAFKA_VERSION, startKafka } from './kafka.ts';
import { fetchNessie, NESSIE_VERSION, startNessie } from './nessie.ts';
import { groupAlive, stopGroup, type Progress } from './proc.ts';
import { fetchMoto, MOTO_VERSION, startS3 } from './s3.ts';

export const ENGINE_NAMES = ['kafka', 'nessie', 's3'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** The order in which env variables are printed. */
const ENV_ORDER = [
  'KAFKA_BROKERS',
  'NESSIE_URI',
  'NESSIE_ICEBERG_URI',
  'FLOE_WAREHOUSE',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_FORCE_PATH_STYLE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
];

export interface EngineState extends SpawnedEngine {
  status: 'starting' | 'ready';
}

export interface EnginesState {
  home: string;
  cache: string;
  startedAt: string;
  engines: Partial<Record<EngineName, EngineState>>;
  env: Record<string, string>;
}

export interface StartOptions {
  /** Which engines (default: all). */
  engines?: readonly EngineName[];
  /** Config, data, logs and state of this run (default `${FLOE_ENGINES_HOME:-.floe/engines}`). */
  home?: string;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** Readiness timeout per engine (default 120 s: a cold JVM on a busy machine). */
  timeoutMs?: number;
}

export interface Engines {
  env: Record<string, string>;
  state: EnginesState;
  stop(): Promise<void>;
}

export function enginesHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.FLOE_ENGINES_HOME || path.join('.floe', 'engines'));
}

const stateFile = (home: string) => path.join(home, 'state.json');

export function readState(home: string): EnginesState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(home), 'utf8')) as EnginesState;
  } catch {
    return undefined;
  }
}

function writeState(state: EnginesState): void {
  mkdirSync(state.home, { recursive: true });
  const file = stateFile(state.home);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
}

/** The engines of a state whose process groups are still alive. */
export function aliveEngines(state: EnginesState): EngineName[] {
  return (Object.keys(state.engines) as EngineName[]).filter((name) => groupAlive(state.engines[name]!.pid));
}

export function orderedEnv(env: Record<string, string>): [string, string][] {
  const rank = (k: string) => (ENV_ORDER.includes(k) ? ENV_ORDER.indexOf(k) : ENV_ORDER.length);
  return Object.entries(env).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Fetches (if not cached) and starts the engines; on any failure stops what it started and rethrows. */
export async function startEngines(options: StartOptions = {}): Promise<Engines> {
  const env = options.env ?? process.env;
  const home = path.resolve(options.home ?? enginesHome(env));
  const wanted = new Set(options.engines ?? ENGINE_NAMES);
  const progress = options.progress ?? (() => undefined);
  if (wanted.has('nessie') && !wanted.has('s3') && !env.S3_ENDPOINT) {
    throw new Error('nessie needs an S3 server for its warehouse: start s3 with it, or set S3_ENDPOINT');
  }
  const previous = readState(home);
  if (previous) {
    const alive = aliveEngines(previous);
    if (alive.length)
      throw new Error(`engines already running from ${stateFile(home)} (${alive.join(', ')}): stop them first`);
  }
  const state: EnginesState = {
    home,
    cache: cacheRoot(env),
    startedAt: new Date().toISOString(),
    engines: {},
    env: {},
  };
  writeState(state);
  const running: RunningEngine[] = [];
  const ctx: StartContext = {
    home,
    env,
    progress,
    timeoutMs: options.timeoutMs ?? 120_000,
    spawned(info) {
      state.engines[info.name as EngineName] = { ...info, status: 'starting' };
      writeState(state);
    },
  };
  const ready = (engine: RunningEngine) => {
    running.push(engine);
    state.engines[engine.name as EngineName]!.status = 'ready';
    Object.assign(state.env, engine.env);
    state.env = Object.fromEntries(orderedEnv(state.env));
    writeState(state);
    return engine;
  };
  const stop = async () => {
    await Promise.all(running.map((e) => e.stop()));
    // Engines spawned but not ready yet have already been stopped by their own start; this catches any left.
    await stopEngines(home);
  };
  try {
    // Everything is fetched before anything starts: a download that fails should not leave servers behind, and the
    // downloads overlap (they wait on the network, not on the two cores). One failing lets the others finish into
    // the cache.
    throwIfAnyFailed(
      await Promise.allSettled([
        wanted.has('kafka') ? fetchKafka(KAFKA_VERSION, { env, progress }) : undefined,
        wanted.has('s3') ? fetchMoto(MOTO_VERSION, { env, progress }) : undefined,
        wanted.has('nessie') ? fetchNessie(NESSIE_VERSION, { env, progress }) : undefined,
      ]),
    );
    // Nessie needs the S3 endpoint; moto is up in about a second, so start it first and the JVMs side by side.
    // Both are awaited even when one fails, so that nothing is still being spawned while the stop below runs.
    const s3 = wanted.has('s3') ? ready(await startS3(ctx)) : undefined;
    const results = await Promise.allSettled([
      wanted.has('kafka') ? startKafka(ctx).then(ready) : undefined,
      wanted.has('nessie')
        ? startNessie(ctx, { s3Endpoint: (s3?.env.S3_ENDPOINT ?? env.S3_ENDPOINT)! }).then(ready)
        : undefined,
    ]);
    throwIfAnyFailed(results);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { env: { ...state.env }, state, stop };
}

function throwIfAnyFailed(results: PromiseSettledResult<unknown>[]): void {
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length === 1) throw failed[0].reason;
  if (failed.length > 1) throw new Error(failed.map((f) => (f.reason as Error).message).join('\n\n'));
}

/** Stops every engine recorded in `<home>/state.json` (SIGTERM to its group, SIGKILL after a grace period). */
export async function stopEngines(
  home: string = enginesHome(),
  progress?: Progress,
): Promise<{ name: string; result: string }[]> {
  const state = readState(home);
  if (!state) return [];
  const results = await Promise.all(
    (Object.keys(state.engines) as EngineName[]).map(async (name) => {
      const result = await stopGroup(state.engines[name]!.pid);
      progress?.(`${name}: ${result} (pid ${state.engines[name]!.pid})`);
      return { name, result };
    }),
  );
  if (existsSync(stateFile(home))) rmSync(stateFile(home));
  return results;
}
