/**
 * Table metadata JSON: read v1 and v2 (lossless for 64-bit ids), write v2 with Java's key order, build new tables,
 * and the lookups every reader needs (current schema, spec by id, snapshot for a ref, ancestry).
 */
import { randomUUID } from 'node:crypto';
import { parseJson, stringifyJson, toLong } from '../util/lossless-json.ts';
import { highestFieldId, IcebergFormatError, schemaFromJson, schemaToJson } from './schema.ts';
import type {
  MetadataLogEntry,
  PartitionField,
  PartitionSpec,
  Schema,
  Snapshot,
  SnapshotLogEntry,
  SnapshotRef,
  SortOrder,
  TableMetadata,
} from './types.ts';

type JsonObject = Record<string, unknown>;

export const UNSORTED_ORDER: SortOrder = { orderId: 0, fields: [] };

/** Partition field ids start at 1000 (Java), so an unpartitioned table has last-partition-id 999. */
export const PARTITION_DATA_ID_START = 1000;

function obj(value: unknown, what: string): JsonObject {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new IcebergFormatError(`${what} must be an object`);
  return value as JsonObject;
}

function int(value: unknown, what: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw new IcebergFormatError(`${what} must be an integer, got ${String(value)}`);
  return n;
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new IcebergFormatError(`${what} must be a string`);
  return value;
}

function optionalSnapshotId(value: unknown, what: string): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  const id = toLong(value, what);
  return id === -1n ? undefined : id;
}

function partitionSpecFromJson(json: unknown, nextId: { value: number }): PartitionSpec {
  const spec = obj(json, 'partition spec');
  if (!Array.isArray(spec.fields)) throw new IcebergFormatError('partition spec must have fields');
  return { specId: int(spec['spec-id'], 'spec-id'), fields: spec.fields.map((f) => partitionFieldFromJson(f, nextId)) };
}

function partitionFieldFromJson(json: unknown, nextId: { value: number }): PartitionField {
  const field = obj(json, 'partition field');
  // v1 specs may omit field ids: Java assigns them from 1000 in order.
  const fieldId = field['field-id'] === undefined ? nextId.value++ : int(field['field-id'], 'partition field-id');
  nextId.value = Math.max(nextId.value, fieldId + 1);
  return {
    sourceId: int(field['source-id'], 'partition source-id'),
    fieldId,
    name: str(field.name, 'partition field name'),
    transform: str(field.transform, 'partition transform'),
  };
}

function sortOrderFromJson(json: unknown): SortOrder {
  const order = obj(json, 'sort order');
  return {
    orderId: int(order['order-id'], 'order-id'),
    fields: (Array.isArray(order.fields) ? order.fields : []).map((f) => {
      const field = obj(f, 'sort field');
      return {
        transform: str(field.transform, 'sort transform'),
        sourceId: int(field['source-id'], 'sort source-id'),
        direction: field.direction === 'desc' ? 'desc' : 'asc',
        nullOrder: field['null-order'] === 'nulls-last' ? 'nulls-last' : 'nulls-first',
      };
    }),
  };
}

function snapshotFromJson(json: unknown): Snapshot {
  const snap = obj(json, 'snapshot');
  if (typeof snap['manifest-list'] !== 'string') {
    throw new IcebergFormatError('snapshot without a manifest-list (v1 inline manifests) is not supported');
  }
  const summary: Record<string, string> = {};
  for (const [key, value] of Object.entries(obj(snap.summary ?? { operation: 'append' }, 'snapshot summary')))
    summary[key] = String(value);
  if (!summary.operation) summary.operation = 'append';
  const snapshot: Snapshot = {
    snapshotId: toLong(snap['snapshot-id'], 'snapshot-id'),
    sequenceNumber: snap['sequence-number'] === undefined ? 0 : int(snap['sequence-number'], 'sequence-number'),
    timestampMs: int(snap['timestamp-ms'], 'timestamp-ms'),
    manifestList: snap['manifest-list'],
    summary,
  };
  const parent = optionalSnapshotId(snap['parent-snapshot-id'], 'parent-snapshot-id');
  if (parent !== undefined) snapshot.parentSnapshotId = parent;
  if (snap['schema-id'] !== undefined) snapshot.schemaId = int(snap['schema-id'], 'snapshot schema-id');
  return snapshot;
}

