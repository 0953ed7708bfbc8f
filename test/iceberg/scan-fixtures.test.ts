/**
 * Every complete table in test/fixtures/iceberg reads with the right rows: tables written by Spark, Iceberg Java
 * 1.8.1, Athena, PyIceberg and DuckDB, with position and equality deletes, renamed columns, bucket and identity
 * partitions, partition evolution, name mapping without field ids, v1 metadata, uuid/decimal/map columns.
 * Expected values come from the fixtures' README and the writers' own test suites.
 */
import { describe, expect, it } from 'vitest';
import { planScan, scanRows } from '../../shared/iceberg/scan.ts';
import type { Expression } from '../../shared/iceberg/expressions.ts';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseTableMetadata } from '../../shared/iceberg/metadata.ts';
import type { TableMetadata } from '../../shared/iceberg/types.ts';
import { createFileIO, fileLocation, type FileIO } from '../../shared/storage/index.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';
import { tempDir } from '../helpers/tmp.ts';

const DUCK = 'duckdb-iceberg/data/persistent';
const ICEBIRD = 'icebird/hyperparam-iceberg';

/** FileIO that maps every prefix the fixture writers recorded to the copy here. */
function fixtureIO(): FileIO {
  const icebird = fileLocation(path.join(ICEBERG_FIXTURES, ICEBIRD)) + '/';
  const duckdb = fileLocation(path.join(ICEBERG_FIXTURES, 'duckdb-iceberg')) + '/';
  return createFileIO({
    localFiles: true,
    maps: [
      { from: 's3a://hyperparam-iceberg/', to: icebird },
      { from: 's3://hyperparam-iceberg/', to: icebird },
      { from: 'file://data/persistent/', to: `${duckdb}data/persistent/` },
      { from: 'data/persistent/', to: `${duckdb}data/persistent/` },
    ],
  });
}

async function fixtureTable(relative: string): Promise<{ io: FileIO; metadata: TableMetadata }> {
  const io = fixtureIO();
  const location = fileLocation(path.join(ICEBERG_FIXTURES, relative));
  return { io, metadata: parseTableMetadata(await io.read(location), location) };
}

async function read(table: string, options: { filter?: Expression; snapshotId?: bigint } = {}) {
  const { io, metadata } = await fixtureTable(table);
  return scanRows(metadata, { io, ...options });
}

