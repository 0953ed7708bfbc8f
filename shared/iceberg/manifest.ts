/**
 * Manifests (Avro): reading the entries of any writer's v1/v2/v3 manifest by field id with snapshot-id and
 * sequence-number inheritance, writing exactly Java 1.8.1's v2 manifest, and summarizing a written manifest into its
 * manifest-list entry.
 */
import { parseJson, stringifyJson } from '../util/lossless-json.ts';
import { readAvro, writeAvro, type AvroComplexSchema, type AvroField, type AvroSchema, type IdRecord } from './avro.ts';
import { avroSchemaOf, icebergTypeOfAvro } from './avro-schema.ts';
import {
  bigintToFixedBytes,
  bytesToUuid,
  compareValues,
  decimalRequiredBytes,
  minimalBytesToBigint,
  toBinary,
  uuidToBytes,
} from './conversions.ts';
import { UNASSIGNED_SEQUENCE_NUMBER } from './manifest-list.ts';
import { partitionType, sourceTypeOf } from './partition.ts';
import { decimalOf, fixedLength, IcebergFormatError, schemaFromJson, schemaToJson } from './schema.ts';
import { transformResultType } from './transforms.ts';
import {
  EntryStatus,
  FileContent,
  ManifestContent,
  type DataFile,
  type FieldSummary,
  type IcebergType,
  type ManifestEntry,
  type ManifestFile,
  type NestedField,
  type PartitionField,
  type PartitionSpec,
  type PartitionValues,
  type PrimitiveType,
  type Schema,
  type StructType,
} from './types.ts';

// ---- the manifest_entry struct (Java `V2Metadata`) ----

const field = (id: number, name: string, required: boolean, type: IcebergType, doc?: string): NestedField =>
  doc === undefined ? { id, name, required, type } : { id, name, required, type, doc };
const intMap = (keyId: number, valueId: number, value: IcebergType): IcebergType => ({
  type: 'map',
  keyId,
  key: 'int',
  valueId,
  valueRequired: true,
  value,
});
const list = (elementId: number, element: IcebergType): IcebergType => ({
  type: 'list',
  elementId,
  elementRequired: true,
  element,
});

/** The metrics maps of `data_file`: model property and field id. */
const METRIC_MAPS = [
  ['columnSizes', 108],
  ['valueCounts', 109],
  ['nullValueCounts', 110],
  ['nanValueCounts', 137],
  ['lowerBounds', 125],
  ['upperBounds', 128],
] as const;

function dataFileType(partition: StructType): StructType {
  return {
    type: 'struct',
    fields: [
      field(134, 'content', true, 'int', 'Contents of the file: 0=data, 1=position deletes, 2=equality deletes'),
      field(100, 'file_path', true, 'string', 'Location URI with FS scheme'),
      field(101, 'file_format', true, 'string', 'File format name: avro, orc, or parquet'),
      field(102, 'partition', true, partition, 'Partition data tuple, schema based on the partition spec'),
      field(103, 'record_count', true, 'long', 'Number of records in the file'),
      field(104, 'file_size_in_bytes', true, 'long', 'Total file size in bytes'),
      field(108, 'column_sizes', false, intMap(117, 118, 'long'), 'Map of column id to total size on disk'),
      field(
        109,
        'value_counts',
        false,
        intMap(119, 120, 'long'),
        'Map of column id to total count, including null and NaN',
      ),
      field(110, 'null_value_counts', false, intMap(121, 122, 'long'), 'Map of column id to null value count'),
      field(
        137,
        'nan_value_counts',
        false,
        intMap(138, 139, 'long'),
        'Map of column id to number of NaN values in the column',
      ),
      field(125, 'lower_bounds', false, intMap(126, 127, 'binary'), 'Map of column id to lower bound'),
      field(128, 'upper_bounds', false, intMap(129, 130, 'binary'), 'Map of column id to upper bound'),
      field(131, 'key_metadata', false, 'binary', 'Encryption key metadata blob'),
      field(132, 'split_offsets', false, list(133, 'long'), 'Splittable offsets'),
      field(135, 'equality_ids', false, list(136, 'int'), 'Equality comparison field IDs'),
      field(140, 'sort_order_id', false, 'int', 'Sort order ID'),
      field(
        143,
        'referenced_data_file',
        false,
        'string',
        'Fully qualified location (URI with FS scheme) of a data file that all deletes reference',
      ),
    ],
  };
}

