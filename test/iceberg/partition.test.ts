import { describe, expect, it } from 'vitest';
import { readManifest } from '../../shared/iceberg/manifest.ts';
import {
  isUnpartitioned,
  partitionOf,
  partitionPath,
  partitionType,
  specsEquivalent,
  unpartitioned,
  urlEncode,
  validateSpec,
} from '../../shared/iceberg/partition.ts';
import { IcebergFormatError, schemaFromJson } from '../../shared/iceberg/schema.ts';
import type { PartitionSpec, Schema } from '../../shared/iceberg/types.ts';
import { fixture } from './avro-fixtures.ts';

const schema: Schema = schemaFromJson({
  type: 'struct',
  'schema-id': 3,
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: 'event_time', required: false, type: 'timestamptz' },
    { id: 3, name: 'car', required: false, type: 'string' },
    {
      id: 4,
      name: 'slot',
      required: false,
      type: { type: 'struct', fields: [{ id: 5, name: 'level', required: false, type: 'int' }] },
    },
    {
      id: 6,
      name: 'tags',
      required: false,
      type: {
        type: 'list',
        'element-id': 7,
        'element-required': true,
        element: { type: 'struct', fields: [{ id: 8, name: 'k', required: true, type: 'string' }] },
      },
    },
  ],
});

const spec: PartitionSpec = {
  specId: 1,
  fields: [
    { name: 'event_time_day', transform: 'day', sourceId: 2, fieldId: 1000 },
    { name: 'car bucket', transform: 'bucket[8]', sourceId: 3, fieldId: 1001 },
    { name: 'level', transform: 'identity', sourceId: 5, fieldId: 1002 },
  ],
};

describe('partitionType', () => {
  it('has one optional field per partition field with its id and result type', () => {
    expect(partitionType(spec, schema)).toEqual({
      type: 'struct',
      fields: [
        { id: 1000, name: 'event_time_day', required: false, type: 'date' },
        { id: 1001, name: 'car bucket', required: false, type: 'int' },
        { id: 1002, name: 'level', required: false, type: 'int' },
      ],
    });
    expect(partitionType(unpartitioned, schema)).toEqual({ type: 'struct', fields: [] });
  });

  it('names a missing source column', () => {
    expect(() =>
      partitionType({ specId: 2, fields: [{ name: 'x', transform: 'identity', sourceId: 99, fieldId: 1000 }] }, schema),
    ).toThrow(/source field id 99/);
  });
});

describe('partitionOf', () => {
  it('applies each transform to its (possibly nested) source value', () => {
    const row = { id: 1n, event_time: 1684161045000000n, car: 'iceberg', slot: { level: -2 } };
    expect(partitionOf(spec, schema, row)).toEqual([19492, (1210000089 & 0x7fffffff) % 8, -2]);
  });

  it('gives null for null or missing sources and parents', () => {
    expect(partitionOf(spec, schema, { id: 1n, event_time: null, slot: null })).toEqual([null, null, null]);
    expect(partitionOf(unpartitioned, schema, { id: 1n })).toEqual([]);
  });

  it('refuses sources inside lists', () => {
    const bad: PartitionSpec = {
      specId: 3,
      fields: [{ name: 'k', transform: 'identity', sourceId: 8, fieldId: 1000 }],
    };
    expect(() => partitionOf(bad, schema, {})).toThrow(/list or map/);
  });
});

