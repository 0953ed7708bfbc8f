/**
 * Which catalog a command talks to. NESSIE_URI when set (never anything else: the user named it). Otherwise the local
 * stack's catalog if it answers — the running stack owns the files — and when it does not (the stack has stopped),
 * the embedded catalog's files under FLOE_HOME/nessie, opened in this process: read-only for commands that only read,
 * so nothing under that directory changes, and locked like the server does for commands that write.
 */
import path from 'node:path';
import { createNessieClient, type NessieClientOptions } from '../shared/catalog/nessie/index.ts';
import type { Catalog } from '../shared/catalog/table-catalog.ts';
import { loadEnv, checkNessieUri, warehouseIO, type FloeEnv } from '../shared/runtime/env.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import type { FileIO } from '../shared/storage/index.ts';
import { inspectNessieDirectory, startNessieServer } from '../local/nessie/index.ts';
import { floeHome, localEnvVars, localNessieUri } from './local-env.ts';

/** What `--json` output reports as `catalog`. */
export type CatalogSource =
  | { kind: 'uri'; uri: string; from: 'NESSIE_URI' | 'local stack' }
  | { kind: 'directory'; directory: string; readOnly: boolean; notAnswering: string; heldByPid?: number };

export interface CommandCatalog {
  catalog: Catalog;
  /** The environment with NESSIE_URI pointing at the catalog in use. */
  env: FloeEnv;
  /** One line saying which catalog is used (also printed on stderr when opened). */
  describe: string;
  source: CatalogSource;
  close(): Promise<void>;
}

export interface OpenCatalogOptions {
  /** `read`: the command changes nothing in the catalog; `write`: it commits. */
  access: 'read' | 'write';
  /** Storage for the catalog's files (default: the warehouse's). */
  io?: FileIO;
  client?: Pick<NessieClientOptions, 'retries' | 'timeoutMs'>;
}

/** How long the local stack gets to answer before the command reads its files instead. */
const PROBE_TIMEOUT_MS = 1_500;

async function answers(uri: string): Promise<boolean> {
  try {
    const response = await fetch(`${uri}/v2/config`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export async function openCommandCatalog(options: OpenCatalogOptions): Promise<CommandCatalog> {
  const vars = localEnvVars();
  const explicit = process.env.NESSIE_URI !== undefined;
  const localUri = explicit ? vars.NESSIE_URI! : localNessieUri();
  if (explicit) checkNessieUri(localUri);
  let source: CatalogSource;
  let describe: string;
  let close = async () => {};
  let uri = localUri;
  if (explicit) {
    source = { kind: 'uri', uri, from: 'NESSIE_URI' };
    describe = `${uri} (NESSIE_URI)`;
  } else if (await answers(localUri)) {
    source = { kind: 'uri', uri, from: 'local stack' };
    describe = `${uri} (the local stack)`;
  } else {
    const directory = path.join(floeHome(), 'nessie');
    const state = await inspectNessieDirectory(directory);
    if (!state.repository) {
      throw new Error(
        `no catalog answers at ${localUri} and ${directory} holds none (nothing answers there: start the local stack with \`npm start\`, or set NESSIE_URI / FLOE_HOME to yours)`,
      );
    }
    const readOnly = options.access === 'read';
    if (!readOnly && state.owner !== undefined) {
      throw new Error(
        `no catalog answers at ${localUri}, but process ${state.owner} holds ${directory}: this command writes to the catalog and will not do so next to another owner (stop that process, or point NESSIE_URI at the catalog it serves)`,
      );
    }
    const logger = createLogger({
      name: 'nessie',
      level: process.env.FLOE_LOG_LEVEL ?? 'warn',
      destination: process.stderr,
    });
    let server;
    try {
      server = await startNessieServer({ dataDir: directory, port: 0, readOnly, logger });
    } catch (err) {
      throw new Error(`no catalog answers at ${localUri}, and opening ${directory} failed: ${(err as Error).message}`);
    }
    close = () => server.stop();
    uri = server.uri;
    source = {
      kind: 'directory',
      directory,
      readOnly,
      notAnswering: localUri,
      ...(state.owner !== undefined ? { heldByPid: state.owner } : {}),
    };
    describe =
      `${directory} opened directly (${readOnly ? 'read-only' : 'read-write, locked while this command runs'}; no catalog answers at ${localUri})` +
      (state.owner !== undefined
        ? `; process ${state.owner} holds it, so this reads what it had written when opened`
        : '');
  }
  let env: FloeEnv;
  try {
    env = loadEnv({ ...vars, NESSIE_URI: uri });
  } catch (err) {
    await close();
    throw err;
  }
  process.stderr.write(`catalog: ${describe}\n`);
  const client = createNessieClient({
    uri,
    ...(env.nessieToken ? { token: env.nessieToken } : {}),
    ...(options.client ?? {}),
  });
  const catalog: Catalog = { client, io: options.io ?? warehouseIO(env), warehouse: env.warehouse, author: env.author };
  return { catalog, env, describe, source, close };
}

/** Runs `body` with the command's catalog and closes it afterwards, also when `body` fails. */
export async function withCommandCatalog<T>(
  options: OpenCatalogOptions,
  body: (opened: CommandCatalog) => Promise<T>,
): Promise<T> {
  const opened = await openCommandCatalog(options);
  try {
    return await body(opened);
  } finally {
    await opened.close();
  }
}
