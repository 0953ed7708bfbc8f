/**
 * Manifest lists (one Avro file per snapshot attempt): reading v1/v2/v3 lists of any writer by field id, and writing
 * exactly what Iceberg Java 1.8.1 writes for v2.
 */
import { stringifyJson } from '../util/lossless-json.ts';
import { readAvro, writeAvro, type IdRecord } from './avro.ts';
import { avroSchemaOf } from './avro-schema.ts';
import { IcebergFormatError, schemaToJson } from './schema.ts';
import type { FieldSummary, IcebergType, ManifestContent, ManifestFile, NestedField, StructType } from './types.ts';

/**
 * The sequence number of a manifest written by the commit being made: the manifest list writer replaces it with the
 * snapshot's sequence number (as Java does), so a retried commit only has to rewrite the list, not the manifests.
 */
export const UNASSIGNED_SEQUENCE_NUMBER = -1;

const field = (id: number, name: string, required: boolean, type: IcebergType, doc: string): NestedField => ({
  id,
  name,
  required,
  type,
  doc,
});

const FIELD_SUMMARY: StructType = {
  type: 'struct',
  fields: [
    field(509, 'contains_null', true, 'boolean', 'True if any file has a null partition value'),
    field(518, 'contains_nan', false, 'boolean', 'True if any file has a nan partition value'),
    field(510, 'lower_bound', false, 'binary', 'Partition lower bound for all files'),
    field(511, 'upper_bound', false, 'binary', 'Partition upper bound for all files'),
  ],
};

/** `manifest_file` of a v2 manifest list, fields in Java's order. */
export const MANIFEST_FILE_V2: StructType = {
  type: 'struct',
  fields: [
    field(500, 'manifest_path', true, 'string', 'Location URI with FS scheme'),
    field(501, 'manifest_length', true, 'long', 'Total file size in bytes'),
    field(502, 'partition_spec_id', true, 'int', 'Spec ID used to write'),
    field(517, 'content', true, 'int', 'Contents of the manifest: 0=data, 1=deletes'),
    field(515, 'sequence_number', true, 'long', 'Sequence number when the manifest was added'),
    field(516, 'min_sequence_number', true, 'long', 'Lowest sequence number in the manifest'),
    field(503, 'added_snapshot_id', true, 'long', 'Snapshot ID that added the manifest'),
    field(504, 'added_files_count', true, 'int', 'Added entry count'),
    field(505, 'existing_files_count', true, 'int', 'Existing entry count'),
    field(506, 'deleted_files_count', true, 'int', 'Deleted entry count'),
    field(512, 'added_rows_count', true, 'long', 'Added rows count'),
    field(513, 'existing_rows_count', true, 'long', 'Existing rows count'),
    field(514, 'deleted_rows_count', true, 'long', 'Deleted rows count'),
    field(
      507,
      'partitions',
      false,
      { type: 'list', elementId: 508, elementRequired: true, element: FIELD_SUMMARY },
      'Summary for each partition',
    ),
    field(519, 'key_metadata', false, 'binary', 'Encryption key metadata blob'),
  ],
};

/** The Avro schema of a v2 manifest list, as Java 1.8.1 writes it. */
export const MANIFEST_LIST_V2_AVRO = avroSchemaOf(MANIFEST_FILE_V2, 'manifest_file');
const MANIFEST_LIST_V2_ICEBERG_JSON = stringifyJson(schemaToJson({ ...MANIFEST_FILE_V2, schemaId: 0 }));

/**
 * Reads a manifest list. v1 lists have no sequence numbers or content: they read as 0 (spec). The file and row counts
 * are optional in v1 but required by the model; a v1 list without them is rejected with a clear error rather than
 * guessed (0 would make scans skip the manifest). Every Java v1 writer wrote them.
 */
export function readManifestList(bytes: Uint8Array, location: string): ManifestFile[] {
  const { records } = readAvro(bytes, location);
  return records.map((record, i) => manifestFileOf(record, (what) => `${location}: manifest list entry ${i}: ${what}`));
}