describe('partitionPath', () => {
  it('URL-encodes names and human values like Java', () => {
    expect(partitionPath(spec, schema, [19492, 3, null])).toBe('event_time_day=2023-05-15/car+bucket=3/level=null');
    expect(partitionPath(unpartitioned, schema, [])).toBe('');
    expect(() => partitionPath(spec, schema, [1])).toThrow(IcebergFormatError);
  });

  it('encodes like java.net.URLEncoder', () => {
    expect(urlEncode('a b:c/d+e')).toBe('a+b%3Ac%2Fd%2Be');
    expect(urlEncode("*-._~!'()")).toBe('*-._%7E%21%27%28%29');
    expect(urlEncode('größe=€')).toBe('gr%C3%B6%C3%9Fe%3D%E2%82%AC');
  });

  // the data file paths real writers chose must equal the path computed from each file's partition tuple
  const tables = [
    'icebird/hyperparam-iceberg/spark/rename_column/metadata/abf62b15-903b-40b6-9e6b-26bcdceac9b3-m0.avro',
    'duckdb-iceberg/data/persistent/partition_timestamptz/default.db/partition_timestamptz/metadata/cf619707-d8b6-44d1-b057-0af5e41c05bb-m0.avro',
    'duckdb-iceberg/data/persistent/map_stats/default.db/map_stats/metadata/8574bca8-244f-4667-965a-03a41a3e4e0e-m0.avro',
    'duckdb-iceberg/data/persistent/partition_integer/metadata/b1dda674-423f-4f23-b00d-92b608b07a38-m0.avro',
    'duckdb-iceberg/data/persistent/hive_partitioned_table/metadata/fee93099-6425-4d83-bd7c-0aa646533090-m0.avro',
  ];
  it.each(tables)("matches the writer's data paths in %s", (relative) => {
    const manifest = readManifest(fixture(relative), relative);
    const tableSchema = schemaFromJson(manifest.schemaJson);
    const paths = manifest.entries.map((e) => partitionPath(manifest.spec!, tableSchema, e.dataFile.partition));
    manifest.entries.forEach((entry, i) => expect(entry.dataFile.filePath).toContain(`/data/${paths[i]}/`));
    expect(paths.length).toBeGreaterThan(0);
  });

  it('reproduces the paths quoted in the fixtures README', () => {
    const rename = readManifest(fixture(tables[0]), tables[0]);
    const renameSchema = schemaFromJson(rename.schemaJson);
    expect(rename.entries.map((e) => partitionPath(rename.spec!, renameSchema, e.dataFile.partition)).sort()).toEqual([
      'id_bucket=0/date=2022-01-01',
      'id_bucket=2/date=2022-01-02',
      'id_bucket=3/date=null',
    ]);
    const tz = readManifest(fixture(tables[1]), tables[1]);
    expect(partitionPath(tz.spec!, schemaFromJson(tz.schemaJson), tz.entries[0].dataFile.partition)).toBe(
      'partition_col=2023-05-15T14%3A30%3A45%2B00%3A00',
    );
    const firstDay =
      'duckdb-iceberg/data/persistent/map_stats/default.db/map_stats/metadata/8ed9efb3-5eb4-4225-a66a-2b6b46cb4d32-m0.avro';
    const day = readManifest(fixture(firstDay), firstDay);
    expect(partitionPath(day.spec!, schemaFromJson(day.schemaJson), day.entries[0].dataFile.partition)).toBe(
      '_day=2026-01-01',
    );
  });
});

describe('spec helpers', () => {
  it('compares specs like Java compatibleWith (ignoring spec and field ids)', () => {
    const renumbered: PartitionSpec = {
      specId: 7,
      fields: spec.fields.map((f, i) => ({ ...f, fieldId: 2000 + i, transform: f.transform.toUpperCase() })),
    };
    expect(specsEquivalent(spec, renumbered)).toBe(true);
    expect(specsEquivalent(spec, { ...spec, fields: spec.fields.slice(1) })).toBe(false);
    expect(
      specsEquivalent(spec, { ...spec, fields: [{ ...spec.fields[0], transform: 'hour' }, ...spec.fields.slice(1)] }),
    ).toBe(false);
    expect(specsEquivalent(unpartitioned, { specId: 4, fields: [] })).toBe(true);
  });

  it('treats specs of void fields as unpartitioned', () => {
    expect(isUnpartitioned(unpartitioned)).toBe(true);
    expect(isUnpartitioned({ specId: 1, fields: [{ name: 'd', transform: 'void', sourceId: 2, fieldId: 1000 }] })).toBe(
      true,
    );
    expect(isUnpartitioned(spec)).toBe(false);
  });

  it('validates transforms against source types', () => {
    expect(() => validateSpec(spec, schema)).not.toThrow();
    expect(() =>
      validateSpec({ specId: 2, fields: [{ name: 'h', transform: 'hour', sourceId: 3, fieldId: 1000 }] }, schema),
    ).toThrow(/cannot apply to string/);
    expect(() =>
      validateSpec({ specId: 2, fields: [spec.fields[0], { ...spec.fields[1], name: 'event_time_day' }] }, schema),
    ).toThrow(/duplicate/);
  });
});
