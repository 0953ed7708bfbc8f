/**
 * The read side of the Iceberg REST catalog API over a repository state, as real Nessie serves it at `/iceberg`:
 * configuration, namespaces and tables of a reference, and a table's current metadata read from its metadata file.
 * Metadata goes out as it is in the file, parsed losslessly: snapshot ids are 64-bit and must reach the client exact.
 */
import { gunzipSync } from 'node:zlib';
import type { ContentKey, Namespace } from '../../shared/catalog/nessie/types.ts';
import { keyToString } from '../../shared/catalog/nessie/types.ts';
import type { FileIO } from '../../shared/storage/file-io.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { badRequest, IcebergRestError, noSuchNamespace, noSuchTable } from './iceberg-errors.ts';
import { encodePrefix, resolveWarehouse, type DecodedPrefix, type IcebergWarehouse } from './iceberg-paths.ts';
import { keyId, type IndexEntry, type Repository } from './repository.ts';
import { resolveRef, type ResolvedRef } from './resolve.ts';
import { validateKey } from './writes.ts';

/** What a client may call, in the form of the config response's `endpoints`; clients check it before each call. */
export const ICEBERG_ENDPOINTS = [
  'GET /v1/{prefix}/namespaces',
  'GET /v1/{prefix}/namespaces/{namespace}',
  'HEAD /v1/{prefix}/namespaces/{namespace}',
  'GET /v1/{prefix}/namespaces/{namespace}/tables',
  'GET /v1/{prefix}/namespaces/{namespace}/tables/{table}',
  'HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}',
];

/** Nessie's page size default it announces as `rest-page-size`, and its cap on a requested page. */
const DEFAULT_PAGE_SIZE = 200;
const MAX_PAGE_SIZE = 500;

export interface IcebergCatalogSettings {
  warehouse: IcebergWarehouse;
  /** Reads metadata files. */
  io: Pick<FileIO, 'read'>;
}

export interface ConfigResponse {
  defaults: Record<string, string>;
  overrides: Record<string, string>;
  endpoints: string[];
}

/**
 * `GET /iceberg/v1/config` (the default branch) or `GET /iceberg/{reference}/v1/config`. The `prefix` default is what
 * points the client's later calls at the reference and warehouse; `uri` sends them to `/iceberg/` even when the
 * client was configured with `/iceberg/{reference}`.
 */
export function config(
  repo: Repository,
  settings: IcebergCatalogSettings,
  options: { reference?: string; warehouse?: string; baseUri: string },
): ConfigResponse {
  const warehouse = resolveWarehouse(settings.warehouse, options.warehouse);
  const branch = options.reference || repo.defaultBranch;
  const defaults: Record<string, string> = { 'rest-metrics-reporting-enabled': 'false' };
  if (warehouse.location !== undefined) defaults.warehouse = warehouse.location;
  defaults['rest-page-size'] = String(DEFAULT_PAGE_SIZE);
  // Without a warehouse asked for, the prefix names only the reference: the default warehouse is implied.
  defaults.prefix = encodePrefix(branch, options.warehouse ? warehouse.name : undefined);
  const icebergUri = `${options.baseUri}/iceberg/`;
  return {
    defaults,
    overrides: {
      'nessie.core-base-uri': `${options.baseUri}/api/`,
      'nessie.iceberg-base-uri': icebergUri,
      uri: icebergUri,
      'nessie.is-nessie-catalog': 'true',
      'nessie.prefix-pattern': '{ref}|{warehouse}',
      'nessie.default-branch.name': branch,
    },
    endpoints: ICEBERG_ENDPOINTS,
  };
}

function resolvePrefix(repo: Repository, prefix: DecodedPrefix): ResolvedRef {
  return resolveRef(repo, prefix.ref ?? repo.defaultBranch);
}

function keyOf(elements: string[]): ContentKey {
  const key = { elements };
  validateKey(key);
  return key;
}

function namespaceEntry(resolved: ResolvedRef, levels: string[]): IndexEntry | undefined {
  const entry = resolved.commit.index.get(keyId(keyOf(levels)));
  return entry?.content.type === 'NAMESPACE' ? entry : undefined;
}

export interface Paging {
  pageToken?: string;
  pageSize?: string;
}

