import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { avroMetadata, avroRead } from 'icebird';
import { describe, expect, it } from 'vitest';
import { readAvroHeader } from '../../shared/iceberg/avro.ts';
import {
  manifestEntryAvroSchema,
  partitionSummaries,
  readManifest,
  summarizeManifest,
  writeManifest,
} from '../../shared/iceberg/manifest.ts';
import { readManifestList, UNASSIGNED_SEQUENCE_NUMBER, writeManifestList } from '../../shared/iceberg/manifest-list.ts';
import { unpartitioned } from '../../shared/iceberg/partition.ts';
import { IcebergFormatError, schemaFromJson } from '../../shared/iceberg/schema.ts';
import { applyTransform } from '../../shared/iceberg/transforms.ts';
import {
  EntryStatus,
  FileContent,
  ManifestContent,
  type DataFile,
  type ManifestEntry,
  type ManifestFile,
  type PartitionSpec,
  type Schema,
} from '../../shared/iceberg/types.ts';
import { ICEBERG_FIXTURES, ICEBERG_SCHEMAS } from '../helpers/fixtures.ts';
import { avroFixtures, decodeWithAvsc, fixture, isManifestList } from './avro-fixtures.ts';

const referenceSchema = (name: string) => JSON.parse(readFileSync(path.join(ICEBERG_SCHEMAS, name), 'utf8'));

/** Every manifest-list entry of the fixtures, by manifest file name (paths in lists are the writers' originals). */
function listEntriesByName(): Map<string, ManifestFile> {
  const byName = new Map<string, ManifestFile>();
  for (const relative of avroFixtures().filter(isManifestList)) {
    const dir = path.dirname(relative);
    for (const m of readManifestList(fixture(relative), relative))
      byName.set(path.join(dir, path.basename(m.manifestPath)), m);
  }
  return byName;
}

const SPARK_BUNNIES = 'icebird/hyperparam-iceberg/spark/bunnies/metadata/';
const RENAME = 'icebird/hyperparam-iceberg/spark/rename_column/metadata/abf62b15-903b-40b6-9e6b-26bcdceac9b3-m0.avro';
const JAVA_M0 = 'icebird/hyperparam-iceberg/java/bunnies/metadata/a01399a1-e864-4562-b921-c8cb56e6e4a9-m0.avro';