function manifestFileOf(r: IdRecord, where: (what: string) => string): ManifestFile {
  const required = (id: number, name: string): unknown => {
    const value = r.get(id);
    if (value === null || value === undefined) throw new IcebergFormatError(where(`missing ${name} (field ${id})`));
    return value;
  };
  const manifestPath = required(500, 'manifest_path');
  if (typeof manifestPath !== 'string') throw new IcebergFormatError(where('manifest_path is not a string'));
  const content = Number(r.get(517) ?? 0);
  if (content !== 0 && content !== 1) throw new IcebergFormatError(where(`invalid content ${content}`));
  const file: ManifestFile = {
    manifestPath,
    manifestLength: Number(required(501, 'manifest_length')),
    partitionSpecId: Number(required(502, 'partition_spec_id')),
    content: content as ManifestContent,
    sequenceNumber: Number(r.get(515) ?? 0),
    minSequenceNumber: Number(r.get(516) ?? 0),
    addedSnapshotId: BigInt(required(503, 'added_snapshot_id') as bigint),
    addedFilesCount: Number(required(504, 'added_files_count')),
    existingFilesCount: Number(required(505, 'existing_files_count')),
    deletedFilesCount: Number(required(506, 'deleted_files_count')),
    addedRowsCount: Number(required(512, 'added_rows_count')),
    existingRowsCount: Number(required(513, 'existing_rows_count')),
    deletedRowsCount: Number(required(514, 'deleted_rows_count')),
  };
  const partitions = r.get(507);
  if (Array.isArray(partitions)) file.partitions = partitions.map((p: IdRecord) => fieldSummaryOf(p));
  const keyMetadata = r.get(519);
  if (keyMetadata instanceof Uint8Array) file.keyMetadata = keyMetadata;
  return file;
}

function fieldSummaryOf(r: IdRecord): FieldSummary {
  const summary: FieldSummary = { containsNull: Boolean(r.get(509)) };
  const [containsNan, lower, upper] = [r.get(518), r.get(510), r.get(511)];
  if (typeof containsNan === 'boolean') summary.containsNan = containsNan;
  if (lower instanceof Uint8Array) summary.lowerBound = lower;
  if (upper instanceof Uint8Array) summary.upperBound = upper;
  return summary;
}

export interface WriteManifestListOptions {
  snapshotId: bigint;
  parentSnapshotId?: bigint;
  /** The snapshot's sequence number; manifests with `UNASSIGNED_SEQUENCE_NUMBER` (added by it) get this one. */
  sequenceNumber: number;
  formatVersion?: 2;
  manifests: ManifestFile[];
}

/** A v2 manifest list exactly as Java 1.8.1 writes it: schema, header keys, deflate. */
export function writeManifestList(options: WriteManifestListOptions): Uint8Array {
  const { snapshotId, parentSnapshotId, sequenceNumber, manifests } = options;
  if ((options.formatVersion ?? 2) !== 2)
    throw new IcebergFormatError(`cannot write a v${options.formatVersion} manifest list`);
  if (!Number.isInteger(sequenceNumber) || sequenceNumber < 0)
    throw new IcebergFormatError(`invalid sequence number ${sequenceNumber}`);
  const records = manifests.map((manifest) => manifestFileRecord(manifest, snapshotId, sequenceNumber));
  return writeAvro({
    schema: MANIFEST_LIST_V2_AVRO,
    records,
    metadata: {
      'snapshot-id': String(snapshotId),
      'parent-snapshot-id': parentSnapshotId === undefined ? 'null' : String(parentSnapshotId),
      'sequence-number': String(sequenceNumber),
      'format-version': '2',
      'iceberg.schema': MANIFEST_LIST_V2_ICEBERG_JSON,
    },
  });
}

function manifestFileRecord(m: ManifestFile, snapshotId: bigint, sequenceNumber: number): IdRecord {
  const unassigned =
    m.sequenceNumber === UNASSIGNED_SEQUENCE_NUMBER || m.minSequenceNumber === UNASSIGNED_SEQUENCE_NUMBER;
  if (unassigned && m.addedSnapshotId !== snapshotId) {
    throw new IcebergFormatError(
      `manifest ${m.manifestPath} from snapshot ${m.addedSnapshotId} has an unassigned sequence number`,
    );
  }
  const seq = m.sequenceNumber === UNASSIGNED_SEQUENCE_NUMBER ? sequenceNumber : m.sequenceNumber;
  const minSeq = m.minSequenceNumber === UNASSIGNED_SEQUENCE_NUMBER ? sequenceNumber : m.minSequenceNumber;
  return new Map<number, unknown>([
    [500, m.manifestPath],
    [501, BigInt(m.manifestLength)],
    [502, m.partitionSpecId],
    [517, m.content],
    [515, BigInt(seq)],
    [516, BigInt(minSeq)],
    [503, m.addedSnapshotId],
    [504, m.addedFilesCount],
    [505, m.existingFilesCount],
    [506, m.deletedFilesCount],
    [512, BigInt(m.addedRowsCount)],
    [513, BigInt(m.existingRowsCount)],
    [514, BigInt(m.deletedRowsCount)],
    [507, m.partitions ? m.partitions.map(fieldSummaryRecord) : null],
    [519, m.keyMetadata ?? null],
  ]);
}

function fieldSummaryRecord(p: FieldSummary): IdRecord {
  return new Map<number, unknown>([
    [509, p.containsNull],
    [518, p.containsNan ?? null],
    [510, p.lowerBound ?? null],
    [511, p.upperBound ?? null],
  ]);
}
