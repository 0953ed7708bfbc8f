import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNameMapping } from '../../shared/iceberg/name-mapping.ts';
import {
  FILE_PATH_FIELD_ID,
  readDataFile,
  readDataFileBatches,
  readDataFileMetadata,
  ROW_POSITION_FIELD_ID,
} from '../../shared/iceberg/parquet-reader.ts';
import { writeDataFile } from '../../shared/iceberg/parquet-writer.ts';
import { IcebergFormatError, schemaFromJson } from '../../shared/iceberg/schema.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { createFileIO, NotFoundError, type FileIO } from '../../shared/storage/index.ts';
import { startS3rver, type RunningS3 } from '../helpers/s3rver.ts';
import { tempDir } from '../helpers/tmp.ts';
import {
  canonical,
  canonicalSql,
  fixtureBytes,
  fixturePath,
  openDuckDB,
  sqlString,
  tableProperties,
  tableSchema,
  type DuckDB,
} from './parquet-fixtures.ts';

const SPARK_BUNNIES = 'icebird/hyperparam-iceberg/spark/bunnies';
const JAVA_BUNNIES = 'icebird/hyperparam-iceberg/java/bunnies';
const RENAME = 'icebird/hyperparam-iceberg/spark/rename_column';
const DUCK = 'duckdb-iceberg/data/persistent';
const NAME_MAPPING = `${DUCK}/name_mapping/warehouse_1/mydb/t1`;

const POSITION_DELETE_SCHEMA = schemaFromJson({
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 2147483546, name: 'file_path', required: true, type: 'string' },
    { id: 2147483545, name: 'pos', required: true, type: 'long' },
  ],
});

interface FixtureCase {
  file: string;
  schema: Schema;
  rows: number;
  constants?: Map<number, unknown>;
  nameMapping?: string;
}