describe('readManifest on real manifests', () => {
  const manifests = avroFixtures().filter((f) => !isManifestList(f));
  const listed = listEntriesByName();

  it('finds the manifests and their list entries', () => {
    expect(manifests.length).toBe(30);
    expect(manifests.filter((m) => listed.has(m)).length).toBe(30);
  });

  it.each(manifests)('reads %s with inheritance resolved', (relative) => {
    const manifestFile = listed.get(relative)!;
    const read = readManifest(fixture(relative), relative, { manifestFile });
    expect(read.specId).toBe(manifestFile.partitionSpecId);
    expect(read.content).toBe(manifestFile.content);
    expect(read.entries.length).toBe(
      manifestFile.addedFilesCount + manifestFile.existingFilesCount + manifestFile.deletedFilesCount,
    );
    for (const entry of read.entries) {
      expect(typeof entry.snapshotId).toBe('bigint');
      expect(Number.isInteger(entry.sequenceNumber)).toBe(true);
      expect(Number.isInteger(entry.fileSequenceNumber)).toBe(true);
      expect(entry.dataFile.partition.length).toBe(read.spec!.fields.length);
      expect(entry.dataFile.content !== FileContent.DATA).toBe(read.content === ManifestContent.DELETES);
    }
  });

  it('resolves Spark copy-on-write: explicit DELETED sequence numbers, inherited ADDED ones', () => {
    const listed3 = readManifestList(
      fixture(`${SPARK_BUNNIES}snap-2701171901096418979-1-91d5eea0-314d-4056-8818-59b825cbd38a.avro`),
      'list',
    );
    const [m1, m0] = listed3;
    const deleted = readManifest(fixture(`${SPARK_BUNNIES}91d5eea0-314d-4056-8818-59b825cbd38a-m0.avro`), 'm0', {
      manifestFile: m0,
    }).entries;
    expect(deleted.map((e) => [e.status, e.snapshotId, e.sequenceNumber, e.fileSequenceNumber])).toEqual([
      [EntryStatus.DELETED, 2701171901096418979n, 1, 1],
    ]);
    const added = readManifest(fixture(`${SPARK_BUNNIES}91d5eea0-314d-4056-8818-59b825cbd38a-m1.avro`), 'm1', {
      manifestFile: m1,
    }).entries;
    expect(added.map((e) => [e.status, e.snapshotId, e.sequenceNumber, e.fileSequenceNumber])).toEqual([
      [EntryStatus.ADDED, 2701171901096418979n, 3, 3],
    ]);
    const raw = readManifest(fixture(`${SPARK_BUNNIES}91d5eea0-314d-4056-8818-59b825cbd38a-m1.avro`), 'm1').entries[0];
    expect([raw.sequenceNumber, raw.fileSequenceNumber]).toEqual([undefined, undefined]); // nothing to inherit from
  });

  it('reads v1 manifests with sequence number 0', () => {
    const relative =
      'duckdb-iceberg/data/persistent/name_mapping/warehouse_1/mydb/t1/metadata/0acbcf27-b372-4bd0-929f-a5865a59f3dd-m0.avro';
    const read = readManifest(fixture(relative), relative);
    expect(read.formatVersion).toBe(1);
    expect(read.entries.map((e) => [e.status, e.sequenceNumber, e.fileSequenceNumber, e.dataFile.content])).toEqual([
      [EntryStatus.DELETED, 0, 0, 0],
    ]);
  });

  it('reads a Java 1.8.1 data file entry', () => {
    const read = readManifest(fixture(JAVA_M0), JAVA_M0);
    expect(read.entries[0].dataFile).toEqual({
      content: 0,
      filePath: 's3a://hyperparam-iceberg/java/bunnies/data/bunnies-updated-new-zealand.parquet',
      fileFormat: 'PARQUET',
      specId: 0,
      partition: [],
      recordCount: 1,
      fileSizeInBytes: 2962,
      sortOrderId: 0,
    });
    expect(read.schemaJson).toMatchObject({ type: 'struct', 'schema-id': 1 });
    expect(read.metadata['partition-spec']).toBe('[]');
  });

  it('reads every metric as its JSON twin shows it', () => {
    const relative = 'icebird/a85973e4-4009-4cba-875e-5278a2c6027d-m0.avro';
    const [twin] = JSON.parse(readFileSync(path.join(ICEBERG_FIXTURES, relative.replace(/\.avro$/, '.json')), 'utf8'));
    const [entry] = readManifest(fixture(relative), relative).entries;
    const pairs = (map: Map<number, unknown> | undefined) =>
      [...(map ?? [])].map(([key, value]) => ({ key, value: value instanceof Uint8Array ? [...value] : value }));
    const file = entry.dataFile;
    expect(entry.status).toBe(twin.status);
    expect(Number(entry.snapshotId)).toBe(twin.snapshot_id); // the twin's id is rounded by JSON.parse
    expect(entry.snapshotId).toBe(8656952484400131532n);
    expect({
      content: file.content,
      file_format: file.fileFormat,
      file_path: file.filePath,
      file_size_in_bytes: file.fileSizeInBytes,
      record_count: file.recordCount,
      sort_order_id: file.sortOrderId,
      split_offsets: file.splitOffsets,
      column_sizes: pairs(file.columnSizes),
      value_counts: pairs(file.valueCounts),
      null_value_counts: pairs(file.nullValueCounts),
      nan_value_counts: pairs(file.nanValueCounts),
      lower_bounds: pairs(file.lowerBounds),
      upper_bounds: pairs(file.upperBounds),
    }).toEqual({ ...twin.data_file, partition: undefined });
  });

  it('reads equality and position delete files', () => {
    const eq = readManifest(
      fixture('icebird/hyperparam-iceberg/java/bunnies/metadata/a01399a1-e864-4562-b921-c8cb56e6e4a9-m1.avro'),
      'eq',
    );
    expect(eq.content).toBe(ManifestContent.DELETES);
    expect(eq.entries[0].dataFile).toMatchObject({ content: FileContent.EQUALITY_DELETES, equalityIds: [1] });
    const pos = readManifest(
      fixture('icebird/hyperparam-iceberg/java/bunnies/metadata/e1756967-c907-47e2-8b37-82123c5e5908-m0.avro'),
      'pos',
    );
    expect(pos.entries[0].dataFile).toMatchObject({ content: FileContent.POSITION_DELETES, recordCount: 6 });
  });

  it('converts partition values to Iceberg values by result type', () => {
    const values = (relative: string) =>
      readManifest(fixture(relative), relative).entries.map((e) => e.dataFile.partition);
    const persistent = 'duckdb-iceberg/data/persistent/';
    expect(
      values(`${persistent}partition_decimal_integer/metadata/701af831-4140-47e7-bd56-1a374428e380-m0.avro`),
    ).toEqual([[12345432n], [12300n], [425630n]]); // decimal(8,4) fixed[4] → unscaled bigint
    expect(
      values(
        `${persistent}partition_timestamptz/default.db/partition_timestamptz/metadata/cf619707-d8b6-44d1-b057-0af5e41c05bb-m0.avro`,
      ),
    ).toEqual([[1684161045000000n], [1692695720000000n]]);
    expect(
      values(`${persistent}map_stats/default.db/map_stats/metadata/8ed9efb3-5eb4-4225-a66a-2b6b46cb4d32-m0.avro`),
    ).toEqual([[20454]]);
    expect(values(`${persistent}hive_partitioned_table/metadata/fee93099-6425-4d83-bd7c-0aa646533090-m0.avro`)).toEqual(
      [
        [19725, 'view'],
        [19725, 'click'],
        [19726, 'purchase'],
        [19726, 'view'],
      ],
    );
    expect(
      values(
        `${persistent}equality_delete_cross_partition/warehouse/ns/t/metadata/9867a76c-2dc8-4660-9641-15188ad8ee9b-m0.avro`,
      ),
    ).toEqual([[0n], [1n]]); // a required (non-union) partition field written by pyarrow-era tooling
  });

  it("has Spark's bucket values equal to our bucket transform of the rows", async () => {
    const read = readManifest(fixture(RENAME), RENAME);
    expect(read.spec!.fields.map((f) => f.transform)).toEqual(['bucket[4]', 'identity']);
    let rows = 0;
    for (const entry of read.entries) {
      const local = path.join(ICEBERG_FIXTURES, 'icebird', entry.dataFile.filePath.replace('s3a://', ''));
      const buf = readFileSync(local);
      const data = await parquetReadObjects({
        file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
        compressors,
        columns: ['id'],
      });
      for (const row of data) expect(applyTransform('bucket[4]', 'int', row.id)).toBe(entry.dataFile.partition[0]);
      rows += data.length;
    }
    expect(rows).toBe(4);
  });

  it("prefers the table's spec and schema over the header, falling back to Avro types", () => {
    const table = schemaFromJson(readManifest(fixture(RENAME), RENAME).schemaJson);
    const renamed: PartitionSpec = {
      specId: 0,
      fields: [
        { name: 'b', transform: 'bucket[4]', sourceId: 1, fieldId: 1000 },
        { name: 'd', transform: 'identity', sourceId: 3, fieldId: 1001 },
      ],
    };
    const read = readManifest(fixture(RENAME), RENAME, { specsById: new Map([[0, renamed]]), schema: table });
    expect(read.spec).toBe(renamed);
    // a schema without the source columns (dropped): values are typed from the Avro schema instead
    const dropped: Schema = { type: 'struct', schemaId: 9, fields: [] };
    const fallback = readManifest(fixture(RENAME), RENAME, { schema: dropped });
    expect(fallback.entries.map((e) => e.dataFile.partition)).toEqual(read.entries.map((e) => e.dataFile.partition));
  });

  it('names a damaged manifest', () => {
    const bytes = fixture(RENAME);
    expect(() => readManifest(bytes.subarray(0, 100), 's3://b/m0.avro')).toThrow(IcebergFormatError);
    expect(() => readManifest(bytes.subarray(0, bytes.length - 1), 's3://b/m0.avro')).toThrow(
      /s3:\/\/b\/m0\.avro: truncated/,
    );
  });
});

