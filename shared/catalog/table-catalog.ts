/**
 * Iceberg tables on Nessie: a table is a content key (`production.parking_entry`) whose value points at its current
 * metadata file. Loads go through the Nessie REST client; commits go through the Iceberg commit path with this
 * module's compare-and-swap port — one Nessie commit per swap, carrying every table of the change (multi-table
 * atomicity) and creating missing namespaces in the same commit.
 */
import { randomUUID } from 'node:crypto';
import type { FileIO } from '../storage/file-io.ts';
import { createLruCache } from '../util/lru-cache.ts';
import {
  CommitConflictError,
  CommitStateUnknownError,
  commitTables,
  type CatalogPort,
  type CommitOptions,
  type CommitResult,
  type TableState,
  type TableSwap,
  type TableUpdate,
} from '../iceberg/commit.ts';
import { parseTableMetadata } from '../iceberg/metadata.ts';
import type { TableMetadata } from '../iceberg/types.ts';
import {
  NessieReferenceConflictError,
  NessieTransportError,
  NessieError,
  type CommitMetaInput,
  type CommitResponse,
  type ContentKey,
  type IcebergTable,
  type NessieClient,
  type Operation,
} from './nessie/index.ts';

export interface Catalog {
  client: NessieClient;
  io: FileIO;
  /** Warehouse root where new tables get their location (ends with `/`). */
  warehouse: string;
  /** Commit author recorded in Nessie. */
  author?: string;
}

export interface LoadedTable extends TableState {
  contentId: string;
}

export function tableKey(name: string): ContentKey {
  const elements = name.split('.');
  if (elements.length < 2 || elements.some((e) => !e)) throw new Error(`table name '${name}' must be namespace.table`);
  return { elements };
}

export function keyName(key: ContentKey): string {
  return key.elements.join('.');
}

/** A fresh location for a new table: `<warehouse>/<ns>/<table>_<uuid>` (as Nessie's Iceberg integration names it). */
export function newTableLocation(warehouse: string, name: string): string {
  const { elements } = tableKey(name);
  return `${warehouse}${elements.slice(0, -1).join('/')}/${elements[elements.length - 1]}_${randomUUID().replace(/-/g, '')}`;
}

/**
 * Parsed metadata files by location, least recently used first out. Files are immutable, so a hit is always right; the
 * budget counts their text, since with a long history each file is megabytes (and its parsed form several times
 * that), and a process reads a new one of a busy table every batch: 512 entries alone let a function's heap grow to
 * gigabytes.
 */
export function createMetadataCache(limits: { maxBytes: number; maxEntries: number }) {
  const cache = createLruCache<{ metadata: TableMetadata; bytes: number }>({
    maxWeight: limits.maxBytes,
    maxEntries: limits.maxEntries,
    weigh: (file) => file.bytes,
  });
  return {
    async read(io: FileIO, location: string): Promise<TableMetadata> {
      const file = await cache.get(location, async () => {
        const text = await io.read(location);
        return { metadata: parseTableMetadata(text, location), bytes: text.byteLength };
      });
      return file.metadata;
    },
    get size() {
      return { entries: cache.size.entries, bytes: cache.size.weight };
    },
  };
}

const metadataCache = createMetadataCache({ maxBytes: 32 * 1024 * 1024, maxEntries: 512 });

/** Reads a metadata file; files are immutable, so a small cache saves re-reading them on every commit attempt. */
export function readMetadata(io: FileIO, location: string): Promise<TableMetadata> {
  return metadataCache.read(io, location);
}

/** The tables at a reference and the commit hash they were read at. */
export async function loadTables(
  catalog: Catalog,
  ref: string,
  names: string[],
): Promise<{ hash: string; tables: Map<string, LoadedTable> }> {
  const result = await catalog.client.getContents(ref, names.map(tableKey));
  const tables = new Map<string, LoadedTable>();
  for (const { key, content } of result.value) {
    if (content.type !== 'ICEBERG_TABLE') continue;
    tables.set(keyName(key), {
      contentId: content.id!,
      metadataLocation: content.metadataLocation,
      metadata: await readMetadata(catalog.io, content.metadataLocation),
    });
  }
  return { hash: result.effectiveReference.hash, tables };
}

export async function loadTable(catalog: Catalog, ref: string, name: string): Promise<LoadedTable | undefined> {
  return (await loadTables(catalog, ref, [name])).tables.get(name);
}