/** The Iceberg struct of a v2 manifest entry for a partition spec (its `partition` field is the partition type). */
export function manifestEntryType(spec: PartitionSpec, schema: Schema): StructType {
  return {
    type: 'struct',
    fields: [
      field(0, 'status', true, 'int'),
      field(1, 'snapshot_id', false, 'long'),
      field(3, 'sequence_number', false, 'long'),
      field(4, 'file_sequence_number', false, 'long'),
      field(2, 'data_file', true, dataFileType(partitionType(spec, schema))),
    ],
  };
}

/** The Avro schema of a v2 manifest for a partition spec, as Java 1.8.1 writes it. */
export function manifestEntryAvroSchema(spec: PartitionSpec, schema: Schema): AvroComplexSchema {
  return avroSchemaOf(manifestEntryType(spec, schema), 'manifest_entry');
}

// ---- reading ----

export interface ReadManifestOptions {
  /** The table's specs; the manifest header's own `partition-spec` is used when its id is missing here. */
  specsById?: ReadonlyMap<number, PartitionSpec>;
  /** The table schema to type partition values; defaults to the manifest header's `schema`. */
  schema?: Schema;
  /** The manifest's entry in the manifest list: resolves inherited snapshot ids and sequence numbers. */
  manifestFile?: ManifestFile;
}

export interface ManifestContents {
  entries: ManifestEntry[];
  specId: number;
  /** The spec the partition tuples follow (from `specsById` or the header); undefined if neither has it. */
  spec?: PartitionSpec;
  content: ManifestContent;
  formatVersion: number;
  /** The table schema JSON from the header (`schema`), parsed; undefined if absent. */
  schemaJson?: unknown;
  /** The whole key/value header. */
  metadata: Record<string, string>;
}

/**
 * Reads a manifest. With `manifestFile`, inheritance is resolved as Java does: a null snapshot id becomes the
 * manifest's `added_snapshot_id`; null sequence numbers of ADDED entries become the manifest's sequence number.
 * v1 manifests have no sequence numbers: they read as 0. Without `manifestFile`, inherited values stay undefined.
 * Partition values come back in the Iceberg representation of each partition field's result type.
 */
export function readManifest(bytes: Uint8Array, location: string, options: ReadManifestOptions = {}): ManifestContents {
  const fail = (message: string, cause?: unknown): never => {
    throw new IcebergFormatError(`${location}: ${message}`, cause === undefined ? undefined : { cause });
  };
  const { schema: avroSchema, metadata, records } = readAvro(bytes, location);
  const formatVersion = metadata['format-version'] ? Number(metadata['format-version']) : 1;
  if (!Number.isInteger(formatVersion) || formatVersion < 1)
    fail(`invalid format-version '${metadata['format-version']}'`);
  const content = metadata.content === 'deletes' ? ManifestContent.DELETES : ManifestContent.DATA;
  const specId =
    metadata['partition-spec-id'] !== undefined
      ? Number(metadata['partition-spec-id'])
      : (options.manifestFile?.partitionSpecId ?? 0);
  let schemaJson: unknown;
  if (metadata.schema !== undefined) {
    try {
      schemaJson = parseJson(metadata.schema);
    } catch (err) {
      fail('header `schema` is not valid JSON', err);
    }
  }
  const spec = options.specsById?.get(specId) ?? headerSpec(metadata['partition-spec'], specId, fail);
  const schema = options.schema ?? tableSchemaOf(schemaJson);
  const partition = partitionReader(avroSchema, spec, schema, fail);
  const inherit = inheritance(formatVersion, options.manifestFile);
  const entries = records.map((record, i) => {
    try {
      return inherit(entryOf(record, specId, partition));
    } catch (err) {
      if (err instanceof IcebergFormatError)
        throw new IcebergFormatError(`${location}: entry ${i}: ${err.message}`, { cause: err });
      throw err;
    }
  });
  return { entries, specId, ...(spec ? { spec } : {}), content, formatVersion, schemaJson, metadata };
}

function headerSpec(
  text: string | undefined,
  specId: number,
  fail: (message: string, cause?: unknown) => never,
): PartitionSpec | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = parseJson(text);
  } catch (err) {
    fail('header `partition-spec` is not valid JSON', err);
  }
  // Java writes the field array; accept a whole spec object too
  const fields = Array.isArray(json) ? json : (json as { fields?: unknown })?.fields;
  if (!Array.isArray(fields)) return fail('header `partition-spec` is not a list of partition fields');
  return {
    specId,
    fields: fields.map((f: Record<string, unknown>, i): PartitionField => ({
      name: String(f.name),
      transform: String(f.transform),
      sourceId: Number(f['source-id']),
      fieldId: f['field-id'] === undefined ? 1000 + i : Number(f['field-id']), // v1 specs without ids: Java assigns 1000+
    })),
  };
}