// ---- writing ----

const TABLE: Schema = schemaFromJson({
  type: 'struct',
  'schema-id': 4,
  fields: [
    { id: 1, name: 'i', required: false, type: 'int' },
    { id: 2, name: 'l', required: false, type: 'long' },
    { id: 3, name: 'f', required: false, type: 'float' },
    { id: 4, name: 'd', required: false, type: 'double' },
    { id: 5, name: 'b', required: false, type: 'boolean' },
    { id: 6, name: 's', required: false, type: 'string' },
    { id: 7, name: 'dt', required: false, type: 'date' },
    { id: 8, name: 't', required: false, type: 'time' },
    { id: 9, name: 'ts', required: false, type: 'timestamp' },
    { id: 10, name: 'tz', required: true, type: 'timestamptz' },
    { id: 11, name: 'u', required: false, type: 'uuid' },
    { id: 12, name: 'fx', required: false, type: 'fixed[3]' },
    { id: 13, name: 'bin', required: false, type: 'binary' },
    { id: 14, name: 'dec', required: false, type: 'decimal(8, 4)' },
    { id: 15, name: 'big', required: false, type: 'decimal(38, 10)' },
    { id: 16, name: 'dec2', required: false, type: 'decimal(8, 4)' },
  ],
});

const identity = (sourceId: number, fieldId: number, name: string) => ({
  name,
  transform: 'identity',
  sourceId,
  fieldId,
});
const EVERY_TYPE: PartitionSpec = {
  specId: 3,
  fields: [
    identity(1, 1000, 'i'),
    identity(2, 1001, 'l'),
    identity(3, 1002, 'f'),
    identity(4, 1003, 'd'),
    identity(5, 1004, 'b'),
    identity(6, 1005, 's s'),
    identity(7, 1006, 'dt'),
    identity(8, 1007, 't'),
    identity(9, 1008, 'ts'),
    identity(10, 1009, 'tz'),
    identity(11, 1010, 'u'),
    identity(12, 1011, 'fx'),
    identity(13, 1012, 'bin'),
    identity(14, 1013, 'dec'),
    identity(15, 1014, 'big'),
    identity(16, 1015, 'dec2'),
    { name: 'tz_day', transform: 'day', sourceId: 10, fieldId: 1016 },
    { name: 'tz_hour', transform: 'hour', sourceId: 10, fieldId: 1017 },
    { name: 's_bucket', transform: 'bucket[16]', sourceId: 6, fieldId: 1018 },
    { name: 's_trunc', transform: 'truncate[2]', sourceId: 6, fieldId: 1019 },
    { name: 'dec_trunc', transform: 'truncate[50]', sourceId: 14, fieldId: 1020 },
    { name: 'gone', transform: 'void', sourceId: 2, fieldId: 1021 },
  ],
};