function refFromJson(json: unknown): SnapshotRef {
  const ref = obj(json, 'ref');
  const out: SnapshotRef = {
    snapshotId: toLong(ref['snapshot-id'], 'ref snapshot-id'),
    type: ref.type === 'tag' ? 'tag' : 'branch',
  };
  if (ref['min-snapshots-to-keep'] !== undefined)
    out.minSnapshotsToKeep = int(ref['min-snapshots-to-keep'], 'min-snapshots-to-keep');
  if (ref['max-snapshot-age-ms'] !== undefined)
    out.maxSnapshotAgeMs = int(ref['max-snapshot-age-ms'], 'max-snapshot-age-ms');
  if (ref['max-ref-age-ms'] !== undefined) out.maxRefAgeMs = int(ref['max-ref-age-ms'], 'max-ref-age-ms');
  return out;
}

/** Parses a metadata JSON document. `location` only names the file in errors. */
export function parseTableMetadata(text: string | Uint8Array, location = 'table metadata'): TableMetadata {
  let json: JsonObject;
  try {
    json = obj(parseJson(text), 'table metadata');
  } catch (err) {
    throw new IcebergFormatError(`cannot parse table metadata ${location}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return tableMetadataFromJson(json);
  } catch (err) {
    throw new IcebergFormatError(`invalid table metadata ${location}: ${(err as Error).message}`, { cause: err });
  }
}

function tableMetadataFromJson(json: JsonObject): TableMetadata {
  const formatVersion = int(json['format-version'], 'format-version');
  if (formatVersion !== 1 && formatVersion !== 2)
    throw new IcebergFormatError(`unsupported format-version ${formatVersion} (floe reads v1 and v2)`);

  const schemas = Array.isArray(json.schemas) ? json.schemas.map(schemaFromJson) : [schemaFromJson(json.schema)];
  const currentSchemaId =
    json['current-schema-id'] === undefined ? schemas[0].schemaId : int(json['current-schema-id'], 'current-schema-id');

  const nextPartitionId = { value: PARTITION_DATA_ID_START };
  const partitionSpecs = Array.isArray(json['partition-specs'])
    ? json['partition-specs'].map((s) => partitionSpecFromJson(s, nextPartitionId))
    : [partitionSpecFromJson({ 'spec-id': 0, fields: json['partition-spec'] ?? [] }, nextPartitionId)];
  const defaultSpecId =
    json['default-spec-id'] === undefined ? partitionSpecs[0].specId : int(json['default-spec-id'], 'default-spec-id');
  const lastPartitionId =
    json['last-partition-id'] === undefined
      ? nextPartitionId.value - 1
      : int(json['last-partition-id'], 'last-partition-id');

  const sortOrders = Array.isArray(json['sort-orders']) ? json['sort-orders'].map(sortOrderFromJson) : [UNSORTED_ORDER];
  const snapshots = Array.isArray(json.snapshots) ? json.snapshots.map(snapshotFromJson) : [];
  const currentSnapshotId = optionalSnapshotId(json['current-snapshot-id'], 'current-snapshot-id');

  const refs: Record<string, SnapshotRef> = {};
  for (const [name, ref] of Object.entries(obj(json.refs ?? {}, 'refs'))) refs[name] = refFromJson(ref);
  if (!refs.main && currentSnapshotId !== undefined) refs.main = { snapshotId: currentSnapshotId, type: 'branch' };

  const metadata: TableMetadata = {
    formatVersion,
    tableUuid: json['table-uuid'] === undefined ? '' : str(json['table-uuid'], 'table-uuid'),
    location: str(json.location, 'location'),
    lastSequenceNumber:
      json['last-sequence-number'] === undefined ? 0 : int(json['last-sequence-number'], 'last-sequence-number'),
    lastUpdatedMs: int(json['last-updated-ms'], 'last-updated-ms'),
    lastColumnId: int(json['last-column-id'], 'last-column-id'),
    schemas,
    currentSchemaId,
    partitionSpecs,
    defaultSpecId,
    lastPartitionId,
    sortOrders,
    defaultSortOrderId:
      json['default-sort-order-id'] === undefined
        ? sortOrders[0].orderId
        : int(json['default-sort-order-id'], 'default-sort-order-id'),
    properties: Object.fromEntries(
      Object.entries(obj(json.properties ?? {}, 'properties')).map(([k, v]) => [k, String(v)]),
    ),
    currentSnapshotId,
    refs,
    snapshots,
    snapshotLog: (Array.isArray(json['snapshot-log']) ? json['snapshot-log'] : []).map((e): SnapshotLogEntry => {
      const entry = obj(e, 'snapshot-log entry');
      return {
        timestampMs: int(entry['timestamp-ms'], 'snapshot-log timestamp-ms'),
        snapshotId: toLong(entry['snapshot-id'], 'snapshot-log snapshot-id'),
      };
    }),
    metadataLog: (Array.isArray(json['metadata-log']) ? json['metadata-log'] : []).map((e): MetadataLogEntry => {
      const entry = obj(e, 'metadata-log entry');
      return {
        timestampMs: int(entry['timestamp-ms'], 'metadata-log timestamp-ms'),
        metadataFile: str(entry['metadata-file'], 'metadata-file'),
      };
    }),
  };
  if (Array.isArray(json.statistics)) metadata.statistics = json.statistics;
  if (Array.isArray(json['partition-statistics'])) metadata['partitionStatistics'] = json['partition-statistics'];
  if (!schemas.some((s) => s.schemaId === currentSchemaId))
    throw new IcebergFormatError(`current-schema-id ${currentSchemaId} has no schema`);
  if (!partitionSpecs.some((s) => s.specId === defaultSpecId))
    throw new IcebergFormatError(`default-spec-id ${defaultSpecId} has no partition spec`);
  return metadata;
}

/** Writes format-version 2 metadata JSON with Java's key order (readers and diffs expect it). */
export function serializeTableMetadata(metadata: TableMetadata): string {
  if (metadata.formatVersion !== 2) throw new IcebergFormatError('floe writes format-version 2 metadata only');
  const json: JsonObject = {
    'format-version': 2,
    'table-uuid': metadata.tableUuid,
    location: metadata.location,
    'last-sequence-number': metadata.lastSequenceNumber,
    'last-updated-ms': metadata.lastUpdatedMs,
    'last-column-id': metadata.lastColumnId,
    'current-schema-id': metadata.currentSchemaId,
    schemas: metadata.schemas.map(schemaToJson),
    'default-spec-id': metadata.defaultSpecId,
    'partition-specs': metadata.partitionSpecs.map((spec) => ({
      'spec-id': spec.specId,
      fields: spec.fields.map((f) => ({
        name: f.name,
        transform: f.transform,
        'source-id': f.sourceId,
        'field-id': f.fieldId,
      })),
    })),
    'last-partition-id': metadata.lastPartitionId,
    'default-sort-order-id': metadata.defaultSortOrderId,
    'sort-orders': metadata.sortOrders.map((order) => ({
      'order-id': order.orderId,
      fields: order.fields.map((f) => ({
        transform: f.transform,
        'source-id': f.sourceId,
        direction: f.direction,
        'null-order': f.nullOrder,
      })),
    })),
    properties: metadata.properties,
    'current-snapshot-id': metadata.currentSnapshotId ?? -1,
    refs: Object.fromEntries(
      Object.entries(metadata.refs).map(([name, ref]) => [
        name,
        {
          'snapshot-id': ref.snapshotId,
          type: ref.type,
          ...(ref.minSnapshotsToKeep !== undefined ? { 'min-snapshots-to-keep': ref.minSnapshotsToKeep } : {}),
          ...(ref.maxSnapshotAgeMs !== undefined ? { 'max-snapshot-age-ms': ref.maxSnapshotAgeMs } : {}),
          ...(ref.maxRefAgeMs !== undefined ? { 'max-ref-age-ms': ref.maxRefAgeMs } : {}),
        },
      ]),
    ),
    snapshots: metadata.snapshots.map((s) => ({
      'sequence-number': s.sequenceNumber,
      'snapshot-id': s.snapshotId,
      ...(s.parentSnapshotId !== undefined ? { 'parent-snapshot-id': s.parentSnapshotId } : {}),
      'timestamp-ms': s.timestampMs,
      summary: s.summary,
      'manifest-list': s.manifestList,
      ...(s.schemaId !== undefined ? { 'schema-id': s.schemaId } : {}),
    })),
    statistics: metadata.statistics ?? [],
    ...(metadata.partitionStatistics?.length ? { 'partition-statistics': metadata.partitionStatistics } : {}),
    'snapshot-log': metadata.snapshotLog.map((e) => ({ 'timestamp-ms': e.timestampMs, 'snapshot-id': e.snapshotId })),
    'metadata-log': metadata.metadataLog.map((e) => ({
      'timestamp-ms': e.timestampMs,
      'metadata-file': e.metadataFile,
    })),
  };
  return stringifyJson(json, 2);
}

/** Table properties Java sets on new v2 tables, which engines expect to find. */
export const DEFAULT_TABLE_PROPERTIES: Record<string, string> = {
  'write.parquet.compression-codec': 'zstd',
};

export interface NewTableOptions {
  location: string;
  schema: Schema;
  spec?: PartitionSpec;
  sortOrder?: SortOrder;
  properties?: Record<string, string>;
  tableUuid?: string;
  nowMs?: number;
}

/** Metadata of a new, empty format-version 2 table. Field ids of `schema` and `spec` are taken as given. */
export function newTableMetadata(options: NewTableOptions): TableMetadata {
  const spec = options.spec ?? { specId: 0, fields: [] };
  const sortOrder = options.sortOrder ?? UNSORTED_ORDER;
  return {
    formatVersion: 2,
    tableUuid: options.tableUuid ?? randomUUID(),
    location: options.location.replace(/\/+$/, ''),
    lastSequenceNumber: 0,
    lastUpdatedMs: options.nowMs ?? Date.now(),
    lastColumnId: highestFieldId(options.schema),
    schemas: [{ ...options.schema, schemaId: 0 }],
    currentSchemaId: 0,
    partitionSpecs: [{ ...spec, specId: 0 }],
    defaultSpecId: 0,
    lastPartitionId: spec.fields.reduce((max, f) => Math.max(max, f.fieldId), PARTITION_DATA_ID_START - 1),
    sortOrders: sortOrder.orderId === 0 ? [UNSORTED_ORDER] : [UNSORTED_ORDER, sortOrder],
    defaultSortOrderId: sortOrder.orderId,
    properties: { ...DEFAULT_TABLE_PROPERTIES, ...(options.properties ?? {}) },
    currentSnapshotId: undefined,
    refs: {},
    snapshots: [],
    snapshotLog: [],
    metadataLog: [],
  };
}

/** `<location>/metadata/00007-<uuid>.metadata.json` — Java's metastore/REST naming. */
export function metadataFileLocation(metadata: TableMetadata, version: number): string {
  const base = metadata.properties['write.metadata.path'] ?? `${metadata.location}/metadata`;
  return `${base}/${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`;
}

/** The version number of a metadata file name (`00007-…` or `v7.metadata.json`), or -1. */
export function metadataVersion(location: string): number {
  const name = location.slice(location.lastIndexOf('/') + 1);
  const match = /^(\d+)-.*\.metadata\.json$/.exec(name) ?? /^v(\d+)(?:\.gz)?\.metadata\.json$/.exec(name);
  return match ? Number(match[1]) : -1;
}

export function currentSchema(metadata: TableMetadata): Schema {
  return schemaById(metadata, metadata.currentSchemaId);
}

export function schemaById(metadata: TableMetadata, id: number): Schema {
  const schema = metadata.schemas.find((s) => s.schemaId === id);
  if (!schema) throw new IcebergFormatError(`table has no schema with id ${id}`);
  return schema;
}

export function defaultSpec(metadata: TableMetadata): PartitionSpec {
  return specById(metadata, metadata.defaultSpecId);
}

export function specById(metadata: TableMetadata, id: number): PartitionSpec {
  const spec = metadata.partitionSpecs.find((s) => s.specId === id);
  if (!spec) throw new IcebergFormatError(`table has no partition spec with id ${id}`);
  return spec;
}

export function snapshotById(metadata: TableMetadata, id: bigint): Snapshot | undefined {
  return metadata.snapshots.find((s) => s.snapshotId === id);
}

export function currentSnapshot(metadata: TableMetadata): Snapshot | undefined {
  return metadata.currentSnapshotId === undefined ? undefined : snapshotById(metadata, metadata.currentSnapshotId);
}

/** The head snapshot of a branch or tag; `main` falls back to current-snapshot-id. */
export function snapshotForRef(metadata: TableMetadata, ref: string): Snapshot | undefined {
  const target = metadata.refs[ref];
  if (!target) {
    if (ref === 'main') return currentSnapshot(metadata);
    throw new IcebergFormatError(`table has no ref '${ref}'`);
  }
  return snapshotById(metadata, target.snapshotId);
}

/** A snapshot and its ancestors, newest first, stopping where history was expired. */
export function ancestors(metadata: TableMetadata, snapshotId: bigint | undefined): Snapshot[] {
  const out: Snapshot[] = [];
  if (snapshotId === undefined) return out;
  // One lookup per step: a long history walked with snapshotById would cost its length squared.
  const byId = new Map(metadata.snapshots.map((s) => [s.snapshotId, s]));
  const seen = new Set<bigint>();
  let id: bigint | undefined = snapshotId;
  while (id !== undefined && !seen.has(id)) {
    seen.add(id);
    const snapshot = byId.get(id);
    if (!snapshot) break;
    out.push(snapshot);
    id = snapshot.parentSnapshotId;
  }
  return out;
}

/** The schema a snapshot was written with (falls back to the current schema for snapshots without schema-id). */
export function schemaForSnapshot(metadata: TableMetadata, snapshot: Snapshot | undefined): Schema {
  return snapshot?.schemaId !== undefined ? schemaById(metadata, snapshot.schemaId) : currentSchema(metadata);
}
