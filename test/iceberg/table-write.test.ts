/**
 * Tables floe writes — partitioned, several snapshots, an evolved schema, a compaction — read back identically through
 * floe's own scan, through icebird (an independent Iceberg reader, over HTTP) and DuckDB (Parquet data files).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { icebergRead } from 'icebird';
import { DuckDBInstance } from '@duckdb/node-api';
import { fileCatalog } from '../../shared/catalog/file-catalog.ts';
import { commitTable, ValidationError, type TableState } from '../../shared/iceberg/commit.ts';
import { assignFreshIds, setCurrentSchema, unionByName } from '../../shared/iceberg/evolution.ts';
import { currentSchema, newTableMetadata } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles, rewriteFiles, readManifestFiles, readManifestEntries } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import type { PartitionSpec, Schema, TableMetadata } from '../../shared/iceberg/types.ts';
import type { FileIO } from '../../shared/storage/index.ts';
import {
  appendRows,
  createTable,
  metadataFileName,
  startHttpWarehouse,
  type HttpWarehouse,
} from '../helpers/http-warehouse.ts';

const schema: Schema = {
  ...assignFreshIds(
    {
      type: 'struct',
      fields: [
        { id: 0, name: 'event_id', required: true, type: 'string' },
        { id: 0, name: 'ts', required: true, type: 'timestamptz' },
        { id: 0, name: 'car', required: false, type: 'string' },
        { id: 0, name: 'slot', required: false, type: 'int' },
        { id: 0, name: 'x', required: false, type: 'double' },
        { id: 0, name: 'amount', required: false, type: 'decimal(10, 2)' },
        { id: 0, name: 'uid', required: false, type: 'uuid' },
        {
          id: 0,
          name: 'tags',
          required: false,
          type: { type: 'list', elementId: 0, elementRequired: false, element: 'string' },
        },
        {
          id: 0,
          name: 'image',
          required: false,
          type: {
            type: 'struct',
            fields: [
              { id: 0, name: 'uri', required: true, type: 'string' },
              { id: 0, name: 'size_bytes', required: true, type: 'long' },
            ],
          },
        },
      ],
    },
    { value: 0 },
  ),
  schemaId: 0,
};
const TS = schema.fields.find((f) => f.name === 'ts')!.id;
const CAR = schema.fields.find((f) => f.name === 'car')!.id;
const spec: PartitionSpec = {
  specId: 0,
  fields: [
    { sourceId: TS, fieldId: 1000, name: 'ts_day', transform: 'day' },
    { sourceId: CAR, fieldId: 1001, name: 'car_bucket', transform: 'bucket[4]' },
  ],
};

const BASE_US = 1_795_000_000_000_000n;
function rows(from: number, n: number, extra: (i: number) => Record<string, unknown> = () => ({})) {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      event_id: `e-${String(i).padStart(5, '0')}`,
      ts: BASE_US + BigInt(i) * 3_600_000_000n * 7n,
      car: i % 5 === 0 ? null : `car-${i % 13}`,
      slot: i % 200,
      x: i / 7,
      amount: BigInt(i * 101 - 5000),
      uid: randomUUID(),
      tags: i % 3 ? ['a', `t${i}`] : null,
      image: i % 10 === 0 ? { uri: `s3://b/img/${i}.jpg`, size_bytes: BigInt(1000 + i) } : null,
      ...extra(i),
    };
  });
}

const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(a.event_id).localeCompare(String(b.event_id));

let wh: HttpWarehouse;
let io: FileIO;
let warehouse: string;

beforeAll(async () => {
  wh = await startHttpWarehouse('floe-table');
  ({ io, warehouse } = wh);
});
afterAll(() => wh?.close());

describe('writing tables', () => {
  const expected: Record<string, unknown>[] = [];
  let state: TableState;
  const name = 'db.events';

  it('creates a partitioned table and appends several snapshots', async () => {
    state = await createTable(wh, name, schema, spec);
    for (const [from, n] of [
      [0, 120],
      [120, 80],
    ]) {
      const batch = rows(from, n);
      expected.push(...batch);
      ({ state } = await appendRows(wh, name, state, batch));
    }
    const metadata = state.metadata;
    expect(metadata.snapshots).toHaveLength(2);
    expect(metadata.snapshots[1].summary).toMatchObject({
      operation: 'append',
      'added-records': '80',
      'total-records': '200',
    });
    const read = await scanRows(metadata, { io });
    expect(read.sort(byId)).toEqual(expected.map((r) => ({ ...r, slot: r.slot })).sort(byId));
  });

  it('evolves the schema additively and keeps old rows readable', async () => {
    const catalog = fileCatalog(io, warehouse);
    const port = catalog.port();
    state = await commitTable(
      port,
      name,
      async (base) => {
        const union = unionByName(
          currentSchema(base!),
          {
            type: 'struct',
            fields: [
              { id: 0, name: 'speed', required: false, type: 'double' },
              { id: 0, name: 'slot', required: false, type: 'long' },
            ],
          },
          base!.lastColumnId,
        );
        expect(union.changes).toEqual(['widen slot int → long', 'add speed double']);
        return setCurrentSchema(base!, union.schema, union.lastColumnId);
      },
      { io },
    );
    const batch = rows(200, 40, (i) => ({ speed: i * 0.5, slot: BigInt(i) }));
    ({ state } = await appendRows(wh, name, state, batch));
    expected.forEach((r) => {
      r.speed = null;
      r.slot = BigInt(r.slot as number);
    });
    expected.push(...batch);
    expect(state.metadata.schemas).toHaveLength(2);
    expect(state.metadata.lastColumnId).toBe(currentSchema(state.metadata).fields.find((f) => f.name === 'speed')!.id);
    expect((await scanRows(state.metadata, { io })).sort(byId)).toEqual([...expected].sort(byId));
  });

  it('compacts with a replace snapshot that keeps every row and value', async () => {
    const catalog = fileCatalog(io, warehouse);
    const port = catalog.port();
    const metadata = state.metadata;
    const before = await liveFiles(metadata);
    const all = await scanRows(metadata, { io });
    const replacement = await writeRows(io, metadata, all);
    state = await commitTable(
      port,
      name,
      rewriteFiles({
        io,
        operation: 'replace',
        deleted: before,
        added: replacement,
        validateFromSnapshotId: metadata.currentSnapshotId,
        dataSequenceNumber: metadata.snapshots.at(-1)!.sequenceNumber,
      }),
      { io },
    );
    const summary = state.metadata.snapshots.at(-1)!.summary;
    expect(summary).toMatchObject({
      operation: 'replace',
      'added-records': '240',
      'deleted-records': '240',
      'total-records': '240',
    });
    expect(Number(summary['total-data-files'])).toBe(replacement.length);
    expect(await liveFiles(state.metadata)).toHaveLength(replacement.length);
    expect((await scanRows(state.metadata, { io })).sort(byId)).toEqual([...expected].sort(byId));
    // a second rewrite of the already-replaced files must fail validation instead of resurrecting them
    await expect(
      commitTable(port, name, rewriteFiles({ io, operation: 'replace', deleted: before.slice(0, 1), added: [] }), {
        io,
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('is read identically by icebird over HTTP', async () => {
    const data = await icebergRead({ tableUrl: state.metadata.location, metadataFileName: metadataFileName(state) });
    expect(data).toHaveLength(expected.length);
    const got = new Map(data.map((r: Record<string, unknown>) => [r.event_id, r]));
    for (const row of expected) {
      const theirs = got.get(row.event_id) as Record<string, unknown>;
      expect(theirs.car).toBe(row.car);
      expect(theirs.x).toBe(row.x);
      expect(BigInt(theirs.slot as bigint)).toBe(row.slot);
      expect((theirs.ts as Date).getTime()).toBe(Number((row.ts as bigint) / 1000n));
      expect(theirs.tags ?? null).toEqual(row.tags);
    }
  });

  it('writes Parquet files DuckDB reads, with field ids and logical types', async () => {
    const files = await liveFiles(state.metadata);
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const local = files.map((f) => wh.localPath(f));
      const list = local.map((f) => `'${f}'`).join(',');
      const count = await connection.runAndReadAll(
        `select count(*)::INTEGER as n, count(distinct event_id)::INTEGER as ids, sum(slot)::BIGINT as slots from read_parquet([${list}])`,
      );
      const [n, distinctIds, slots] = count.getRows()[0];
      expect(n).toBe(expected.length);
      expect(distinctIds).toBe(expected.length);
      expect(BigInt(slots as bigint)).toBe(expected.reduce((s, r) => s + (r.slot as bigint), 0n));
      const columns = await connection.runAndReadAll(
        `select name, field_id, logical_type::VARCHAR from parquet_schema('${local[0]}') where name in ('event_id', 'ts', 'amount', 'uid')`,
      );
      const byName = Object.fromEntries(columns.getRows().map(([column, id, logical]) => [column, { id, logical }]));
      const ids = Object.fromEntries(currentSchema(state.metadata).fields.map((f) => [f.name, f.id]));
      for (const column of ['event_id', 'ts', 'amount', 'uid']) expect(Number(byName[column].id)).toBe(ids[column]);
      expect(String(byName.ts.logical)).toMatch(/TimestampType.*isAdjustedToUTC=1.*MICROS|TIMESTAMP/i);
      const decimals = await connection.runAndReadAll(
        `select amount::VARCHAR from read_parquet('${local[0]}') limit 1`,
      );
      expect(String(decimals.getRows()[0][0])).toMatch(/^-?\d+\.\d{2}$/);
    } finally {
      connection.closeSync();
    }
  });

  it('retries a commit that lost a race and keeps both changes', async () => {
    const catalog = fileCatalog(io, warehouse);
    const start = await catalog.load(name);
    const a = await writeRows(
      io,
      start!.metadata,
      rows(1000, 5, (i) => ({ speed: i, slot: 1n })),
    );
    const b = await writeRows(
      io,
      start!.metadata,
      rows(2000, 7, (i) => ({ speed: i, slot: 2n })),
    );
    const retried: number[] = [];
    await Promise.all([
      commitTable(catalog.port(), name, appendFiles({ io, files: a }), {
        io,
        minWaitMs: 1,
        maxWaitMs: 5,
        onRetry: (n) => retried.push(n),
      }),
      commitTable(catalog.port(), name, appendFiles({ io, files: b }), {
        io,
        minWaitMs: 1,
        maxWaitMs: 5,
        onRetry: (n) => retried.push(n),
      }),
    ]);
    const after = await catalog.load(name);
    expect(after!.metadata.snapshots.at(-1)!.summary['total-records']).toBe(String(240 + 12));
    expect(await scanRows(after!.metadata, { io })).toHaveLength(252);
  });

  async function liveFiles(metadata: TableMetadata): Promise<string[]> {
    const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
    const paths: string[] = [];
    for (const manifest of await readManifestFiles(io, snapshot)) {
      for (const entry of await readManifestEntries(io, manifest, metadata))
        if (entry.status !== 2) paths.push(entry.dataFile.filePath);
    }
    return paths;
  }
});

describe('the compression level of a table', () => {
  it("writes data files at the table's write.parquet.compression-level", async () => {
    const sizes: number[] = [];
    for (const level of ['1', '19']) {
      const metadata = newTableMetadata({
        location: `${warehouse}db/level_${level}`,
        schema,
        properties: { 'write.parquet.compression-level': level },
      });
      const files = await writeRows(io, metadata, rows(0, 2000));
      sizes.push(files.reduce((sum, f) => sum + f.fileSizeInBytes, 0));
    }
    expect(sizes[1]).toBeLessThan(sizes[0]);
  });

  it('refuses a level the codec does not have, naming the property', async () => {
    const metadata = newTableMetadata({
      location: `${warehouse}db/level_bad`,
      schema,
      properties: { 'write.parquet.compression-level': '40' },
    });
    await expect(writeRows(io, metadata, rows(0, 1))).rejects.toThrow(/write\.parquet\.compression-level '40'/);
  });
});