/** Every Parquet file of the fixtures, with the schema of its table (or of the delete file). */
const FIXTURE_CASES: FixtureCase[] = [
  ...[
    '00000-1-9acc37f2-90ae-42f5-915c-a21c3cb99690-00001.parquet',
    '00000-1-6cd7611f-0ceb-4cf3-8b8e-8c856356df3e-00001.parquet',
  ].map((name, i) => ({
    file: `${SPARK_BUNNIES}/data/${name}`,
    schema: tableSchema(`${SPARK_BUNNIES}/metadata/v5.metadata.json`),
    rows: [21, 20][i],
  })),
  {
    file: `${SPARK_BUNNIES}/data/00000-3-6fdcdaeb-591f-4ae0-a39a-75c7fba53907-00001-deletes.parquet`,
    schema: POSITION_DELETE_SCHEMA,
    rows: 1,
  },
  ...['bunnies-initial.parquet', 'bunnies-updated-new-zealand.parquet', 'bunnies-eq-delete-new-zealand.parquet'].map(
    (name, i) => ({
      file: `${JAVA_BUNNIES}/data/${name}`,
      schema: tableSchema(`${JAVA_BUNNIES}/metadata/v5.metadata.json`),
      rows: [21, 1, 1][i],
    }),
  ),
  { file: `${JAVA_BUNNIES}/data/bunnies-pos-deletes.parquet`, schema: POSITION_DELETE_SCHEMA, rows: 6 },
  ...[
    ['id_bucket=0/date=2022-01-01', '00001', 2],
    ['id_bucket=3/date=null', '00002', 1],
    ['id_bucket=2/date=2022-01-02', '00003', 1],
  ].map(([dir, n, rows]) => ({
    file: `${RENAME}/data/${dir}/00000-20-b65939d1-96e1-4d30-a733-aa5264a479aa-${n}.parquet`,
    schema: tableSchema(`${RENAME}/metadata/v3.metadata.json`),
    rows: rows as number,
  })),
  {
    file: 'icebird/hyperparam-iceberg/athena/example/data/sNoYhg/20250401_023623_00108_u4nkm-ee75816e-a3dd-4356-97b3-1c6d0128a41f.parquet',
    schema: tableSchema(
      'icebird/hyperparam-iceberg/athena/example/metadata/00001-aaf0d033-d06b-43c7-be60-67f83abd4aca.metadata.json',
    ),
    rows: 2,
  },
  ...['00000-0-07b11d9e-e7ff-4093-acb3-743bf8b2e5cc-00001', '00000-0-dc76d6b0-77d0-4fd4-b3e9-555a901bc481-00001'].map(
    (name) => ({
      file: `${DUCK}/uuid/data/${name}.parquet`,
      schema: tableSchema(`${DUCK}/uuid/metadata/00001-43fda1f4-1c96-4376-ad16-91beb71d0759.metadata.json`),
      rows: 5,
    }),
  ),
  ...[
    ['0defd709-9d54-4981-804d-00edc33a8a4e', 3],
    ['61cb1d28-3b1b-45e4-b294-2d78a059cc58', 2],
    ['aec217ba-fe1a-4ed3-b871-026613a12a31', 3],
  ].map(([id, rows]) => ({
    file: `${DUCK}/is_null_is_not_null/data/00000-0-${id}-00001.parquet`,
    schema: tableSchema(
      `${DUCK}/is_null_is_not_null/metadata/00001-43ceeb9a-cd0d-4556-b1e2-513b5bf88ff8.metadata.json`,
    ),
    rows: rows as number,
  })),
  ...[
    '2aeec77d-bbe8-4b0a-8105-3093ce4ea02a',
    '9a932c99-3823-49c8-b9a2-ccbb8959f8d9',
    'c6e04a5f-6a7c-49e3-bb8b-cc0af0a46080',
  ].map((id) => ({
    file: `${DUCK}/null_stats/default/test_nulls/data/00000-0-${id}.parquet`,
    schema: tableSchema(
      `${DUCK}/null_stats/default/test_nulls/metadata/00003-9d6a621e-8a72-4190-a880-f6ca02e32b86.metadata.json`,
    ),
    rows: 3,
  })),
  ...[
    '_day=2026-01-01/00000-0-8ed9efb3-5eb4-4225-a66a-2b6b46cb4d32',
    '_day=2026-01-02/00000-0-8574bca8-244f-4667-965a-03a41a3e4e0e',
  ].map((name) => ({
    file: `${DUCK}/map_stats/default.db/map_stats/data/${name}.parquet`,
    schema: tableSchema(
      `${DUCK}/map_stats/default.db/map_stats/metadata/00002-0e059d4b-e5e8-41af-a763-76cbf3a3d0bc.metadata.json`,
    ),
    rows: 1,
  })),
  ...['data-6af1f294-06df-4b0e-b9d9-beb11bb7b164', 'data-6c6593a3-9e37-4bc5-bc45-4d2b43d4b3dc'].map((name) => ({
    file: `${NAME_MAPPING}/data/${name}.parquet`,
    schema: tableSchema(`${NAME_MAPPING}/metadata/v7.metadata.json`),
    rows: 10_000,
    nameMapping: tableProperties(`${NAME_MAPPING}/metadata/v7.metadata.json`)['schema.name-mapping.default'],
  })),
  ...[
    ['partition_col=42', '00001', 42],
    ['partition_col=1337', '00002', 1337],
  ].map(([dir, n, value]) => ({
    file: `${DUCK}/partition_integer/data/${dir}/00000-2-1d10e455-d07e-4124-8f4b-52bd010a806d-${n}.parquet`,
    schema: tableSchema(`${DUCK}/partition_integer/metadata/v2.metadata.json`),
    rows: 1,
    constants: new Map([[1, value]]),
  })),
  ...[
    ['partition_col=42.5630', '00001', 425630n],
    ['partition_col=1.2300', '00002', 12300n],
    ['partition_col=1234.5432', '00003', 12345432n],
  ].map(([dir, n, value]) => ({
    file: `${DUCK}/partition_decimal_integer/data/${dir}/00000-3-c764af9f-0b20-4fb0-b5f4-0222acfd95f8-${n}.parquet`,
    schema: tableSchema(`${DUCK}/partition_decimal_integer/metadata/v2.metadata.json`),
    rows: 1,
    constants: new Map([[1, value]]),
  })),
  ...[
    ['partition_col=2023-05-15T14%3A30%3A45%2B00%3A00', '00000-0', 1684161045000000n],
    ['partition_col=2023-08-22T09%3A15%3A20%2B00%3A00', '00000-1', 1692695720000000n],
  ].map(([dir, n, value]) => ({
    file: `${DUCK}/partition_timestamptz/default.db/partition_timestamptz/data/${dir}/${n}-cf619707-d8b6-44d1-b057-0af5e41c05bb.parquet`,
    schema: tableSchema(
      `${DUCK}/partition_timestamptz/default.db/partition_timestamptz/metadata/00001-ffeadb58-2a9e-46ba-8b4f-f363f05de68c.metadata.json`,
    ),
    rows: 1,
    constants: new Map([[1, value]]),
  })),
  ...[
    ['event_date=2024-01-01/00000-3-249d8105-f013-47e6-8600-a855387633e5-00001', 19723, undefined],
    ['event_date=2024-01-02/00000-3-249d8105-f013-47e6-8600-a855387633e5-00002', 19724, undefined],
    ['event_date=2024-01-03/event_type=view/00000-8-c8ef1f50-38e5-4f6c-bc66-8b6410198355-00001', 19725, 'view'],
    ['event_date=2024-01-03/event_type=click/00000-8-c8ef1f50-38e5-4f6c-bc66-8b6410198355-00002', 19725, 'click'],
    ['event_date=2024-01-04/event_type=purchase/00000-8-c8ef1f50-38e5-4f6c-bc66-8b6410198355-00003', 19726, 'purchase'],
    ['event_date=2024-01-04/event_type=view/00000-8-c8ef1f50-38e5-4f6c-bc66-8b6410198355-00004', 19726, 'view'],
  ].map(([name, date, type]) => ({
    file: `${DUCK}/hive_partitioned_table/data/${name}.parquet`,
    schema: tableSchema(`${DUCK}/hive_partitioned_table/metadata/v4.metadata.json`),
    rows: 1,
    constants: new Map<number, unknown>(
      type === undefined
        ? [[1, date]]
        : [
            [1, date],
            [3, type],
          ],
    ),
  })),
  ...['part=0/00000-0-9867a76c-2dc8-4660-9641-15188ad8ee9b', 'part=1/00000-1-9867a76c-2dc8-4660-9641-15188ad8ee9b'].map(
    (name) => ({
      file: `${DUCK}/equality_delete_cross_partition/warehouse/ns/t/data/${name}.parquet`,
      schema: tableSchema(`${DUCK}/equality_delete_cross_partition/warehouse/ns/t/metadata/vfinal.metadata.json`),
      rows: 2,
    }),
  ),
  {
    file: `${DUCK}/equality_delete_cross_partition/warehouse/ns/t/data/part=0/eq-delete-71f65611-0c65-4565-9173-c885638427c1.parquet`,
    schema: schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [{ id: 2, name: 'key', required: true, type: 'long' }],
    }),
    rows: 1,
  },
];