function tableSchemaOf(json: unknown): Schema | undefined {
  if (json === undefined) return undefined;
  try {
    return schemaFromJson(json);
  } catch {
    return undefined; // partition values then take their types from the Avro schema
  }
}

type PartitionReader = (record: IdRecord | undefined) => PartitionValues;

/**
 * Reads `data_file.partition` into spec order, typing each value by the transform's result type, or by the Avro type
 * when the spec's source column or transform is unknown here.
 */
function partitionReader(
  avroSchema: AvroSchema,
  spec: PartitionSpec | undefined,
  schema: Schema | undefined,
  fail: (message: string) => never,
): PartitionReader {
  const avroFields = partitionAvroFields(avroSchema);
  const avroTypeById = new Map(avroFields.map((f) => [Number(f['field-id']), f.type]));
  const specIdsMatch = spec !== undefined && spec.fields.every((f) => avroTypeById.has(f.fieldId));
  const slots = specIdsMatch
    ? spec.fields.map((f) => ({
        id: f.fieldId,
        type: resultTypeOf(f, schema) ?? icebergTypeOfAvro(avroTypeById.get(f.fieldId)!),
      }))
    : avroFields.map((f) => ({ id: Number(f['field-id']), type: icebergTypeOfAvro(f.type) }));
  if (spec && slots.length !== spec.fields.length) {
    fail(`partition tuple has ${slots.length} fields, spec ${spec.specId} has ${spec.fields.length}`);
  }
  const converters = slots.map((slot) => ({ id: slot.id, convert: fromAvroValue(slot.type) }));
  return (record) => converters.map(({ id, convert }) => convert(record?.get(id)));
}

function partitionAvroFields(avroSchema: AvroSchema): AvroField[] {
  const entry = avroSchema as AvroComplexSchema;
  const dataFile = entry.fields?.find((f) => Number(f['field-id']) === 2);
  const dataFileRecord = unwrapRecord(dataFile?.type);
  const partition = dataFileRecord?.fields?.find((f) => Number(f['field-id']) === 102);
  return unwrapRecord(partition?.type)?.fields ?? [];
}

function unwrapRecord(schema: AvroSchema | undefined): AvroComplexSchema | undefined {
  if (Array.isArray(schema)) return unwrapRecord(schema.find((b) => b !== 'null'));
  if (schema && typeof schema === 'object') return typeof schema.type === 'string' ? schema : unwrapRecord(schema.type);
  return undefined;
}

function resultTypeOf(field: PartitionField, schema: Schema | undefined): PrimitiveType | undefined {
  if (!schema) return undefined;
  try {
    return transformResultType(field.transform, sourceTypeOf(schema, field.sourceId));
  } catch {
    return undefined; // dropped source column or unknown transform
  }
}

/** Avro-decoded value → Iceberg value of `type` (see `types.ts`); undefined type keeps the decoded value. */
function fromAvroValue(type: PrimitiveType | undefined): (value: unknown) => unknown {
  const orNull = (convert: (v: unknown) => unknown) => (v: unknown) =>
    v === null || v === undefined ? null : convert(v);
  if (type === undefined) return orNull((v) => v);
  if (decimalOf(type)) return orNull((v) => (v instanceof Uint8Array ? minimalBytesToBigint(v) : BigInt(v as bigint)));
  switch (type) {
    case 'int':
    case 'date':
    case 'float':
    case 'double':
      return orNull(Number);
    case 'long':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns':
      return orNull((v) => BigInt(v as bigint));
    case 'uuid':
      return orNull((v) => (v instanceof Uint8Array ? bytesToUuid(v) : String(v).toLowerCase()));
    default:
      return orNull((v) => v);
  }
}

function entryOf(r: IdRecord, specId: number, partition: PartitionReader): ManifestEntry {
  const status = Number(r.get(0));
  if (status !== 0 && status !== 1 && status !== 2)
    throw new IcebergFormatError(`invalid entry status ${String(r.get(0))}`);
  const df = r.get(2) as IdRecord | undefined;
  if (!df) throw new IcebergFormatError('entry has no data_file');
  const entry: ManifestEntry = { status, dataFile: dataFileOf(df, specId, partition) };
  const [snapshotId, sequenceNumber, fileSequenceNumber] = [r.get(1), r.get(3), r.get(4)];
  if (snapshotId !== null && snapshotId !== undefined) entry.snapshotId = BigInt(snapshotId as bigint);
  if (sequenceNumber !== null && sequenceNumber !== undefined) entry.sequenceNumber = Number(sequenceNumber);
  if (fileSequenceNumber !== null && fileSequenceNumber !== undefined)
    entry.fileSequenceNumber = Number(fileSequenceNumber);
  return entry;
}

