/** Shared setup for the Nessie tests: an embedded server on a free port in a temp dir, and small model builders. */
import { randomBytes } from 'node:crypto';
import { startNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient, type NessieClient } from '../../shared/catalog/nessie/index.ts';
import type { ContentKey, IcebergTable, Namespace, Operation } from '../../shared/catalog/nessie/types.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

export interface EmbeddedNessie {
  uri: string;
  dataDir: string;
  client: NessieClient;
  stop(): Promise<void>;
}

export async function startEmbeddedNessie(
  options: { maxBodyBytes?: number; compactAfterBytes?: number } = {},
): Promise<EmbeddedNessie> {
  const { dir, cleanup } = await tempDir('floe-nessie');
  const server = await startNessieServer({ dataDir: dir, logger: silentLogger, ...options });
  return {
    uri: server.uri,
    dataDir: dir,
    client: createNessieClient({ uri: server.uri }),
    async stop() {
      await server.stop();
      await cleanup();
    },
  };
}

/** A name no other test run uses (a real Nessie is shared). */
export function unique(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export function key(...elements: string[]): ContentKey {
  return { elements };
}

export function table(metadataLocation: string, snapshotId: bigint, id?: string): IcebergTable {
  return {
    type: 'ICEBERG_TABLE',
    ...(id ? { id } : {}),
    metadataLocation,
    snapshotId,
    schemaId: 0,
    specId: 0,
    sortOrderId: 0,
  };
}

export function namespace(...elements: string[]): Namespace {
  return { type: 'NAMESPACE', elements, properties: {} };
}

export function put(k: ContentKey, content: IcebergTable | Namespace): Operation {
  return { type: 'PUT', key: k, content };
}
