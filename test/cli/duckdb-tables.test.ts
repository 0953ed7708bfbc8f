/**
 * The DuckDB views of `floe sql` over tables other engines wrote (test/fixtures/iceberg): position and equality
 * deletes, a name mapping, identity partitions — read with floe's scan and handed to DuckDB — and a table DuckDB
 * reads directly by field id. Each answer equals floe's own scan of the table.
 */
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { planTable, scratchDirectory, tablePaths, viewStatements } from '../../cli/duckdb-tables.ts';
import { parseTableMetadata } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { createFileIO, fileLocation, type FileIO } from '../../shared/storage/index.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';

const DUCK = 'duckdb-iceberg/data/persistent';
const ICEBIRD = 'icebird/hyperparam-iceberg';

/** Maps the prefixes the fixture writers recorded to the copies here. */
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

/** Runs `sql` over the fixture table as `ns.t`; also returns floe's scan of it and how the view reads it. */
async function query(relative: string, sql: string) {
  const io = fixtureIO();
  const location = fileLocation(path.join(ICEBERG_FIXTURES, relative));
  const metadata = parseTableMetadata(await io.read(location), location);
  const table = await planTable('ns.t', metadata, io);
  const scratch = scratchDirectory();
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const statement of viewStatements(table, await tablePaths(table, io, scratch.get)))
      await connection.run(statement);
    const rows = (await connection.runAndReadAll(sql)).getRowObjectsJS();
    return { rows, scanned: await scanRows(metadata, { io }), readThroughScan: table.readThroughScan };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await scratch.cleanup();
  }
}

describe('DuckDB views of Iceberg tables', () => {
  it('applies position deletes, then an equality delete (Iceberg Java 1.8.1)', async () => {
    const positions = await query(
      `${ICEBIRD}/java/bunnies/metadata/v4.metadata.json`,
      'select count(*) as n from ns.t',
    );
    expect(positions.readThroughScan).toMatch(/delete file/);
    expect(positions.rows).toEqual([{ n: 15n }]);
    expect(positions.scanned).toHaveLength(15);
    const equality = await query(
      `${ICEBIRD}/java/bunnies/metadata/v5.metadata.json`,
      `select "Popularity Rank" as rank, __happy__ from ns.t where "Breed Name" = 'New Zealand'`,
    );
    expect(equality.rows).toEqual([{ rank: 0n, __happy__: true }]);
  });

  it('scopes equality deletes to their partition', async () => {
    const { rows } = await query(
      `${DUCK}/equality_delete_cross_partition/warehouse/ns/t/metadata/vfinal.metadata.json`,
      'select val from ns.t order by val',
    );
    expect(rows.map((r) => r.val)).toEqual(['p0-k999', 'p1-k100', 'p1-k888']);
  });

  it('reads files without field ids through the name mapping', async () => {
    const { rows, readThroughScan } = await query(
      `${DUCK}/name_mapping/warehouse_1/mydb/t1/metadata/v2.metadata.json`,
      'select count(*) as n, min(a) as a, sum(b) as b from ns.t',
    );
    expect(readThroughScan).toMatch(/name mapping/);
    expect(rows[0].n).toBe(10000n);
    expect(rows[0].a).toBe(0);
  });

  it('fills identity-partition values missing from the files', async () => {
    const { rows, scanned } = await query(
      `${DUCK}/partition_integer/metadata/v2.metadata.json`,
      'select partition_col from ns.t order by 1',
    );
    expect(rows.map((r) => r.partition_col)).toEqual(
      scanned.map((r) => r.partition_col).sort((a, b) => (a as number) - (b as number)),
    );
    expect(rows.map((r) => r.partition_col)).toEqual([42, 1337]);
  });

  it('reads a table without deletes directly, columns by field id across schema changes (Spark)', async () => {
    const { rows, scanned, readThroughScan } = await query(
      `${ICEBIRD}/spark/bunnies/metadata/v5.metadata.json`,
      'select count(*) as n, count(breed_name_length) as with_length from ns.t',
    );
    expect(readThroughScan).toBeUndefined();
    expect(rows).toEqual([
      { n: BigInt(scanned.length), with_length: BigInt(scanned.filter((r) => r.breed_name_length !== null).length) },
    ]);
  });
});