function dataFileOf(r: IdRecord, specId: number, partition: PartitionReader): DataFile {
  const [filePath, fileFormat, recordCount, fileSize] = [r.get(100), r.get(101), r.get(103), r.get(104)];
  if (typeof filePath !== 'string') throw new IcebergFormatError('data_file has no file_path');
  if (typeof fileFormat !== 'string') throw new IcebergFormatError(`data file ${filePath} has no file_format`);
  if (recordCount === null || recordCount === undefined || fileSize === null || fileSize === undefined) {
    throw new IcebergFormatError(`data file ${filePath} lacks record_count or file_size_in_bytes`);
  }
  const content = Number(r.get(134) ?? 0);
  if (content !== 0 && content !== 1 && content !== 2)
    throw new IcebergFormatError(`data file ${filePath}: invalid content ${content}`);
  const file: DataFile = {
    content,
    filePath,
    fileFormat,
    specId,
    partition: partition(r.get(102) as IdRecord | undefined),
    recordCount: Number(recordCount),
    fileSizeInBytes: Number(fileSize),
  };
  for (const [property, id] of METRIC_MAPS) {
    const map = r.get(id);
    if (!(map instanceof Map)) continue;
    if (property === 'lowerBounds' || property === 'upperBounds') file[property] = map as Map<number, Uint8Array>;
    else file[property] = new Map([...map].map(([k, v]) => [Number(k), Number(v)]));
  }
  const [keyMetadata, splitOffsets, equalityIds, sortOrderId, referencedDataFile] = [
    r.get(131),
    r.get(132),
    r.get(135),
    r.get(140),
    r.get(143),
  ];
  if (keyMetadata instanceof Uint8Array) file.keyMetadata = keyMetadata;
  if (Array.isArray(splitOffsets)) file.splitOffsets = splitOffsets.map(Number);
  if (Array.isArray(equalityIds)) file.equalityIds = equalityIds.map(Number);
  if (sortOrderId !== null && sortOrderId !== undefined) file.sortOrderId = Number(sortOrderId);
  if (typeof referencedDataFile === 'string') file.referencedDataFile = referencedDataFile;
  return file;
}

/** Java `InheritableMetadataFactory`: what an entry takes from its manifest-list entry. */
function inheritance(
  formatVersion: number,
  manifest: ManifestFile | undefined,
): (entry: ManifestEntry) => ManifestEntry {
  return (entry) => {
    if (formatVersion === 1) {
      entry.sequenceNumber = 0;
      entry.fileSequenceNumber = 0;
    }
    if (!manifest) return entry;
    entry.snapshotId ??= manifest.addedSnapshotId;
    // a manifest with sequence number 0 comes from a v1 table: every entry has data sequence number 0
    if (entry.status === EntryStatus.ADDED || manifest.sequenceNumber === 0) {
      entry.sequenceNumber ??= manifest.sequenceNumber;
      entry.fileSequenceNumber ??= manifest.sequenceNumber;
    }
    return entry;
  };
}

// ---- writing ----

export interface WriteManifestOptions {
  spec: PartitionSpec;
  schema: Schema;
  formatVersion?: 2;
  content: ManifestContent;
  entries: ManifestEntry[];
  /** The snapshot being committed: ADDED and DELETED entries are stamped with it. */
  snapshotId: bigint;
}

/**
 * A v2 manifest exactly as Java 1.8.1 writes it (schema, header keys, deflate), plus the spec's `schema-id` key.
 * Like Java's `ManifestWriter`: ADDED entries get this snapshot's id, a null file sequence number and a null data
 * sequence number unless one is given (compaction keeping older data); DELETED entries get this snapshot's id and
 * keep their sequence numbers; EXISTING entries keep everything and must carry their snapshot id and data sequence
 * number.
 */