let duck: DuckDB;
beforeAll(async () => {
  duck = await openDuckDB();
});
afterAll(() => duck.close());

/** Parquet column name of each top-level field id, from DuckDB's view of the footer (or the name mapping). */
async function parquetColumns(file: string, nameMapping: string | undefined): Promise<Map<number, string>> {
  const elements = await duck.rows(`select name, field_id from parquet_schema(${sqlString(file)})`);
  const columns = new Map<number, string>();
  const mapping = nameMapping ? parseNameMapping(nameMapping) : undefined;
  for (const { name, field_id } of elements) {
    const id = mapping
      ? mapping.find((m) => m.names.includes(name as string))?.fieldId
      : field_id === null
        ? undefined
        : Number(field_id);
    if (id !== undefined) columns.set(id, name as string);
  }
  return columns;
}

describe('readDataFile on the real fixture tables', () => {
  it('covers every Parquet file under fixtures/iceberg', async () => {
    const { readdirSync } = await import('node:fs');
    const all = (readdirSync(fixturePath(''), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.parquet'))
      .sort();
    expect(FIXTURE_CASES.map((c) => c.file).sort()).toEqual(all);
  });

  it.each(FIXTURE_CASES.map((c) => [c.file.split('/').slice(-3).join('/'), c] as const))(
    '%s matches DuckDB column by column',
    async (_name, testCase) => {
      const { file, schema, rows: count, constants, nameMapping } = testCase;
      const rows = await readDataFile(fixtureBytes(file), {
        location: file,
        schema,
        constants,
        ...(nameMapping ? { nameMapping: parseNameMapping(nameMapping) } : {}),
      });
      expect(rows).toHaveLength(count);
      const columns = await parquetColumns(fixturePath(file), nameMapping);
      const present = schema.fields.filter((f) => columns.has(f.id));
      expect(present.length).toBeGreaterThan(0);
      const select = present.map((f) => `${canonicalSql(columns.get(f.id)!, f.type)} AS "f${f.id}"`).join(', ');
      const expected = await duck.rows(
        `select ${select} from read_parquet(${sqlString(fixturePath(file))}, hive_partitioning = false)`,
      );
      expect(
        rows.map((row) => Object.fromEntries(present.map((f) => [`f${f.id}`, canonical(row[f.name], f.type)]))),
      ).toEqual(expected);
      // fields absent from the file: the caller's constant, else null
      for (const field of schema.fields.filter((f) => !columns.has(f.id))) {
        for (const row of rows)
          expect(row[field.name]).toEqual(constants?.has(field.id) ? constants.get(field.id) : null);
      }
    },
  );
});

describe('readDataFile: values and projection rules', () => {
  it('reads Spark bunnies with names sanitized in the file (Breed_x20Name) and a column added later as null', async () => {
    const schema = tableSchema(`${SPARK_BUNNIES}/metadata/v5.metadata.json`);
    const file = `${SPARK_BUNNIES}/data/00000-1-9acc37f2-90ae-42f5-915c-a21c3cb99690-00001.parquet`;
    const rows = await readDataFile(fixtureBytes(file), { location: file, schema });
    expect(rows[0]).toEqual({
      'Breed Name': 'Holland Lop',
      'Average Weight': 1.8,
      'Fur Length': 3,
      Lifespan: 7n,
      'Origin Country': 'The Netherlands',
      'Ear Type': 'Lop',
      Temperament: 'Friendly',
      'Popularity Rank': 1n,
      breed_name_length: null,
    });
    const newer = await readDataFile(
      fixtureBytes(`${SPARK_BUNNIES}/data/00000-1-6cd7611f-0ceb-4cf3-8b8e-8c856356df3e-00001.parquet`),
      { location: 'x', schema },
    );
    expect(newer[0]).toMatchObject({ 'Breed Name': 'Netherland Dwarf', breed_name_length: 16 });
  });

  it('reads the renamed column of rename_column by field id 3, with dates, decimals and nulls', async () => {
    const file = `${RENAME}/data/id_bucket=0/date=2022-01-01/00000-20-b65939d1-96e1-4d30-a733-aa5264a479aa-00001.parquet`;
    const renamed = tableSchema(`${RENAME}/metadata/v3.metadata.json`, 1);
    const rows = await readDataFile(fixtureBytes(file), { location: file, schema: renamed });
    expect(rows).toEqual([
      { id: 1, name: 'Flopsy 🐇', event_date: 18993, price: 999n, active: true },
      { id: 2, name: 'Mopsy–Naïve', event_date: 18993, price: -500n, active: false },
    ]);
    const original = await readDataFile(fixtureBytes(file), {
      location: file,
      schema: tableSchema(`${RENAME}/metadata/v3.metadata.json`, 0),
      projection: [3],
    });
    expect(original).toEqual([{ date: 18993 }, { date: 18993 }]);
    const nullDate = `${RENAME}/data/id_bucket=3/date=null/00000-20-b65939d1-96e1-4d30-a733-aa5264a479aa-00002.parquet`;
    expect(
      await readDataFile(fixtureBytes(nullDate), { location: nullDate, schema: renamed, projection: [3, 4] }),
    ).toEqual([{ event_date: null, price: 0n }]);
  });

  it('reads uuid, timestamptz (µs) and map columns in the types.ts representation', async () => {
    const uuid = `${DUCK}/uuid/data/00000-0-07b11d9e-e7ff-4093-acb3-743bf8b2e5cc-00001.parquet`;
    const uuids = await readDataFile(fixtureBytes(uuid), {
      location: uuid,
      schema: tableSchema(`${DUCK}/uuid/metadata/00001-43fda1f4-1c96-4376-ad16-91beb71d0759.metadata.json`),
    });
    expect(uuids[0]).toEqual({ uuid: '1571effb-facd-42a3-90e9-0af522e9b6c2' });
    const nulls = `${DUCK}/null_stats/default/test_nulls/data/00000-0-2aeec77d-bbe8-4b0a-8105-3093ce4ea02a.parquet`;
    const stats = await readDataFile(fixtureBytes(nulls), {
      location: nulls,
      schema: tableSchema(
        `${DUCK}/null_stats/default/test_nulls/metadata/00003-9d6a621e-8a72-4190-a880-f6ca02e32b86.metadata.json`,
      ),
    });
    expect(stats[0]).toEqual({ id: 7, name: 'g', ts: BigInt(Date.UTC(2024, 2, 8, 12, 13, 20)) * 1000n, flag: null });
    const map = `${DUCK}/map_stats/default.db/map_stats/data/_day=2026-01-01/00000-0-8ed9efb3-5eb4-4225-a66a-2b6b46cb4d32.parquet`;
    const maps = await readDataFile(fixtureBytes(map), {
      location: map,
      schema: tableSchema(
        `${DUCK}/map_stats/default.db/map_stats/metadata/00002-0e059d4b-e5e8-41af-a763-76cbf3a3d0bc.metadata.json`,
      ),
    });
    expect(maps).toEqual([
      {
        timestamp: BigInt(Date.UTC(2026, 0, 1)) * 1000n,
        input: 'hello',
        output: 'world',
        metadata: new Map([['key', 'value1']]),
      },
    ]);
  });

  it("resolves files without field ids by name mapping, else by Java's top-level position fallback", async () => {
    const file = `${NAME_MAPPING}/data/data-6c6593a3-9e37-4bc5-bc45-4d2b43d4b3dc.parquet`;
    const schema = tableSchema(`${NAME_MAPPING}/metadata/v7.metadata.json`); // a: id 1, b: re-added as id 3
    const mapping = parseNameMapping(
      tableProperties(`${NAME_MAPPING}/metadata/v7.metadata.json`)['schema.name-mapping.default'],
    );
    const mapped = await readDataFile(fixtureBytes(file), { location: file, schema, nameMapping: mapping, rowEnd: 2 });
    expect(mapped).toEqual([
      { a: 0, b: 250n },
      { a: 1, b: 238n },
    ]);
    // without a mapping, columns get ids 1, 2 by position: `b` (id 2 in the file) no longer matches field id 3
    const fallback = await readDataFile(fixtureBytes(file), { location: file, schema, rowEnd: 2 });
    expect(fallback).toEqual([
      { a: 0, b: null },
      { a: 1, b: null },
    ]);
    // the original schema (b = id 2) reads b by position
    const original = await readDataFile(fixtureBytes(file), {
      location: file,
      schema: tableSchema(`${NAME_MAPPING}/metadata/v7.metadata.json`, 0),
      rowEnd: 2,
    });
    expect(original).toEqual([
      { a: 0, b: 250n },
      { a: 1, b: 238n },
    ]);
    // the object-wrapped mapping form of the v1 metadata is accepted too
    const wrapped = parseNameMapping(
      tableProperties(`${NAME_MAPPING}/metadata/v1.metadata.json`)['schema.name-mapping.default'],
    );
    expect(wrapped.map((f) => f.fieldId)).toEqual([1, 2]);
  });

  it('fills a partition column missing from the file from constants; a missing required field without one is an error', async () => {
    const file = `${DUCK}/partition_timestamptz/default.db/partition_timestamptz/data/partition_col=2023-05-15T14%3A30%3A45%2B00%3A00/00000-0-cf619707-d8b6-44d1-b057-0af5e41c05bb.parquet`;
    const schema = tableSchema(
      `${DUCK}/partition_timestamptz/default.db/partition_timestamptz/metadata/00001-ffeadb58-2a9e-46ba-8b4f-f363f05de68c.metadata.json`,
    );
    const rows = await readDataFile(fixtureBytes(file), {
      location: file,
      schema,
      constants: new Map([[1, 1684161045000000n]]),
    });
    expect(rows).toEqual([{ partition_col: 1684161045000000n, user_id: 12345n, event_type: 'click' }]);
    const failure = readDataFile(fixtureBytes(file), { location: file, schema });
    await expect(failure).rejects.toThrow(IcebergFormatError);
    await expect(failure).rejects.toThrow(/partition_col.*missing/);
    await expect(failure).rejects.toThrow(file);
  });

  it('uses initial-default for a column missing from the file, and metadata columns _pos and _file', async () => {
    const file = `${DUCK}/is_null_is_not_null/data/00000-0-61cb1d28-3b1b-45e4-b294-2d78a059cc58-00001.parquet`;
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 1,
      fields: [
        { id: 1, name: 'id', required: true, type: 'long' },
        {
          id: 7,
          name: 'added',
          required: false,
          type: 'timestamptz',
          'initial-default': '2024-01-02T03:04:05.123456+00:00',
        },
        { id: 8, name: 'amount', required: true, type: 'decimal(6, 2)', 'initial-default': '-12.50' },
        { id: ROW_POSITION_FIELD_ID, name: '_pos', required: true, type: 'long' },
        { id: FILE_PATH_FIELD_ID, name: '_file', required: true, type: 'string' },
      ],
    });
    const rows = await readDataFile(fixtureBytes(file), { location: 's3://bucket/f.parquet', schema, rowStart: 1 });
    expect(rows).toEqual([
      {
        id: 8n,
        added: BigInt(Date.UTC(2024, 0, 2, 3, 4, 5)) * 1000n + 123456n,
        amount: -1250n,
        _pos: 1n,
        _file: 's3://bucket/f.parquet',
      },
    ]);
  });

  it('reads position delete files with the reserved ids', async () => {
    const file = `${JAVA_BUNNIES}/data/bunnies-pos-deletes.parquet`;
    const rows = await readDataFile(fixtureBytes(file), { location: file, schema: POSITION_DELETE_SCHEMA });
    expect(rows.map((r) => r.pos)).toEqual([2n, 3n, 4n, 5n, 6n, 11n]);
    expect(new Set(rows.map((r) => r.file_path))).toEqual(
      new Set(['s3a://hyperparam-iceberg/java/bunnies/data/bunnies-initial.parquet']),
    );
  });

  it('reads int → long, float → double and decimal precision widening', async () => {
    const written = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: 'i', required: false, type: 'int' },
        { id: 2, name: 'f', required: false, type: 'float' },
        { id: 3, name: 'd', required: false, type: 'decimal(5, 2)' },
        { id: 4, name: 'e', required: false, type: 'decimal(12, 3)' },
      ],
    });
    const { bytes } = await writeDataFile(written, [{ i: -7, f: 1.5, d: -12345n, e: 999999999999n }, {}]);
    const wider = schemaFromJson({
      type: 'struct',
      'schema-id': 1,
      fields: [
        { id: 1, name: 'i', required: false, type: 'long' },
        { id: 2, name: 'f', required: false, type: 'double' },
        { id: 3, name: 'd', required: false, type: 'decimal(20, 2)' },
        { id: 4, name: 'e', required: false, type: 'decimal(38, 3)' },
      ],
    });
    expect(await readDataFile(bytes, { location: 'promo', schema: wider })).toEqual([
      { i: -7n, f: 1.5, d: -12345n, e: 999999999999n },
      { i: null, f: null, d: null, e: null },
    ]);
    const narrower = schemaFromJson({
      type: 'struct',
      'schema-id': 2,
      fields: [{ id: 3, name: 'd', required: false, type: 'decimal(4, 2)' }],
    });
    await expect(readDataFile(bytes, { location: 'promo.parquet', schema: narrower })).rejects.toThrow(
      /promo\.parquet.*field 'd'.*decimal\(5, 2\)/,
    );
    const wrongType = schemaFromJson({
      type: 'struct',
      'schema-id': 2,
      fields: [{ id: 1, name: 'i', required: false, type: 'string' }],
    });
    await expect(readDataFile(bytes, { location: 'promo.parquet', schema: wrongType })).rejects.toThrow(
      IcebergFormatError,
    );
  });

  it('converts millisecond and nanosecond timestamps and INT96 (old Spark) to µs, flooring before 1970', async () => {
    const writer = new ByteWriter();
    const { ParquetWriter } = await import('hyparquet-writer');
    const pq = new ParquetWriter({
      writer,
      schema: [
        { name: 'table', num_children: 3 },
        {
          name: 'ms',
          type: 'INT64',
          repetition_type: 'OPTIONAL',
          field_id: 1,
          converted_type: 'TIMESTAMP_MILLIS',
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
        },
        {
          name: 'ns',
          type: 'INT64',
          repetition_type: 'OPTIONAL',
          field_id: 2,
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' },
        },
        { name: 'int96', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 12, repetition_type: 'OPTIONAL', field_id: 3 },
      ],
    });
    // INT96 = 8-byte LE nanos of day + 4-byte LE Julian day; written as FIXED(12) and retyped in the footer below
    const int96 = (julianDay: number, nanosOfDay: bigint) => {
      const out = new Uint8Array(12);
      const view = new DataView(out.buffer);
      view.setBigUint64(0, nanosOfDay, true);
      view.setUint32(8, julianDay, true);
      return out;
    };
    pq.write({
      columnData: [
        { name: 'ms', data: [1700000000123n, -1n, null] },
        { name: 'ns', data: [1700000000123456789n, -1n, null] },
        {
          name: 'int96',
          data: [int96(2460263, 3_723_000_001_999n), int96(2440587, 86_399_999_999_999n), null],
          encoding: 'PLAIN',
        },
      ],
      rowGroupSize: 10,
    });
    pq.finish();
    // hyparquet-writer cannot write INT96: retype the FIXED(12) column in the footer (same 12-byte PLAIN values)
    const bytes = retypeInt96(writer.getBytes().slice());
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: 'ms', required: false, type: 'timestamptz' },
        { id: 2, name: 'ns', required: false, type: 'timestamp' },
        { id: 3, name: 'int96', required: false, type: 'timestamp' },
      ],
    });
    const rows = await readDataFile(bytes, { location: 'ts', schema });
    expect(rows).toEqual([
      { ms: 1700000000123000n, ns: 1700000000123456n, int96: BigInt(Date.UTC(2023, 10, 14, 1, 2, 3)) * 1000n + 1n },
      { ms: -1000n, ns: -1n, int96: -1n },
      { ms: null, ns: null, int96: null },
    ]);
    // DuckDB agrees on the hand-made INT96 column
    const { dir, cleanup } = await tempDir('floe-int96');
    try {
      await writeFile(path.join(dir, 'int96.parquet'), bytes);
      const duckRows = await duck.rows(
        `select epoch_us(int96) as v from read_parquet(${sqlString(path.join(dir, 'int96.parquet'))})`,
      );
      expect(duckRows.map((r) => r.v)).toEqual([String(rows[0].int96), '-1', null]);
    } finally {
      await cleanup();
    }
  });

  it('reads a list annotated with the logical LIST type only; a legacy 2-level list of groups is an error when read', async () => {
    const { ParquetWriter } = await import('hyparquet-writer');
    const writer = new ByteWriter();
    const pq = new ParquetWriter({
      writer,
      schema: [
        { name: 'schema', num_children: 2 },
        // 3-level, annotated with the logical type only once the footer is rewritten below
        {
          name: 'logical',
          repetition_type: 'OPTIONAL',
          converted_type: 'LIST',
          logical_type: { type: 'LIST' },
          num_children: 1,
          field_id: 3,
        },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL', field_id: 4 },
        // legacy 2-level list of groups: not supported, but only an error when read
        { name: 'legacy', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1, field_id: 5 },
        { name: 'array', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'x', type: 'INT32', repetition_type: 'REQUIRED', field_id: 6 },
      ],
    });
    pq.write({
      columnData: [
        { name: 'logical', data: [['a', null], null, []] },
        { name: 'legacy', data: [[1], null, []] },
      ],
    });
    pq.finish();
    const bytes = rewriteFooter(writer.getBytes().slice(), (metadata) => {
      delete metadata.schema.find((e) => e.name === 'logical')!.converted_type;
    });
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        {
          id: 3,
          name: 'logical',
          required: false,
          type: { type: 'list', 'element-id': 4, 'element-required': false, element: 'string' },
        },
        {
          id: 5,
          name: 'legacy',
          required: false,
          type: { type: 'list', 'element-id': 6, 'element-required': true, element: 'int' },
        },
      ],
    });
    expect(await readDataFile(bytes, { location: 'lists', schema, projection: [3] })).toEqual([
      { logical: ['a', null] },
      { logical: null },
      { logical: [] },
    ]);
    await expect(readDataFile(bytes, { location: 'lists.parquet', schema })).rejects.toThrow(
      /lists\.parquet: field 'legacy' is a legacy 2-level list of groups/,
    );
  });

  it('reads row ranges and yields one batch per row group', async () => {
    const schema = schemaFromJson({
      type: 'struct',
      'schema-id': 0,
      fields: [
        { id: 1, name: 'n', required: true, type: 'int' },
        { id: 2, name: 's', required: false, type: 'string' },
      ],
    });
    const input = Array.from({ length: 250 }, (_, n) => ({ n, s: n % 3 ? `v${n}` : null }));
    const { bytes } = await writeDataFile(schema, input, { rowGroupSize: 100 });
    const footer = await readDataFileMetadata(bytes, { location: 'groups' });
    expect(footer.rowGroups.map((g) => g.rowCount)).toEqual([100, 100, 50]);
    const batches: number[] = [];
    for await (const batch of readDataFileBatches(bytes, { location: 'groups', schema })) batches.push(batch.length);
    expect(batches).toEqual([100, 100, 50]);
    const middle = await readDataFile(bytes, { location: 'groups', schema, rowStart: 95, rowEnd: 205 });
    expect(middle).toEqual(input.slice(95, 205).map((r) => ({ n: r.n, s: r.s })));
    const partial: number[] = [];
    for await (const batch of readDataFileBatches(bytes, { location: 'groups', schema, rowStart: 95, rowEnd: 205 }))
      partial.push(batch.length);
    expect(partial).toEqual([5, 100, 5]);
  });

  it('reads only the footer with readDataFileMetadata', async () => {
    const file = `${JAVA_BUNNIES}/data/bunnies-eq-delete-new-zealand.parquet`;
    const footer = await readDataFileMetadata(fixtureBytes(file), { location: file });
    expect(footer.rowCount).toBe(1);
    expect(footer.hasFieldIds).toBe(true);
    expect(footer.keyValueMetadata['delete-type']).toBe('equality');
    expect(footer.keyValueMetadata['delete-field-ids']).toBe('1');
    expect(footer.createdBy).toMatch(/parquet-mr/);
    const noIds = await readDataFileMetadata(
      fixtureBytes(`${NAME_MAPPING}/data/data-6c6593a3-9e37-4bc5-bc45-4d2b43d4b3dc.parquet`),
      { location: 'x' },
    );
    expect(noIds).toMatchObject({ rowCount: 10_000, hasFieldIds: false });
  });
});

