/**
 * What a function process builds once at start from its environment: logger, storage, the Nessie-backed catalog.
 */
import { createNessieClient } from '../catalog/nessie/index.ts';
import type { Catalog } from '../catalog/table-catalog.ts';
import type { FileIO } from '../storage/file-io.ts';
import { loadEnv, warehouseIO, type FloeEnv } from './env.ts';
import { createLogger, type Logger } from './logger.ts';

export interface Runtime {
  env: FloeEnv;
  log: Logger;
  io: FileIO;
  catalog: Catalog;
}

export function createRuntime(name: string, env: FloeEnv = loadEnv()): Runtime {
  const log = createLogger({ name, level: env.logLevel, format: env.logFormat });
  const io = warehouseIO(env);
  const client = createNessieClient({ uri: env.nessieUri, ...(env.nessieToken ? { token: env.nessieToken } : {}) });
  return { env, log, io, catalog: { client, io, warehouse: env.warehouse, author: env.author } };
}