/**
 * The direct children of `parent` of one content type, in key order, paged when the client gives a page size (the
 * token is the key id of the first entry not returned, opaque to clients).
 */
function children(
  resolved: ResolvedRef,
  parent: string[],
  type: IndexEntry['content']['type'],
  paging: Paging,
): { entries: IndexEntry[]; nextPageToken: string | null } {
  const depth = parent.length + 1;
  const matching: Array<[string, IndexEntry]> = [];
  for (const [id, entry] of resolved.commit.index.entries()) {
    const { elements } = entry.key;
    if (entry.content.type === type && elements.length === depth && parent.every((level, i) => elements[i] === level))
      matching.push([id, entry]);
  }
  matching.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (paging.pageSize === undefined || paging.pageSize === '') {
    return { entries: matching.map(([, entry]) => entry), nextPageToken: null };
  }
  if (!/^\d+$/.test(paging.pageSize)) throw badRequest(`pageSize must be a positive integer, got '${paging.pageSize}'`);
  const size = Math.max(1, Math.min(Number(paging.pageSize), MAX_PAGE_SIZE));
  const after = paging.pageToken ? Buffer.from(paging.pageToken, 'base64url').toString('utf8') : undefined;
  const start = after === undefined ? 0 : matching.findIndex(([id]) => id >= after);
  const from = start < 0 ? matching.length : start;
  const page = matching.slice(from, from + size);
  const next = matching[from + size];
  return {
    entries: page.map(([, entry]) => entry),
    nextPageToken: next ? Buffer.from(next[0], 'utf8').toString('base64url') : null,
  };
}

export function listNamespaces(
  repo: Repository,
  prefix: DecodedPrefix,
  parent: string[],
  paging: Paging,
): { namespaces: string[][]; 'next-page-token': string | null } {
  const resolved = resolvePrefix(repo, prefix);
  if (parent.length && !namespaceEntry(resolved, parent)) throw noSuchNamespace(keyToString({ elements: parent }));
  const { entries, nextPageToken } = children(resolved, parent, 'NAMESPACE', paging);
  return { namespaces: entries.map((entry) => entry.key.elements), 'next-page-token': nextPageToken };
}

/**
 * A namespace and its properties; `location` defaults to the nearest ancestor's `location` (or the warehouse's) with
 * the remaining levels appended, where Nessie would place a new table's directory.
 */
export function loadNamespace(
  repo: Repository,
  prefix: DecodedPrefix,
  levels: string[],
): { namespace: string[]; properties: Record<string, string> } {
  const resolved = resolvePrefix(repo, prefix);
  const entry = namespaceEntry(resolved, levels);
  if (!entry) throw noSuchNamespace(keyToString({ elements: levels }));
  const properties = { ...(entry.content as Namespace).properties };
  if (properties.location === undefined) {
    let base = prefix.warehouse.location;
    let from = 0;
    for (let n = levels.length - 1; n >= 1; n--) {
      const ancestor = namespaceEntry(resolved, levels.slice(0, n));
      const location = ancestor && (ancestor.content as Namespace).properties.location;
      if (location !== undefined) {
        base = location;
        from = n;
        break;
      }
    }
    if (base !== undefined) properties.location = `${[base.replace(/\/+$/, ''), ...levels.slice(from)].join('/')}/`;
  }
  return { namespace: entry.key.elements, properties };
}

export function namespaceExists(repo: Repository, prefix: DecodedPrefix, levels: string[]): void {
  if (!namespaceEntry(resolvePrefix(repo, prefix), levels)) throw noSuchNamespace(keyToString({ elements: levels }));
}

export function listTables(
  repo: Repository,
  prefix: DecodedPrefix,
  namespace: string[],
  paging: Paging,
): { identifiers: Array<{ namespace: string[]; name: string }>; 'next-page-token': string | null } {
  const resolved = resolvePrefix(repo, prefix);
  // The spec's 404 for a namespace that does not exist (real Nessie lists nothing instead).
  if (!namespaceEntry(resolved, namespace)) throw noSuchNamespace(keyToString({ elements: namespace }));
  const { entries, nextPageToken } = children(resolved, namespace, 'ICEBERG_TABLE', paging);
  return {
    identifiers: entries.map((entry) => ({
      namespace: entry.key.elements.slice(0, -1),
      name: entry.key.elements[entry.key.elements.length - 1],
    })),
    'next-page-token': nextPageToken,
  };
}