let fileNumber = 0;
function dataFile(partition: unknown[], overrides: Partial<DataFile> = {}): DataFile {
  return {
    content: FileContent.DATA,
    filePath: `s3://bucket/t/data/${String(++fileNumber).padStart(5, '0')}.parquet`,
    fileFormat: 'parquet',
    specId: EVERY_TYPE.specId,
    partition,
    recordCount: 1000,
    fileSizeInBytes: 123456,
    columnSizes: new Map([
      [2, 40],
      [1, 10],
    ]),
    valueCounts: new Map([
      [1, 1000],
      [2, 1000],
    ]),
    nullValueCounts: new Map([[1, 0]]),
    nanValueCounts: new Map(),
    lowerBounds: new Map([[1, Uint8Array.of(1, 0, 0, 0)]]),
    upperBounds: new Map([[1, Uint8Array.of(9, 0, 0, 0)]]),
    splitOffsets: [4, 67108868],
    sortOrderId: 0,
    ...overrides,
  };
}

const FULL_TUPLE = [
  -7,
  9_223_372_036_854_775_807n,
  Math.fround(1.5),
  -0.25,
  true,
  'größe',
  -1,
  81068000000n,
  -1n,
  1684161045000000n,
  'f79c3e09-677c-4bbd-a479-3f349cb785e7',
  Uint8Array.of(1, 2, 3),
  Uint8Array.of(0, 255),
  -12345432n,
  -(10n ** 37n) + 1n,
  99999999n,
  19492,
  467800,
  9,
  'gr',
  -12345450n,
  null,
];
const NULL_TUPLE = EVERY_TYPE.fields.map(() => null);