export function writeManifest(options: WriteManifestOptions): Uint8Array {
  const { spec, schema, content, entries, snapshotId } = options;
  if ((options.formatVersion ?? 2) !== 2)
    throw new IcebergFormatError(`cannot write a v${options.formatVersion} manifest`);
  const type = manifestEntryType(spec, schema);
  const partitionFields = (type.fields[4].type as StructType).fields[3].type as StructType;
  const toAvro = partitionFields.fields.map((f) => ({ id: f.id, convert: toAvroValue(f.type as PrimitiveType) }));
  const records = entries.map((entry, i) => {
    try {
      return entryRecord(entry, { spec, content, snapshotId, toAvro });
    } catch (err) {
      if (err instanceof IcebergFormatError)
        throw new IcebergFormatError(`manifest entry ${i} (${entry.dataFile.filePath}): ${err.message}`);
      throw err;
    }
  });
  return writeAvro({
    schema: avroSchemaOf(type, 'manifest_entry'),
    records,
    metadata: {
      schema: stringifyJson(schemaToJson(schema)),
      'schema-id': String(schema.schemaId),
      'partition-spec': stringifyJson(
        spec.fields.map((f) => ({
          name: f.name,
          transform: f.transform,
          'source-id': f.sourceId,
          'field-id': f.fieldId,
        })),
      ),
      'partition-spec-id': String(spec.specId),
      'format-version': '2',
      content: content === ManifestContent.DELETES ? 'deletes' : 'data',
      'iceberg.schema': stringifyJson(schemaToJson({ ...type, schemaId: 0 })),
    },
  });
}

interface EntryContext {
  spec: PartitionSpec;
  content: ManifestContent;
  snapshotId: bigint;
  toAvro: { id: number; convert: (value: unknown) => unknown }[];
}

function entryRecord(entry: ManifestEntry, ctx: EntryContext): IdRecord {
  const file = entry.dataFile;
  const isDeleteFile = file.content !== FileContent.DATA;
  if (isDeleteFile !== (ctx.content === ManifestContent.DELETES)) {
    throw new IcebergFormatError(
      `a ${isDeleteFile ? 'delete' : 'data'} file cannot go into a ${ctx.content === ManifestContent.DELETES ? 'delete' : 'data'} manifest`,
    );
  }
  if (file.specId !== ctx.spec.specId)
    throw new IcebergFormatError(`file has spec ${file.specId}, manifest spec ${ctx.spec.specId}`);
  if (file.partition.length !== ctx.toAvro.length) {
    throw new IcebergFormatError(
      `partition tuple has ${file.partition.length} values, spec ${ctx.spec.specId} has ${ctx.toAvro.length} fields`,
    );
  }
  let snapshotId: bigint;
  let sequenceNumber: number | undefined;
  let fileSequenceNumber: number | undefined;
  switch (entry.status) {
    case EntryStatus.ADDED:
      if (entry.snapshotId !== undefined && entry.snapshotId !== ctx.snapshotId) {
        throw new IcebergFormatError(`ADDED entry from another snapshot (${entry.snapshotId}); write it as EXISTING`);
      }
      snapshotId = ctx.snapshotId;
      sequenceNumber = entry.sequenceNumber;
      break;
    case EntryStatus.DELETED:
    case EntryStatus.EXISTING:
      if (entry.sequenceNumber === undefined)
        throw new IcebergFormatError('EXISTING and DELETED entries need their data sequence number');
      if (entry.status === EntryStatus.EXISTING && entry.snapshotId === undefined)
        throw new IcebergFormatError('EXISTING entries need their snapshot id');
      snapshotId = entry.status === EntryStatus.DELETED ? ctx.snapshotId : entry.snapshotId!;
      sequenceNumber = entry.sequenceNumber;
      fileSequenceNumber = entry.fileSequenceNumber;
      break;
    default:
      throw new IcebergFormatError(`invalid entry status ${String(entry.status)}`);
  }
  const partition: IdRecord = new Map(ctx.toAvro.map(({ id, convert }, i) => [id, convert(file.partition[i])]));
  const df: IdRecord = new Map<number, unknown>([
    [134, file.content],
    [100, file.filePath],
    [101, file.fileFormat.toUpperCase()],
    [102, partition],
    [103, BigInt(file.recordCount)],
    [104, BigInt(file.fileSizeInBytes)],
  ]);
  for (const [property, id] of METRIC_MAPS) {
    const map = file[property] as Map<number, number | Uint8Array> | undefined;
    df.set(id, map ? new Map([...map].sort(([a], [b]) => a - b)) : null);
  }
  df.set(131, file.keyMetadata ?? null);
  df.set(132, file.splitOffsets?.map(BigInt) ?? null);
  df.set(135, file.equalityIds ?? null);
  df.set(140, file.sortOrderId ?? null);
  df.set(143, file.referencedDataFile ?? null);
  return new Map<number, unknown>([
    [0, entry.status],
    [1, snapshotId],
    [3, sequenceNumber === undefined ? null : BigInt(sequenceNumber)],
    [4, fileSequenceNumber === undefined ? null : BigInt(fileSequenceNumber)],
    [2, df],
  ]);
}