export interface TableName {
  name: string;
  /** From `name@ref`: read on that reference instead of the prefix's. */
  ref?: string;
  /** From `name#hash`: read at that commit of the reference. */
  hash?: string;
}

/** Like Nessie: a table's own reference replaces the prefix's name, its hash the prefix's hash. */
function tableRef(repo: Repository, prefix: DecodedPrefix, table: TableName): string {
  const prefixRef = prefix.ref ?? repo.defaultBranch;
  if (table.ref === undefined && table.hash === undefined) return prefixRef;
  const at = prefixRef.indexOf('@');
  const name = table.ref ?? (at < 0 ? prefixRef : prefixRef.slice(0, at));
  const hash = table.hash ?? (at < 0 ? undefined : prefixRef.slice(at + 1));
  return hash === undefined ? name : `${name}@${hash}`;
}

function tableEntry(repo: Repository, prefix: DecodedPrefix, namespace: string[], table: TableName) {
  const resolved = resolveRef(repo, tableRef(repo, prefix, table));
  const key = keyOf([...namespace, table.name]);
  const entry = resolved.commit.index.get(keyId(key));
  if (entry?.content.type !== 'ICEBERG_TABLE') throw noSuchTable(keyToString(key));
  return entry.content;
}

export function tableExists(repo: Repository, prefix: DecodedPrefix, namespace: string[], table: TableName): void {
  tableEntry(repo, prefix, namespace, table);
}

export interface LoadTableResult {
  'metadata-location': string;
  metadata: Record<string, unknown>;
  config: Record<string, string>;
}

/** Snapshot ids a table's branches and tags point at (the `main` of a v1 table without `refs`: its current one). */
function referencedSnapshots(metadata: Record<string, unknown>): Set<string> {
  const ids = new Set<string>();
  const current = metadata['current-snapshot-id'];
  if (current !== undefined && current !== null) ids.add(String(current));
  const refs = metadata.refs;
  if (refs && typeof refs === 'object') {
    for (const ref of Object.values(refs as Record<string, { 'snapshot-id'?: unknown }>)) {
      if (ref?.['snapshot-id'] !== undefined) ids.add(String(ref['snapshot-id']));
    }
  }
  return ids;
}

/**
 * The table's current metadata from its metadata file (gzip-compressed files too, by their magic bytes), with
 * `snapshots=refs` leaving out snapshots no branch or tag points at.
 */
export async function loadTable(
  repo: Repository,
  settings: IcebergCatalogSettings,
  prefix: DecodedPrefix,
  namespace: string[],
  table: TableName,
  snapshots: string | undefined,
): Promise<LoadTableResult> {
  if (snapshots !== undefined && snapshots !== 'all' && snapshots !== 'refs')
    throw badRequest(`Invalid value for snapshots: '${snapshots}' (expected 'all' or 'refs')`);
  const content = tableEntry(repo, prefix, namespace, table);
  const location = content.metadataLocation;
  let bytes = await settings.io.read(location);
  if (bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  let metadata: Record<string, unknown>;
  try {
    metadata = parseJson<Record<string, unknown>>(bytes);
  } catch (err) {
    throw new IcebergRestError(
      500,
      'IllegalStateException',
      `Table metadata ${location} is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata))
    throw new IcebergRestError(500, 'IllegalStateException', `Table metadata ${location} is not a JSON object`);
  if (snapshots === 'refs' && Array.isArray(metadata.snapshots)) {
    const keep = referencedSnapshots(metadata);
    metadata = {
      ...metadata,
      snapshots: metadata.snapshots.filter((s: { 'snapshot-id'?: unknown }) => keep.has(String(s?.['snapshot-id']))),
    };
  }
  // Nessie serves every table with garbage collection off unless the table says otherwise: a snapshot one branch
  // no longer needs may still be another branch's, so no single client may expire it and delete its files.
  const properties = (metadata.properties ?? {}) as Record<string, string>;
  if (properties['gc.enabled'] === undefined)
    metadata = { ...metadata, properties: { ...properties, 'gc.enabled': 'false' } };
  return { 'metadata-location': location, metadata, config: {} };
}