describe('reading tables other engines wrote', () => {
  it('Spark bunnies: append, position delete, schema evolution, time travel', async () => {
    const v1 = await read(`${ICEBIRD}/spark/bunnies/metadata/v1.metadata.json`);
    expect(v1).toHaveLength(21);
    expect(v1[0]).toEqual({
      'Breed Name': 'Holland Lop',
      'Average Weight': 1.8,
      'Fur Length': 3,
      Lifespan: 7n,
      'Origin Country': 'The Netherlands',
      'Ear Type': 'Lop',
      Temperament: 'Friendly',
      'Popularity Rank': 1n,
    });
    const v3 = await read(`${ICEBIRD}/spark/bunnies/metadata/v3.metadata.json`);
    expect(v3).toHaveLength(20);
    expect(v3.some((r) => r['Breed Name'] === 'Holland Lop')).toBe(false);
    const v5 = await read(`${ICEBIRD}/spark/bunnies/metadata/v5.metadata.json`);
    expect(v5).toHaveLength(20);
    expect(v5[0]).toMatchObject({ 'Breed Name': 'Netherland Dwarf', breed_name_length: 16 });
    const first = await read(`${ICEBIRD}/spark/bunnies/metadata/v5.metadata.json`, {
      snapshotId: 7505300640432048841n,
    });
    expect(first).toHaveLength(21);
    expect(first[0]).not.toHaveProperty('breed_name_length');
  });

  it('Java 1.8.1 bunnies: position deletes, then an equality delete with a re-inserted row', async () => {
    expect(await read(`${ICEBIRD}/java/bunnies/metadata/v2.metadata.json`)).toHaveLength(21);
    const v3 = await read(`${ICEBIRD}/java/bunnies/metadata/v3.metadata.json`);
    expect(v3).toHaveLength(21);
    expect(v3[2]).toMatchObject({ 'Breed Name': 'Flemish Giant', 'Popularity Rank': 3n, __happy__: null });
    const v4 = await read(`${ICEBIRD}/java/bunnies/metadata/v4.metadata.json`);
    expect(v4).toHaveLength(15);
    expect(v4.find((r) => r['Breed Name'] === 'New Zealand')).toMatchObject({
      'Popularity Rank': 21n,
      'Fur Length': 2.7,
    });
    const v5 = await read(`${ICEBIRD}/java/bunnies/metadata/v5.metadata.json`);
    expect(v5).toHaveLength(15);
    const zealand = v5.filter((r) => r['Breed Name'] === 'New Zealand');
    expect(zealand).toEqual([expect.objectContaining({ 'Popularity Rank': 0n, __happy__: true })]);
  });

  it('Spark rename_column: bucket + identity partitions, renamed column, decimal and boolean', async () => {
    const rows = await read(`${ICEBIRD}/spark/rename_column/metadata/v3.metadata.json`);
    expect(rows.map((r) => r.id).sort()).toEqual([1, 2, 3, 4]);
    expect(rows.find((r) => r.id === 1)).toEqual({
      id: 1,
      name: 'Flopsy 🐇',
      event_date: 18993,
      price: 999n,
      active: true,
    });
    expect(rows.find((r) => r.id === 4)).toEqual({
      id: 4,
      name: 'Thumper',
      event_date: 18994,
      price: 9999999999n,
      active: false,
    });
    expect(rows.find((r) => r.id === 3)?.event_date).toBeNull();
    expect(
      (await read(`${ICEBIRD}/spark/rename_column/metadata/v2.metadata.json`)).find((r) => r.id === 2),
    ).toMatchObject({ name: 'Mopsy–Naïve', date: 18993, price: -500n });
  });

  it('Athena: metastore naming and object-storage data paths', async () => {
    expect(
      await read(`${ICEBIRD}/athena/example/metadata/00001-aaf0d033-d06b-43c7-be60-67f83abd4aca.metadata.json`),
    ).toEqual([
      { id: 1, name: 'Alice' },
      { id: 2, name: 'Bob' },
    ]);
  });

  it('PyIceberg and DuckDB tables: nulls, timestamptz, maps, uuids', async () => {
    const nulls = await read(
      `${DUCK}/null_stats/default/test_nulls/metadata/00003-9d6a621e-8a72-4190-a880-f6ca02e32b86.metadata.json`,
    );
    expect(nulls).toHaveLength(9);
    expect(nulls.find((r) => r.id === 1)).toEqual({ id: 1, name: 'a', ts: 1709300000000000n, flag: true });
    const isNull = await read(
      `${DUCK}/is_null_is_not_null/metadata/00001-43ceeb9a-cd0d-4556-b1e2-513b5bf88ff8.metadata.json`,
    );
    expect(isNull).toHaveLength(8);
    expect(isNull.filter((r) => r.value === null).length).toBeGreaterThan(0);
    const maps = await read(
      `${DUCK}/map_stats/default.db/map_stats/metadata/00002-0e059d4b-e5e8-41af-a763-76cbf3a3d0bc.metadata.json`,
    );
    expect(maps).toHaveLength(2);
    expect(maps[0].metadata).toEqual(new Map([['key', 'value1']]));
    const uuids = await read(`${DUCK}/uuid/metadata/00001-43fda1f4-1c96-4376-ad16-91beb71d0759.metadata.json`);
    expect(uuids).toHaveLength(10);
    expect(uuids[0].uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('identity partitions whose column is missing from the data files read the manifest value', async () => {
    const ints = await read(`${DUCK}/partition_integer/metadata/v2.metadata.json`);
    expect(ints.map((r) => r.partition_col as number).sort((a, b) => a - b)).toEqual([42, 1337]);
    const decimals = await read(`${DUCK}/partition_decimal_integer/metadata/v2.metadata.json`);
    expect(decimals.map((r) => r.partition_col)).toContain(12345432n);
    const stamps = await read(
      `${DUCK}/partition_timestamptz/default.db/partition_timestamptz/metadata/00001-ffeadb58-2a9e-46ba-8b4f-f363f05de68c.metadata.json`,
    );
    expect(stamps.map((r) => r.partition_col).sort()).toEqual([1684161045000000n, 1692695720000000n]);
  });

  it('partition evolution, equality-delete partition scoping, and name mapping', async () => {
    expect(await read(`${DUCK}/hive_partitioned_table/metadata/v4.metadata.json`)).toHaveLength(6);
    const scoped = await read(`${DUCK}/equality_delete_cross_partition/warehouse/ns/t/metadata/vfinal.metadata.json`);
    expect(scoped.map((r) => r.val).sort()).toEqual(['p0-k999', 'p1-k100', 'p1-k888']);
    const mapped = await read(`${DUCK}/name_mapping/warehouse_1/mydb/t1/metadata/v2.metadata.json`);
    expect(mapped).toHaveLength(10000);
    expect(mapped[0]).toEqual({ a: 0, b: 250n });
  });

  it('prunes files by partition and by column metrics, and filters rows exactly', async () => {
    const { io, metadata } = await fixtureTable(`${DUCK}/hive_partitioned_table/metadata/v4.metadata.json`);
    const clicks = { op: 'eq', ref: 'event_type', value: 'click' } as const;
    const plan = await planScan(metadata, { io, filter: clicks });
    expect(plan.prunedFiles).toBeGreaterThan(0);
    expect((await scanRows(metadata, { io, filter: clicks })).map((r) => r.user_id).sort()).toEqual([12345n, 24680n]);
    const byId = await read(`${ICEBIRD}/spark/rename_column/metadata/v3.metadata.json`, {
      filter: { op: 'eq', ref: 'id', value: 3 },
    });
    expect(byId.map((r) => r.name)).toEqual(['Cottontail']);
    const late = await read(
      `${DUCK}/map_stats/default.db/map_stats/metadata/00002-0e059d4b-e5e8-41af-a763-76cbf3a3d0bc.metadata.json`,
      {
        filter: { op: 'gtEq', ref: 'timestamp', value: '2026-01-02' },
      },
    );
    expect(late.map((r) => r.timestamp)).toEqual([1767312000000000n]);
  });

  it('names the file when metadata is missing or corrupt', async () => {
    await expect(read(`${DUCK}/uuid/metadata/does-not-exist.metadata.json`)).rejects.toThrow(
      /does-not-exist\.metadata\.json/,
    );
    const { dir, cleanup } = await tempDir('floe-corrupt');
    try {
      const original = await readFile(
        path.join(ICEBERG_FIXTURES, ICEBIRD, 'spark/bunnies/metadata/v5.metadata.json'),
        'utf8',
      );
      const truncated = path.join(dir, 'v5.metadata.json');
      await writeFile(truncated, original.slice(0, original.length / 2));
      expect(() => parseTableMetadata(original.slice(0, original.length / 2), truncated)).toThrow(
        new RegExp(`cannot parse table metadata ${truncated}`),
      );
      const wrongVersion = original.replace('"format-version" : 2', '"format-version" : 9');
      expect(() => parseTableMetadata(wrongVersion, 'v9.json')).toThrow(
        /invalid table metadata v9\.json: unsupported format-version 9/,
      );
      const noSchema = original.replace('"current-schema-id" : 1', '"current-schema-id" : 7');
      expect(() => parseTableMetadata(noSchema, 'x.json')).toThrow(/current-schema-id 7 has no schema/);
    } finally {
      await cleanup();
    }
  });
});