/** Iceberg value of `type` → the value avsc writes for Java's Avro type of it. */
function toAvroValue(type: PrimitiveType): (value: unknown) => unknown {
  const orNull = (convert: (v: unknown) => unknown) => (v: unknown) =>
    v === null || v === undefined ? null : convert(v);
  const decimal = decimalOf(type);
  if (decimal) {
    const size = decimalRequiredBytes(decimal.precision);
    return orNull((v) => bigintToFixedBytes(BigInt(v as bigint), size));
  }
  if (fixedLength(type) !== undefined) return orNull((v) => v);
  switch (type) {
    case 'long':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns':
      return orNull((v) => BigInt(v as bigint));
    case 'uuid':
      return orNull((v) => uuidToBytes(v as string));
    default:
      return orNull((v) => v);
  }
}

// ---- summaries for the manifest list ----

/**
 * Per partition field: whether any tuple has a null (or NaN), and the lower/upper bound of the non-null, non-NaN
 * values in the single-value serialization of the field's result type — the manifest list's `partitions`.
 */
export function partitionSummaries(spec: PartitionSpec, schema: Schema, partitions: PartitionValues[]): FieldSummary[] {
  return partitionType(spec, schema).fields.map((f, i) => {
    const type = f.type as PrimitiveType;
    const summary: FieldSummary = { containsNull: false, containsNan: false };
    let lower: unknown;
    let upper: unknown;
    for (const tuple of partitions) {
      const value = tuple[i];
      if (value === null || value === undefined) {
        summary.containsNull = true;
      } else if (typeof value === 'number' && Number.isNaN(value)) {
        summary.containsNan = true;
      } else {
        if (lower === undefined || compareValues(type, value, lower) < 0) lower = value;
        if (upper === undefined || compareValues(type, value, upper) > 0) upper = value;
      }
    }
    if (lower !== undefined) summary.lowerBound = toBinary(type, lower);
    if (upper !== undefined) summary.upperBound = toBinary(type, upper);
    return summary;
  });
}

export interface SummarizeManifestOptions {
  path: string;
  /** Byte length of the written manifest. */
  length: number;
  spec: PartitionSpec;
  schema: Schema;
  content: ManifestContent;
  snapshotId: bigint;
  entries: ManifestEntry[];
}

/**
 * The manifest-list entry of a manifest written with `writeManifest` (Java `ManifestWriter.toManifestFile`): counts
 * per status, partition summaries over all entries, `sequenceNumber` unassigned (the list writer fills it in) and
 * `minSequenceNumber` the lowest explicit data sequence number of live entries, else unassigned.
 */
export function summarizeManifest(options: SummarizeManifestOptions): ManifestFile {
  const { path, length, spec, schema, content, snapshotId, entries } = options;
  const manifest: ManifestFile = {
    manifestPath: path,
    manifestLength: length,
    partitionSpecId: spec.specId,
    content,
    sequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
    minSequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
    addedSnapshotId: snapshotId,
    addedFilesCount: 0,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: 0,
    existingRowsCount: 0,
    deletedRowsCount: 0,
    partitions: partitionSummaries(
      spec,
      schema,
      entries.map((e) => e.dataFile.partition),
    ),
  };
  let minSequence: number | undefined;
  for (const entry of entries) {
    const rows = entry.dataFile.recordCount;
    if (entry.status === EntryStatus.ADDED) {
      manifest.addedFilesCount++;
      manifest.addedRowsCount += rows;
    } else if (entry.status === EntryStatus.EXISTING) {
      manifest.existingFilesCount++;
      manifest.existingRowsCount += rows;
    } else {
      manifest.deletedFilesCount++;
      manifest.deletedRowsCount += rows;
    }
    if (entry.status !== EntryStatus.DELETED && entry.sequenceNumber !== undefined) {
      minSequence = minSequence === undefined ? entry.sequenceNumber : Math.min(minSequence, entry.sequenceNumber);
    }
  }
  if (minSequence !== undefined) manifest.minSequenceNumber = minSequence;
  return manifest;
}