describe('readDataFile through FileIO', () => {
  const schema = schemaFromJson({
    type: 'struct',
    'schema-id': 0,
    fields: [
      { id: 1, name: 'n', required: true, type: 'long' },
      { id: 2, name: 'payload', required: true, type: 'binary' },
    ],
  });
  /** ~3 MB of random payload next to a tiny column: projecting `n` must not download the payload. */
  async function bigFile(): Promise<Uint8Array> {
    const rows = Array.from({ length: 1000 }, (_, i) => ({ n: BigInt(i), payload: new Uint8Array(randomBytes(3000)) }));
    const { bytes } = await writeDataFile(schema, rows, { rowGroupSize: 500, compression: 'snappy' });
    expect(bytes.byteLength).toBeGreaterThan(2_900_000);
    return bytes;
  }

  function counting(io: FileIO): { io: FileIO; bytesRead: () => number } {
    let total = 0;
    return {
      io: {
        ...io,
        async read(location) {
          const bytes = await io.read(location);
          total += bytes.byteLength;
          return bytes;
        },
        async readRange(location, offset, length) {
          const bytes = await io.readRange(location, offset, length);
          total += bytes.byteLength;
          return bytes;
        },
      },
      bytesRead: () => total,
    };
  }

  let s3: RunningS3;
  beforeAll(async () => {
    s3 = await startS3rver(['warehouse']);
  });
  afterAll(async () => s3.stop());

  it('reads projected columns from S3 with ranged GETs instead of the whole object', async () => {
    const bytes = await bigFile();
    const base = createFileIO({
      s3: {
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        forcePathStyle: true,
      },
    });
    const location = 's3://warehouse/t/data/big.parquet';
    await base.write(location, bytes);
    const { io, bytesRead } = counting(base);
    const rows = await readDataFile(io, { location, schema, projection: [1], fileSize: bytes.byteLength });
    expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 1000 }, (_, i) => BigInt(i)));
    expect(bytesRead()).toBeLessThan(bytes.byteLength / 20);
    const all = await readDataFile(base, { location, schema, rowStart: 998 });
    expect(all.map((r) => (r.payload as Uint8Array).byteLength)).toEqual([3000, 3000]);
  });

  it('reads small local files in one go and reports a missing file as a storage error', async () => {
    const { dir, cleanup } = await tempDir('floe-parquet-io');
    try {
      const io = createFileIO({ localFiles: true });
      const file = path.join(dir, 'small.parquet');
      const { bytes } = await writeDataFile(schema, [{ n: 1n, payload: new Uint8Array([1, 2]) }]);
      await mkdir(dir, { recursive: true });
      await writeFile(file, bytes);
      expect(await readDataFile(io, { location: `file://${file}`, schema })).toEqual([
        { n: 1n, payload: new Uint8Array([1, 2]) },
      ]);
      await expect(readDataFile(io, { location: `file://${dir}/missing.parquet`, schema })).rejects.toThrow(
        NotFoundError,
      );
    } finally {
      await cleanup();
    }
  });
});

