/**
 * The Iceberg table model, declared once. Field names follow the spec in camelCase; JSON/Avro names are mapped in
 * `metadata.ts`, `manifest.ts` and `manifest-list.ts`.
 *
 * Value representation ("Iceberg values": partition tuples, bounds, predicates, rows read and written):
 * boolean → boolean; int, date (days) → number; long, time (µs), timestamp(tz) (µs), timestamp(tz)_ns (ns) → bigint;
 * float, double → number; string → string; uuid → string (lower-case, hyphenated); binary, fixed → Uint8Array;
 * decimal → bigint unscaled value (the scale comes from the type); struct → object keyed by field name;
 * list → array; map → Map.
 */

/** Primitive type names exactly as Iceberg JSON writes them; `decimal(P, S)` and `fixed[L]` carry parameters. */
export type PrimitiveType =
  | 'boolean'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'timestamp_ns'
  | 'timestamptz_ns'
  | 'string'
  | 'uuid'
  | 'binary'
  | 'unknown'
  | `fixed[${number}]`
  | `decimal(${number}, ${number})`;

export interface NestedField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergType;
  doc?: string;
  initialDefault?: unknown;
  writeDefault?: unknown;
}

export interface StructType {
  type: 'struct';
  fields: NestedField[];
}

export interface ListType {
  type: 'list';
  elementId: number;
  elementRequired: boolean;
  element: IcebergType;
}

export interface MapType {
  type: 'map';
  keyId: number;
  key: IcebergType;
  valueId: number;
  valueRequired: boolean;
  value: IcebergType;
}

export type IcebergType = PrimitiveType | StructType | ListType | MapType;

export interface Schema extends StructType {
  schemaId: number;
  identifierFieldIds?: number[];
}

export interface PartitionField {
  sourceId: number;
  fieldId: number;
  name: string;
  /** `identity`, `bucket[N]`, `truncate[W]`, `year`, `month`, `day`, `hour`, `void`. */
  transform: string;
}

export interface PartitionSpec {
  specId: number;
  fields: PartitionField[];
}

export interface SortField {
  transform: string;
  sourceId: number;
  direction: 'asc' | 'desc';
  nullOrder: 'nulls-first' | 'nulls-last';
}

export interface SortOrder {
  orderId: number;
  fields: SortField[];
}

export type Operation = 'append' | 'replace' | 'overwrite' | 'delete';

export interface Snapshot {
  snapshotId: bigint;
  parentSnapshotId?: bigint;
  sequenceNumber: number;
  timestampMs: number;
  manifestList: string;
  /** Always contains `operation`; all values are strings. */
  summary: Record<string, string>;
  schemaId?: number;
}

export interface SnapshotRef {
  snapshotId: bigint;
  type: 'branch' | 'tag';
  minSnapshotsToKeep?: number;
  maxSnapshotAgeMs?: number;
  maxRefAgeMs?: number;
}

export interface SnapshotLogEntry {
  timestampMs: number;
  snapshotId: bigint;
}

export interface MetadataLogEntry {
  timestampMs: number;
  metadataFile: string;
}

export interface TableMetadata {
  formatVersion: 1 | 2;
  tableUuid: string;
  location: string;
  lastSequenceNumber: number;
  lastUpdatedMs: number;
  lastColumnId: number;
  schemas: Schema[];
  currentSchemaId: number;
  partitionSpecs: PartitionSpec[];
  defaultSpecId: number;
  lastPartitionId: number;
  sortOrders: SortOrder[];
  defaultSortOrderId: number;
  properties: Record<string, string>;
  /** `undefined` when the table has no current snapshot (Java writes -1). */
  currentSnapshotId?: bigint;
  refs: Record<string, SnapshotRef>;
  snapshots: Snapshot[];
  snapshotLog: SnapshotLogEntry[];
  metadataLog: MetadataLogEntry[];
  /** Puffin statistics entries, carried through untouched. */
  statistics?: unknown[];
  partitionStatistics?: unknown[];
}

export const ManifestContent = { DATA: 0, DELETES: 1 } as const;
export type ManifestContent = (typeof ManifestContent)[keyof typeof ManifestContent];

export interface FieldSummary {
  containsNull: boolean;
  containsNan?: boolean;
  lowerBound?: Uint8Array;
  upperBound?: Uint8Array;
}

/** One entry of a manifest list. */
export interface ManifestFile {
  manifestPath: string;
  manifestLength: number;
  partitionSpecId: number;
  content: ManifestContent;
  sequenceNumber: number;
  minSequenceNumber: number;
  addedSnapshotId: bigint;
  addedFilesCount: number;
  existingFilesCount: number;
  deletedFilesCount: number;
  addedRowsCount: number;
  existingRowsCount: number;
  deletedRowsCount: number;
  partitions?: FieldSummary[];
  keyMetadata?: Uint8Array;
}

export const FileContent = { DATA: 0, POSITION_DELETES: 1, EQUALITY_DELETES: 2 } as const;
export type FileContent = (typeof FileContent)[keyof typeof FileContent];

/** A partition tuple: one Iceberg value (or null) per field of the file's partition spec, in spec order. */
export type PartitionValues = unknown[];

export interface DataFile {
  content: FileContent;
  filePath: string;
  /** `PARQUET`, `AVRO`, `ORC` (Java writes upper case; compare case-insensitively). */
  fileFormat: string;
  /** Spec id of `partition` — not stored in the Avro record, known from the manifest. */
  specId: number;
  partition: PartitionValues;
  recordCount: number;
  fileSizeInBytes: number;
  columnSizes?: Map<number, number>;
  valueCounts?: Map<number, number>;
  nullValueCounts?: Map<number, number>;
  nanValueCounts?: Map<number, number>;
  lowerBounds?: Map<number, Uint8Array>;
  upperBounds?: Map<number, Uint8Array>;
  keyMetadata?: Uint8Array;
  splitOffsets?: number[];
  equalityIds?: number[];
  sortOrderId?: number;
  referencedDataFile?: string;
}

export const EntryStatus = { EXISTING: 0, ADDED: 1, DELETED: 2 } as const;
export type EntryStatus = (typeof EntryStatus)[keyof typeof EntryStatus];

export interface ManifestEntry {
  status: EntryStatus;
  /** Null in the file for ADDED entries means "inherit the manifest's added snapshot id"; resolved on read. */
  snapshotId?: bigint;
  /** Data sequence number; null for ADDED entries in the file means "inherit"; resolved on read. */
  sequenceNumber?: number;
  fileSequenceNumber?: number;
  dataFile: DataFile;
}