describe('writeManifest', () => {
  const snapshotId = 8656952484400131532n;
  const entries: ManifestEntry[] = [
    { status: EntryStatus.ADDED, dataFile: dataFile(FULL_TUPLE) },
    {
      status: EntryStatus.ADDED,
      dataFile: dataFile(NULL_TUPLE, { keyMetadata: Uint8Array.of(7), referencedDataFile: 's3://x' }),
    },
    {
      status: EntryStatus.EXISTING,
      snapshotId: 11n,
      sequenceNumber: 2,
      fileSequenceNumber: 3,
      dataFile: dataFile(FULL_TUPLE),
    },
    {
      status: EntryStatus.DELETED,
      snapshotId: 11n,
      sequenceNumber: 1,
      fileSequenceNumber: 1,
      dataFile: dataFile(NULL_TUPLE),
    },
  ];
  const bytes = writeManifest({
    spec: EVERY_TYPE,
    schema: TABLE,
    formatVersion: 2,
    content: ManifestContent.DATA,
    entries,
    snapshotId,
  });

  it('round-trips every partition type and the Java entry rules', () => {
    const read = readManifest(bytes, 'mem://m.avro');
    expect(read).toMatchObject({ specId: 3, content: ManifestContent.DATA, formatVersion: 2 });
    expect(read.entries.map((e) => [e.status, e.snapshotId, e.sequenceNumber, e.fileSequenceNumber])).toEqual([
      [EntryStatus.ADDED, snapshotId, undefined, undefined], // inherit from the manifest list
      [EntryStatus.ADDED, snapshotId, undefined, undefined],
      [EntryStatus.EXISTING, 11n, 2, 3],
      [EntryStatus.DELETED, snapshotId, 1, 1], // stamped with the deleting snapshot, sequence numbers kept
    ]);
    expect(read.entries.map((e) => e.dataFile)).toEqual(
      entries.map((e) => ({
        ...e.dataFile,
        fileFormat: 'PARQUET',
        // the void field is always null; metric maps come back in key order
        partition: [...e.dataFile.partition.slice(0, -1), null],
        columnSizes: new Map([
          [1, 10],
          [2, 40],
        ]),
      })),
    );
  });

  it("embeds Java's manifest schema and header keys", () => {
    const { metadata } = readAvroHeader(bytes, 'mem://m.avro');
    expect(metadata).toMatchObject({
      'schema-id': '4',
      'partition-spec-id': '3',
      'format-version': '2',
      content: 'data',
      'avro.codec': 'deflate',
    });
    expect(schemaFromJson(JSON.parse(metadata.schema))).toEqual(TABLE);
    expect(JSON.parse(metadata['partition-spec'])[5]).toEqual({
      name: 's s',
      transform: 'identity',
      'source-id': 6,
      'field-id': 1005,
    });
    const avro = JSON.parse(metadata['avro.schema']);
    const partition = avro.fields[4].type.fields[3].type;
    expect(partition.name).toBe('r102');
    expect(partition.fields[5]).toEqual({
      name: 's_x20s',
      type: ['null', 'string'],
      default: null,
      'iceberg-field-name': 's s',
      'field-id': 1005,
    });
    expect(partition.fields[13].type[1]).toEqual({
      type: 'fixed',
      name: 'decimal_8_4',
      size: 4,
      logicalType: 'decimal',
      precision: 8,
      scale: 4,
    });
    expect(partition.fields[15].type).toEqual(['null', 'decimal_8_4']); // a named type is defined once
    expect(partition.fields[9].type).toEqual([
      'null',
      { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': true },
    ]);
    expect(partition.fields[16].type).toEqual(['null', { type: 'int', logicalType: 'date' }]);
    expect(JSON.parse(metadata['iceberg.schema']).fields[4].type.fields[3].type.fields[16]).toEqual({
      id: 1016,
      name: 'tz_day',
      required: false,
      type: 'date',
    });
  });

  it('matches the reference schemas exactly (unpartitioned Java 1.8.1 and the partitioned example)', () => {
    const javaHeader = readAvroHeader(fixture(JAVA_M0), JAVA_M0).metadata;
    const javaTable = schemaFromJson(JSON.parse(javaHeader.schema));
    const ours = writeManifest({
      spec: unpartitioned,
      schema: javaTable,
      content: ManifestContent.DATA,
      entries: [],
      snapshotId: 1n,
    });
    const header = readAvroHeader(ours, 'mem://u.avro').metadata;
    expect(JSON.parse(header['avro.schema'])).toEqual(
      referenceSchema('manifest_entry_v2_unpartitioned.java-1.8.1.avsc.json'),
    );
    for (const key of [
      'avro.schema',
      'iceberg.schema',
      'schema',
      'partition-spec',
      'partition-spec-id',
      'format-version',
      'content',
    ]) {
      expect(header[key], key).toBe(javaHeader[key]); // byte-identical to what Java 1.8.1 wrote
    }
    const rename = readManifest(fixture(RENAME), RENAME);
    const partitioned = manifestEntryAvroSchema(rename.spec!, schemaFromJson(rename.schemaJson));
    expect(partitioned).toEqual(referenceSchema('manifest_entry_v2_partitioned_example.avsc.json'));
  });

  it('rewrites a real Spark manifest into one that reads back the same', () => {
    const rename = readManifest(fixture(RENAME), RENAME);
    const table = schemaFromJson(rename.schemaJson);
    const rewritten = writeManifest({
      spec: rename.spec!,
      schema: table,
      content: rename.content,
      entries: rename.entries,
      snapshotId: 5276958600260276572n,
    });
    expect(readManifest(rewritten, 'mem://rewritten.avro').entries).toEqual(rename.entries);
  });

  it('is readable by avsc on its own', async () => {
    const { records } = await decodeWithAvsc(bytes);
    const first = records[0] as {
      status: number;
      snapshot_id: bigint;
      sequence_number: null;
      data_file: Record<string, any>;
    };
    expect([first.status, first.snapshot_id, first.sequence_number]).toEqual([1, snapshotId, null]);
    expect(first.data_file.file_format).toBe('PARQUET');
    expect(first.data_file.partition.s_x20s).toBe('größe');
    expect(first.data_file.partition.dec).toEqual(Buffer.from('ff439fa8', 'hex')); // -12345432 = -0xbc6058 as fixed[4]
    expect(first.data_file.column_sizes).toEqual([
      { key: 1, value: 10n },
      { key: 2, value: 40n },
    ]);
  });

  it("is readable by icebird's Avro reader", () => {
    const spec: PartitionSpec = {
      specId: 1,
      fields: [
        identity(1, 1000, 'i'),
        identity(7, 1001, 'dt'),
        { name: 's_trunc', transform: 'truncate[2]', sourceId: 6, fieldId: 1002 },
      ],
    };
    const simple = writeManifest({
      spec,
      schema: TABLE,
      content: ManifestContent.DATA,
      snapshotId,
      entries: [{ status: EntryStatus.ADDED, dataFile: dataFile([42, 19492, 'ab'], { specId: 1 }) }],
    });
    const reader = { view: new DataView(simple.buffer, simple.byteOffset, simple.byteLength), offset: 0 };
    const { metadata, syncMarker } = avroMetadata(reader);
    const [record] = avroRead({ reader, metadata, syncMarker });
    expect(metadata['partition-spec-id']).toBe('1');
    expect([record.status, record.snapshot_id, record.data_file.record_count]).toEqual([1, snapshotId, 1000n]);
    expect(record.data_file.partition.i).toBe(42);
    expect(record.data_file.partition.s_trunc).toBe('ab');
    expect((record.data_file.partition.dt as Date).toISOString()).toBe('2023-05-15T00:00:00.000Z');
  });

  it('enforces the manifest rules', () => {
    const write =
      (entry: ManifestEntry, content: ManifestContent = ManifestContent.DATA) =>
      () =>
        writeManifest({ spec: EVERY_TYPE, schema: TABLE, content, entries: [entry], snapshotId });
    expect(write({ status: EntryStatus.EXISTING, snapshotId: 1n, dataFile: dataFile(NULL_TUPLE) })).toThrow(
      /need their data sequence number/,
    );
    expect(write({ status: EntryStatus.EXISTING, sequenceNumber: 1, dataFile: dataFile(NULL_TUPLE) })).toThrow(
      /need their snapshot id/,
    );
    expect(write({ status: EntryStatus.ADDED, snapshotId: 5n, dataFile: dataFile(NULL_TUPLE) })).toThrow(
      /write it as EXISTING/,
    );
    expect(write({ status: EntryStatus.ADDED, dataFile: dataFile(NULL_TUPLE) }, ManifestContent.DELETES)).toThrow(
      /data file cannot go into a delete manifest/,
    );
    expect(write({ status: EntryStatus.ADDED, dataFile: dataFile([1]) })).toThrow(/partition tuple has 1 values/);
    expect(write({ status: EntryStatus.ADDED, dataFile: dataFile(NULL_TUPLE, { specId: 0 }) })).toThrow(
      /file has spec 0, manifest spec 3/,
    );
    expect(
      write({
        status: EntryStatus.ADDED,
        dataFile: dataFile(NULL_TUPLE, { filePath: undefined as unknown as string }),
      }),
    ).toThrow(/required field 'file_path'/);
  });
});

describe('summarizeManifest', () => {
  it("reproduces Spark's manifest-list entry from the manifest's entries", () => {
    const rename = readManifest(fixture(RENAME), RENAME);
    const table = schemaFromJson(rename.schemaJson);
    const listRelative =
      'icebird/hyperparam-iceberg/spark/rename_column/metadata/snap-5276958600260276572-1-abf62b15-903b-40b6-9e6b-26bcdceac9b3.avro';
    const [spark] = readManifestList(fixture(listRelative), listRelative);
    const summary = summarizeManifest({
      path: spark.manifestPath,
      length: spark.manifestLength,
      spec: rename.spec!,
      schema: table,
      content: rename.content,
      snapshotId: spark.addedSnapshotId,
      entries: rename.entries,
    });
    expect(summary).toEqual({
      ...spark,
      sequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
      minSequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
    });
    const list = writeManifestList({ snapshotId: spark.addedSnapshotId, sequenceNumber: 1, manifests: [summary] });
    expect(readManifestList(list, 'mem://list.avro')).toEqual([spark]);
  });

  it('counts per status, ignores DELETED for the minimum sequence number, and tracks NaN', () => {
    const spec: PartitionSpec = { specId: 0, fields: [identity(4, 1000, 'd')] };
    const schema = TABLE;
    const file = (d: number | null, rows: number): DataFile => ({ ...dataFile([d], { specId: 0, recordCount: rows }) });
    const entries: ManifestEntry[] = [
      { status: EntryStatus.ADDED, dataFile: file(2.5, 10) },
      {
        status: EntryStatus.EXISTING,
        snapshotId: 1n,
        sequenceNumber: 4,
        fileSequenceNumber: 4,
        dataFile: file(-0, 20),
      },
      {
        status: EntryStatus.EXISTING,
        snapshotId: 1n,
        sequenceNumber: 6,
        fileSequenceNumber: 6,
        dataFile: file(NaN, 5),
      },
      { status: EntryStatus.DELETED, snapshotId: 1n, sequenceNumber: 2, fileSequenceNumber: 2, dataFile: file(-7, 1) },
    ];
    const summary = summarizeManifest({
      path: 'm',
      length: 1,
      spec,
      schema,
      content: ManifestContent.DATA,
      snapshotId: 9n,
      entries,
    });
    expect(summary).toMatchObject({
      addedFilesCount: 1,
      addedRowsCount: 10,
      existingFilesCount: 2,
      existingRowsCount: 25,
      deletedFilesCount: 1,
      deletedRowsCount: 1,
      sequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
      minSequenceNumber: 4,
      addedSnapshotId: 9n,
    });
    const lower = new DataView(summary.partitions![0].lowerBound!.buffer).getFloat64(0, true);
    expect(lower).toBe(-7);
    expect(summary.partitions![0]).toMatchObject({ containsNull: false, containsNan: true });
    expect(partitionSummaries(spec, schema, [[null], [1.5]])).toEqual([
      {
        containsNull: true,
        containsNan: false,
        lowerBound: Uint8Array.of(0, 0, 0, 0, 0, 0, 0xf8, 0x3f),
        upperBound: Uint8Array.of(0, 0, 0, 0, 0, 0, 0xf8, 0x3f),
      },
    ]);
    expect(partitionSummaries(unpartitioned, schema, [[], []])).toEqual([]);
  });
});