describe('corrupt and truncated files', () => {
  const file = `${JAVA_BUNNIES}/data/bunnies-initial.parquet`;
  const schema = tableSchema(`${JAVA_BUNNIES}/metadata/v5.metadata.json`);
  const original = fixtureBytes(file);

  const cases: [string, (bytes: Uint8Array) => Uint8Array][] = [
    ['truncated before the footer', (b) => b.slice(0, b.byteLength - 100)],
    ['truncated to a few bytes', (b) => b.slice(0, 6)],
    ['empty', () => new Uint8Array()],
    ['not Parquet at all', () => new TextEncoder().encode('{"format-version": 2} and then some more bytes')],
    [
      'a footer length beyond the file',
      (b) => {
        const copy = b.slice();
        new DataView(copy.buffer).setUint32(copy.byteLength - 8, 0x7fffffff, true);
        return copy;
      },
    ],
    [
      'garbage in the footer',
      (b) => {
        const copy = b.slice();
        const length = new DataView(copy.buffer).getUint32(copy.byteLength - 8, true);
        copy.fill(0xff, copy.byteLength - 8 - length, copy.byteLength - 8 - length + 40);
        return copy;
      },
    ],
    [
      'garbage in the column chunks',
      (b) => {
        const copy = b.slice();
        copy.fill(0xa5, 4, 600);
        return copy;
      },
    ],
  ];

  it.each(cases)('%s → IcebergFormatError naming the file', async (_name, corrupt) => {
    const location = 's3://warehouse/bunnies/data/broken.parquet';
    const failure = readDataFile(corrupt(original), { location, schema });
    await expect(failure).rejects.toThrow(IcebergFormatError);
    await expect(failure).rejects.toThrow(location);
  });

  it('reports a corrupt footer from readDataFileMetadata too', async () => {
    await expect(readDataFileMetadata(original.slice(0, 200), { location: 'cut.parquet' })).rejects.toThrow(
      /cut\.parquet/,
    );
  });
});

