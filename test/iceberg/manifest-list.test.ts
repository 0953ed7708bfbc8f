import { readFileSync } from 'node:fs';
import path from 'node:path';
import { avroMetadata, avroRead } from 'icebird';
import { describe, expect, it } from 'vitest';
import { readAvroHeader, writeAvro } from '../../shared/iceberg/avro.ts';
import {
  MANIFEST_FILE_V2,
  MANIFEST_LIST_V2_AVRO,
  readManifestList,
  UNASSIGNED_SEQUENCE_NUMBER,
  writeManifestList,
} from '../../shared/iceberg/manifest-list.ts';
import { IcebergFormatError } from '../../shared/iceberg/schema.ts';
import type { ManifestFile } from '../../shared/iceberg/types.ts';
import { ICEBERG_FIXTURES, ICEBERG_SCHEMAS } from '../helpers/fixtures.ts';
import { avroFixtures, decodeWithAvsc, fixture, isManifestList } from './avro-fixtures.ts';

const JAVA_LIST =
  'icebird/hyperparam-iceberg/java/bunnies/metadata/snap-9158179788527662767-1-a01399a1-e864-4562-b921-c8cb56e6e4a9.avro';

describe('readManifestList on real lists', () => {
  const lists = avroFixtures().filter(isManifestList);
  it("finds every writer's lists", () => {
    expect(lists.length).toBe(30);
  });

  it.each(lists)('reads %s', (relative) => {
    const manifests = readManifestList(fixture(relative), relative);
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests) {
      expect(m.manifestPath).toMatch(/\.avro$/);
      expect(typeof m.addedSnapshotId).toBe('bigint');
      expect([m.addedFilesCount, m.existingFilesCount, m.deletedFilesCount].every(Number.isInteger)).toBe(true);
    }
    // the snapshot id in a Java/PyIceberg list name is the snapshot that wrote it: it added at least one manifest
    const named = /^snap-(\d+)-/.exec(path.basename(relative));
    if (named && BigInt(named[1]) < 2n ** 63n)
      expect(manifests.map((m) => m.addedSnapshotId)).toContain(BigInt(named[1]));
  });

  it('reads Java 1.8.1 lists completely (new field names, key_metadata, delete manifests)', () => {
    const manifests = readManifestList(fixture(JAVA_LIST), JAVA_LIST);
    const base = 's3a://hyperparam-iceberg/java/bunnies/metadata/';
    expect(
      manifests.map((m) => [
        m.manifestPath.replace(base, ''),
        m.content,
        m.sequenceNumber,
        m.minSequenceNumber,
        m.addedSnapshotId,
      ]),
    ).toEqual([
      ['a01399a1-e864-4562-b921-c8cb56e6e4a9-m0.avro', 0, 3, 3, 9158179788527662767n],
      ['583a45a0-7389-4d71-9305-ac3a8725c38b-m0.avro', 0, 1, 1, 4951213507629824583n],
      ['a01399a1-e864-4562-b921-c8cb56e6e4a9-m1.avro', 1, 3, 3, 9158179788527662767n],
      ['e1756967-c907-47e2-8b37-82123c5e5908-m0.avro', 1, 2, 2, 6458828015811002920n],
    ]);
    expect(manifests[1]).toEqual({
      manifestPath: `${base}583a45a0-7389-4d71-9305-ac3a8725c38b-m0.avro`,
      manifestLength: 7349,
      partitionSpecId: 0,
      content: 0,
      sequenceNumber: 1,
      minSequenceNumber: 1,
      addedSnapshotId: 4951213507629824583n,
      addedFilesCount: 1,
      existingFilesCount: 0,
      deletedFilesCount: 0,
      addedRowsCount: 21,
      existingRowsCount: 0,
      deletedRowsCount: 0,
      partitions: [],
    });
  });

  it('keeps 64-bit snapshot ids that the JSON twin rounded', () => {
    const relative = 'icebird/snap-8656952484400131532-1-a85973e4-4009-4cba-875e-5278a2c6027d.avro';
    const [manifest] = readManifestList(fixture(relative), relative);
    const twin = JSON.parse(readFileSync(path.join(ICEBERG_FIXTURES, relative.replace(/\.avro$/, '.json')), 'utf8'))[0];
    expect(manifest.addedSnapshotId).toBe(8656952484400131532n);
    expect(twin.added_snapshot_id).toBe(8656952484400131000); // what JSON.parse made of it
    expect(Number(manifest.addedSnapshotId)).toBe(twin.added_snapshot_id);
    expect(manifest).toMatchObject({
      manifestPath: twin.manifest_path,
      manifestLength: twin.manifest_length,
      sequenceNumber: twin.sequence_number,
      addedFilesCount: twin.added_data_files_count,
      addedRowsCount: twin.added_rows_count,
      partitions: [],
    });
  });

  it('reads old (added_data_files_count) and new (added_files_count) names alike', () => {
    const [old] = readManifestList(fixture('iceberg-rust/manifest-list-v2-1.avro'), 'v2-1');
    const [renamed] = readManifestList(fixture('iceberg-rust/manifest-list-v2-2.avro'), 'v2-2');
    const counts = (m: ManifestFile) => [
      m.addedFilesCount,
      m.existingFilesCount,
      m.deletedFilesCount,
      m.addedRowsCount,
    ];
    expect(counts(old)).toEqual([1, 0, 0, 1]);
    expect(counts(renamed)).toEqual(counts(old));
  });

  it('reads v1 lists with sequence numbers 0 and data content', () => {
    const relative =
      'duckdb-iceberg/data/persistent/name_mapping/warehouse_1/mydb/t1/metadata/snap-2651609110244230974-1-0acbcf27-b372-4bd0-929f-a5865a59f3dd.avro';
    expect(readAvroHeader(fixture(relative), relative).metadata['format-version']).toBe('1');
    const manifests = readManifestList(fixture(relative), relative);
    expect(
      manifests.map((m) => [m.content, m.sequenceNumber, m.minSequenceNumber, m.addedFilesCount, m.deletedFilesCount]),
    ).toEqual([
      [0, 0, 0, 1, 0],
      [0, 0, 0, 0, 1],
    ]);
  });

  it('reads the DuckDB v3 list (boxed types, first_row_id)', () => {
    const manifests = readManifestList(fixture('iceberg-go/duckdb_v3_manifest_list.avro'), 'duckdb_v3');
    expect(manifests.map((m) => [m.content, m.sequenceNumber, m.addedSnapshotId, m.partitions])).toEqual([
      [0, 1, 5275221492656851850n, undefined],
      [1, 2, 226306597092543916n, undefined],
    ]);
  });

  it('reads partition summaries as bytes', () => {
    const relative =
      'icebird/hyperparam-iceberg/spark/rename_column/metadata/snap-5276958600260276572-1-abf62b15-903b-40b6-9e6b-26bcdceac9b3.avro';
    const [manifest] = readManifestList(fixture(relative), relative);
    expect(manifest.partitions).toEqual([
      {
        containsNull: false,
        containsNan: false,
        lowerBound: Uint8Array.of(0, 0, 0, 0),
        upperBound: Uint8Array.of(3, 0, 0, 0),
      },
      {
        containsNull: true,
        containsNan: false,
        lowerBound: Uint8Array.of(0x31, 0x4a, 0, 0),
        upperBound: Uint8Array.of(0x32, 0x4a, 0, 0),
      },
    ]);
  });

  it('rejects a v1 list without counts instead of guessing them', () => {
    const v1 = {
      type: 'record',
      name: 'manifest_file',
      fields: [
        { name: 'manifest_path', type: 'string', 'field-id': 500 },
        { name: 'manifest_length', type: 'long', 'field-id': 501 },
        { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
        { name: 'added_snapshot_id', type: ['null', 'long'], 'field-id': 503 },
        { name: 'added_data_files_count', type: ['null', 'int'], 'field-id': 504 },
      ],
    };
    const record = new Map<number, unknown>([
      [500, 'm.avro'],
      [501, 10n],
      [502, 0],
      [503, 1n],
      [504, null],
    ]);
    const bytes = writeAvro({ schema: v1, records: [record] });
    expect(() => readManifestList(bytes, 's3://b/t/snap-1.avro')).toThrow(
      /s3:\/\/b\/t\/snap-1\.avro: manifest list entry 0: missing added_files_count/,
    );
  });

  it('names the file when it is damaged', () => {
    const bytes = fixture(JAVA_LIST);
    expect(() => readManifestList(bytes.subarray(0, bytes.length - 20), 's3://b/t/snap-x.avro')).toThrow(
      IcebergFormatError,
    );
    expect(() => readManifestList(bytes.subarray(0, bytes.length - 20), 's3://b/t/snap-x.avro')).toThrow(
      /s3:\/\/b\/t\/snap-x\.avro/,
    );
  });
});