function tableContent(state: TableState, id?: string): IcebergTable {
  return {
    type: 'ICEBERG_TABLE',
    ...(id ? { id } : {}),
    metadataLocation: state.metadataLocation,
    snapshotId: state.metadata.currentSnapshotId ?? -1n,
    schemaId: state.metadata.currentSchemaId,
    specId: state.metadata.defaultSpecId,
    sortOrderId: state.metadata.defaultSortOrderId,
  };
}

interface NessieToken {
  hash: string;
  contentIds: Map<string, string>;
  namespaces: Set<string>;
}

export type CommitMetaFor = CommitMetaInput | ((swaps: TableSwap[]) => CommitMetaInput);

/** The compare-and-swap port on a Nessie branch: load at the branch head, swap with one commit against that hash. */
export function nessiePort(catalog: Catalog, branch: string, meta: CommitMetaFor): CatalogPort {
  return {
    async load(tables) {
      const namespaceKeys = [...new Set(tables.map((t) => keyName({ elements: tableKey(t).elements.slice(0, -1) })))];
      const result = await catalog.client.getContents(branch, [
        ...tables.map(tableKey),
        ...namespaceKeys.map((n) => ({ elements: n.split('.') })),
      ]);
      const token: NessieToken = { hash: result.effectiveReference.hash, contentIds: new Map(), namespaces: new Set() };
      const states = new Map<string, TableState | undefined>(tables.map((t) => [t, undefined]));
      for (const { key, content } of result.value) {
        const name = keyName(key);
        if (content.type === 'NAMESPACE') token.namespaces.add(name);
        else if (content.type === 'ICEBERG_TABLE' && states.has(name)) {
          token.contentIds.set(name, content.id!);
          states.set(name, {
            metadataLocation: content.metadataLocation,
            metadata: await readMetadata(catalog.io, content.metadataLocation),
          });
        }
      }
      return { token, states };
    },

    async swap(rawToken, swaps) {
      const token = rawToken as NessieToken;
      const operations: Operation[] = [];
      const namespaces = new Set<string>();
      for (const swap of swaps) {
        const key = tableKey(swap.table);
        const namespace = key.elements.slice(0, -1);
        // Every parent namespace must exist (Nessie spec 2): create the missing ones in this same commit.
        for (let depth = 1; depth <= namespace.length; depth++) {
          const name = namespace.slice(0, depth).join('.');
          if (!token.namespaces.has(name) && !namespaces.has(name) && !swap.base) {
            namespaces.add(name);
            operations.push({
              type: 'PUT',
              key: { elements: namespace.slice(0, depth) },
              content: { type: 'NAMESPACE', elements: namespace.slice(0, depth), properties: {} },
            });
          }
        }
        operations.push({
          type: 'PUT',
          key,
          content: tableContent(swap.next, swap.base ? token.contentIds.get(swap.table) : undefined),
        });
      }
      const commitMeta = typeof meta === 'function' ? meta(swaps) : meta;
      try {
        return await catalog.client.commit(
          branch,
          token.hash,
          { authors: catalog.author ? [catalog.author] : undefined, ...commitMeta },
          operations,
        );
      } catch (err) {
        if (err instanceof NessieReferenceConflictError) throw new CommitConflictError(err.message, { cause: err });
        if (err instanceof NessieTransportError && err.outcomeUnknown)
          throw new CommitStateUnknownError(err.message, { cause: err });
        if (err instanceof NessieError && err.status >= 500)
          throw new CommitStateUnknownError(err.message, { cause: err });
        throw err;
      }
    },
  };
}

export interface BranchCommit extends CommitResult {
  /** The branch head after the commit (the previous head when nothing changed). */
  hash?: string;
}

/** Commits table updates on a branch, atomically across tables, with the Iceberg commit path's retries. */
export async function commitOnBranch(
  catalog: Catalog,
  branch: string,
  updates: Map<string, TableUpdate>,
  meta: CommitMetaFor,
  options: Omit<CommitOptions, 'io'> = {},
): Promise<BranchCommit> {
  const result = await commitTables(nessiePort(catalog, branch, meta), updates, { ...options, io: catalog.io });
  return { ...result, hash: (result.receipt as CommitResponse | undefined)?.targetBranch.hash };
}