// ---- INT96 fixture construction ----

/** Re-serializes a file's footer after `edit` (column statistics dropped): builds layouts hyparquet-writer cannot. */
function rewriteFooter(bytes: Uint8Array, edit: (metadata: ReturnType<typeof parquetMetadata>) => void): Uint8Array {
  const metadata = parquetMetadata(bytes);
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.byteLength - 8, true);
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) delete chunk.meta_data?.statistics;
  }
  edit(metadata);
  const out = new ByteWriter();
  out.appendBytes(bytes.slice(0, bytes.byteLength - 8 - footerLength));
  writeMetadata(out, metadata);
  out.appendUint32(0x31524150);
  return out.getBytes().slice();
}

/** The FIXED(12) column `int96` retyped INT96 (the legacy Spark timestamp): same 12-byte PLAIN values. */
function retypeInt96(bytes: Uint8Array): Uint8Array {
  return rewriteFooter(bytes, (metadata) => {
    const element = metadata.schema.find((e) => e.name === 'int96')!;
    element.type = 'INT96';
    delete element.type_length;
    for (const group of metadata.row_groups) {
      for (const chunk of group.columns)
        if (chunk.meta_data?.path_in_schema[0] === 'int96') chunk.meta_data.type = 'INT96';
    }
  });
}