describe('writeManifestList', () => {
  const javaSchema = JSON.parse(
    readFileSync(path.join(ICEBERG_SCHEMAS, 'manifest_list_v2.java-1.8.1.avsc.json'), 'utf8'),
  );
  const manifests: ManifestFile[] = [
    {
      manifestPath: 's3://bucket/t/metadata/c0ffee-m0.avro',
      manifestLength: 7349,
      partitionSpecId: 1,
      content: 0,
      sequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
      minSequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
      addedSnapshotId: 9158179788527662767n,
      addedFilesCount: 2,
      existingFilesCount: 1,
      deletedFilesCount: 0,
      addedRowsCount: 3_000_000_000,
      existingRowsCount: 5,
      deletedRowsCount: 0,
      partitions: [
        {
          containsNull: true,
          containsNan: false,
          lowerBound: Uint8Array.of(1, 0, 0, 0),
          upperBound: Uint8Array.of(9, 0, 0, 0),
        },
      ],
    },
    {
      manifestPath: 's3://bucket/t/metadata/c0ffee-m1.avro',
      manifestLength: 1000,
      partitionSpecId: 1,
      content: 1,
      sequenceNumber: UNASSIGNED_SEQUENCE_NUMBER,
      minSequenceNumber: 4,
      addedSnapshotId: 9158179788527662767n,
      addedFilesCount: 1,
      existingFilesCount: 0,
      deletedFilesCount: 0,
      addedRowsCount: 6,
      existingRowsCount: 0,
      deletedRowsCount: 0,
      partitions: [{ containsNull: false }],
      keyMetadata: Uint8Array.of(1, 2),
    },
    {
      manifestPath: 's3://bucket/t/metadata/old-m0.avro',
      manifestLength: 500,
      partitionSpecId: 0,
      content: 0,
      sequenceNumber: 2,
      minSequenceNumber: 1,
      addedSnapshotId: 4951213507629824583n,
      addedFilesCount: 0,
      existingFilesCount: 4,
      deletedFilesCount: 0,
      addedRowsCount: 0,
      existingRowsCount: 40,
      deletedRowsCount: 0,
    },
  ];
  const bytes = writeManifestList({
    snapshotId: 9158179788527662767n,
    parentSnapshotId: 6458828015811002920n,
    sequenceNumber: 5,
    formatVersion: 2,
    manifests,
  });

  it('round-trips, assigning the snapshot sequence number to manifests it added', () => {
    const read = readManifestList(bytes, 'mem://list.avro');
    expect(read).toEqual([
      { ...manifests[0], sequenceNumber: 5, minSequenceNumber: 5 },
      { ...manifests[1], sequenceNumber: 5, minSequenceNumber: 4 },
      manifests[2],
    ]);
  });

  it("embeds Java 1.8.1's schema and header keys", () => {
    const { schema, metadata } = readAvroHeader(bytes, 'mem://list.avro');
    expect(schema).toEqual(javaSchema);
    expect(MANIFEST_LIST_V2_AVRO).toEqual(javaSchema);
    expect(metadata).toMatchObject({
      'snapshot-id': '9158179788527662767',
      'parent-snapshot-id': '6458828015811002920',
      'sequence-number': '5',
      'format-version': '2',
      'avro.codec': 'deflate',
    });
    const java = readAvroHeader(fixture(JAVA_LIST), JAVA_LIST).metadata;
    expect(metadata['avro.schema']).toBe(java['avro.schema']); // byte-identical JSON
    expect(metadata['iceberg.schema']).toBe(java['iceberg.schema']);
    expect(JSON.parse(metadata['iceberg.schema']).fields.map((f: { id: number }) => f.id)).toEqual(
      MANIFEST_FILE_V2.fields.map((f) => f.id),
    );
  });

  it('writes "null" as the parent of a first snapshot', () => {
    const first = writeManifestList({ snapshotId: 1n, sequenceNumber: 1, manifests: [] });
    expect(readAvroHeader(first, 'mem://first.avro').metadata['parent-snapshot-id']).toBe('null');
    expect(readManifestList(first, 'mem://first.avro')).toEqual([]);
  });

  it('is readable by avsc on its own', async () => {
    const { header, records } = await decodeWithAvsc(bytes);
    expect(header['snapshot-id']).toBe('9158179788527662767');
    expect(
      records.map((r) => [
        r.manifest_path,
        r.sequence_number,
        r.added_snapshot_id,
        r.added_files_count,
        r.added_rows_count,
      ]),
    ).toEqual([
      ['s3://bucket/t/metadata/c0ffee-m0.avro', 5n, 9158179788527662767n, 2, 3_000_000_000n],
      ['s3://bucket/t/metadata/c0ffee-m1.avro', 5n, 9158179788527662767n, 1, 6n],
      ['s3://bucket/t/metadata/old-m0.avro', 2n, 4951213507629824583n, 0, 0n],
    ]);
  });

  it("is readable by icebird's Avro reader", () => {
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
    const { metadata, syncMarker } = avroMetadata(reader);
    const records = avroRead({ reader, metadata, syncMarker });
    expect(metadata['snapshot-id']).toBe('9158179788527662767');
    expect(records.map((r) => [r.manifest_path, r.added_snapshot_id, r.content, r.partitions?.length ?? null])).toEqual(
      [
        ['s3://bucket/t/metadata/c0ffee-m0.avro', 9158179788527662767n, 0, 1],
        ['s3://bucket/t/metadata/c0ffee-m1.avro', 9158179788527662767n, 1, 1],
        ['s3://bucket/t/metadata/old-m0.avro', 4951213507629824583n, 0, null],
      ],
    );
  });

  it('refuses an unassigned sequence number on a manifest of another snapshot', () => {
    const foreign = { ...manifests[0], addedSnapshotId: 42n };
    expect(() => writeManifestList({ snapshotId: 1n, sequenceNumber: 2, manifests: [foreign] })).toThrow(
      /unassigned sequence number/,
    );
  });
});
