/**
 * Where the `floe` commands find the pipeline: the same environment variables as the functions in the cluster
 * (NESSIE_URI, FLOE_WAREHOUSE, S3_*, FLOE_CONFIG, KAFKA_BROKERS), with the local stack's defaults under FLOE_HOME
 * (default `./.floe`) for anything unset.
 */
import path from 'node:path';
import { loadEnv, type FloeEnv } from '../shared/runtime/env.ts';

export const LOCAL_PORTS = { nessie: 19120, kafka: 9092, broker: 8080, dashboard: 8088, functions: 8100 } as const;

/**
 * Where the commands look for the local stack's catalog when NESSIE_URI is unset: port 19120, or
 * FLOE_LOCAL_NESSIE_PORT (for a stack started with another `--nessie-port`).
 */
export function localNessieUri(env: NodeJS.ProcessEnv = process.env): string {
  const text = env.FLOE_LOCAL_NESSIE_PORT;
  if (text === undefined || text === '') return `http://127.0.0.1:${LOCAL_PORTS.nessie}/api`;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new Error(`FLOE_LOCAL_NESSIE_PORT: expected a TCP port, got '${text}'`);
  return `http://127.0.0.1:${port}/api`;
}

export function floeHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.FLOE_HOME ?? '.floe');
}

/** The repository's pipeline config, used by the local stack unless FLOE_CONFIG says otherwise. */
export const DEFAULT_PIPELINE_CONFIG = path.resolve(import.meta.dirname, '../knative/config/pipeline.yaml');

/** Environment for a command: explicit variables win, the local stack's defaults fill the rest. */
export function localEnvVars(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const home = floeHome(env);
  return {
    ...env,
    FLOE_WAREHOUSE: env.FLOE_WAREHOUSE ?? path.join(home, 'warehouse'),
    NESSIE_URI: env.NESSIE_URI ?? localNessieUri(env),
    FLOE_CONFIG: env.FLOE_CONFIG ?? DEFAULT_PIPELINE_CONFIG,
    KAFKA_BROKERS: env.KAFKA_BROKERS ?? `127.0.0.1:${LOCAL_PORTS.kafka}`,
  };
}

export function localEnv(env: NodeJS.ProcessEnv = process.env): FloeEnv {
  return loadEnv(localEnvVars(env));
}
