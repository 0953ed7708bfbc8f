/**
 * Compaction's DuckDB engine against its JS engine on the same file groups of a table with nested, decimal, uuid,
 * binary, float (NaN) and long string columns: the same rows, record counts, value/null/NaN counts and bounds, field
 * ids in the Parquet schema; the committed table reads the same through floe's scan, icebird and DuckDB; and groups
 * it cannot copy exactly fall back to the JS engine with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { icebergRead } from 'icebird';
import { DuckDBInstance } from '@duckdb/node-api';
import { fileCatalog } from '../../shared/catalog/file-catalog.ts';
import { leafMetrics, metricsMaps } from '../../shared/iceberg/column-metrics.ts';
import { commitTable, type TableState } from '../../shared/iceberg/commit.ts';
import { assignFreshIds } from '../../shared/iceberg/evolution.ts';
import { readDataFile } from '../../shared/iceberg/parquet-reader.ts';
import {
  binPackSettings,
  planRewriteDataFiles,
  replaceDataFiles,
  rewriteFileGroup,
  type RewritePlan,
} from '../../shared/iceberg/rewrite-data.ts';
import { mergeMetrics } from '../../shared/iceberg/rewrite-duckdb.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import type { DataFile, PartitionSpec, Schema } from '../../shared/iceberg/types.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
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
        { id: 0, name: 'id', required: true, type: 'long' },
        { id: 0, name: 'ts', required: true, type: 'timestamptz' },
        { id: 0, name: 'day', required: false, type: 'date' },
        { id: 0, name: 'note', required: false, type: 'string' },
        { id: 0, name: 'x', required: false, type: 'double' },
        { id: 0, name: 'f', required: false, type: 'float' },
        { id: 0, name: 'ok', required: false, type: 'boolean' },
        { id: 0, name: 'amount', required: false, type: 'decimal(12, 3)' },
        { id: 0, name: 'uid', required: false, type: 'uuid' },
        { id: 0, name: 'blob', required: false, type: 'binary' },
        {
          id: 0,
          name: 'tags',
          required: false,
          type: { type: 'list', elementId: 0, elementRequired: false, element: 'string' },
        },
        {
          id: 0,
          name: 'attrs',
          required: false,
          type: { type: 'map', keyId: 0, key: 'string', valueId: 0, valueRequired: false, value: 'long' },
        },
        {
          id: 0,
          name: 'image',
          required: false,
          type: {
            type: 'struct',
            fields: [
              { id: 0, name: 'uri', required: true, type: 'string' },
              { id: 0, name: 'size', required: false, type: 'int' },
            ],
          },
        },
      ],
    },
    { value: 0 },
  ),
  schemaId: 0,
};
const ID = schema.fields.find((f) => f.name === 'id')!.id;
const spec: PartitionSpec = {
  specId: 0,
  fields: [{ sourceId: ID, fieldId: 1000, name: 'id_bucket', transform: 'bucket[2]' }],
};

function rows(from: number, n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      id: BigInt(i),
      ts: 1_795_000_000_000_000n + BigInt(i) * 1_000_003n,
      day: i % 9 ? 20_000 + (i % 40) : null,
      note: i % 4 ? `${'long text that exceeds sixteen code points '.slice(i % 7)}${i}` : null,
      x: i % 11 === 0 ? NaN : i % 5 ? (i - 300) / 7 : null,
      f: i % 13 === 0 ? NaN : Math.fround(i / 3),
      ok: i % 3 ? i % 2 === 0 : null,
      amount: i % 6 ? BigInt(i * 1001 - 250_000) : null,
      uid: i % 8 ? `${String(i).padStart(8, '0')}-0000-4000-8000-${String(i * 7).padStart(12, '0')}` : null,
      blob: i % 5 ? Uint8Array.of(i % 256, (i * 3) % 256, 0xff) : null,
      tags: i % 3 ? ['a', `t${i}`, ...(i % 2 ? [null] : [])] : null,
      attrs: i % 4 ? new Map([[`k${i % 5}`, BigInt(i)]]) : null,
      image: i % 10 ? { uri: `s3://b/img/${i}.jpg`, size: i % 7 ? i * 10 : null } : null,
    };
  });
}

let wh: HttpWarehouse;
let io: FileIO;
let warehouse: string;

beforeAll(async () => {
  wh = await startHttpWarehouse('floe-rewrite-duckdb');
  ({ io, warehouse } = wh);
});
afterAll(() => wh?.close());

const METRICS = ['valueCounts', 'nullValueCounts', 'nanValueCounts', 'lowerBounds', 'upperBounds'] as const;
function metricsOf(file: DataFile): string {
  return stringifyJson({
    records: file.recordCount,
    partition: file.partition,
    ...Object.fromEntries(
      METRICS.map((m) => [
        m,
        [...(file[m]?.entries() ?? [])]
          .sort(([a], [b]) => a - b)
          .map(([id, v]) => [id, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]),
      ]),
    ),
  });
}

describe('mergeMetrics', () => {
  it("keeps a uuid column's bounds whole under truncate(N), as the writer does", () => {
    const mode = { kind: 'truncate', length: 4 } as const;
    const files = [1, 100].map((first) => {
      const leaf = leafMetrics(7, 'uuid', mode, false);
      leaf.observe(Uint8Array.from({ length: 16 }, (_, i) => first + i));
      return { recordCount: 1, ...metricsMaps([leaf]) } as DataFile;
    });
    const merged = mergeMetrics(files, [{ id: 7, type: 'uuid', mode, bounds: true }]);
    expect(merged.valueCounts).toEqual(new Map([[7, 2]]));
    expect(merged.lowerBounds!.get(7)).toEqual(files[0].lowerBounds!.get(7));
    expect(merged.upperBounds!.get(7)).toEqual(files[1].upperBounds!.get(7));
    expect(merged.lowerBounds!.get(7)).toHaveLength(16);
  });
});

describe('the DuckDB compaction engine', () => {
  const name = 'db.wide';
  const expected: Record<string, unknown>[] = [];
  let state: TableState;
  let plan: RewritePlan;

  beforeAll(async () => {
    state = await createTable(wh, name, schema, spec, { 'write.target-file-size-bytes': String(1024 * 1024) });
    for (let b = 0; b < 8; b++) {
      const batch = rows(b * 150, 150);
      expected.push(...batch);
      ({ state } = await appendRows(wh, name, state, batch));
    }
    plan = await planRewriteDataFiles(state.metadata, { io, settings: binPackSettings(state.metadata) });
    expect(plan.groups).toHaveLength(2);
  });

  it('writes the same rows and exactly the metrics the JS engine computes from the rows', async () => {
    for (const group of plan.groups) {
      const fallbacks: string[] = [];
      const [js] = await rewriteFileGroup(io, state.metadata, plan, group, { engine: 'js' });
      const [duck] = await rewriteFileGroup(io, state.metadata, plan, group, {
        engine: 'duckdb',
        onFallback: (reason) => fallbacks.push(reason),
      });
      expect(fallbacks).toEqual([]);
      expect(metricsOf(duck)).toBe(metricsOf(js));
      expect([...duck.columnSizes!.keys()].sort()).toEqual([...js.columnSizes!.keys()].sort());
      const read = async (f: DataFile) =>
        (await readDataFile(io, { location: f.filePath, schema, fileSize: f.fileSizeInBytes })).map((r) =>
          stringifyJson(r),
        );
      expect(await read(duck)).toEqual(await read(js));
      await io.deleteMany([js.filePath, duck.filePath]);
    }
  });

  it('commits files that floe, icebird and DuckDB read as the original rows, with the field ids', async () => {
    const catalog = fileCatalog(io, warehouse);
    const added: DataFile[] = [];
    for (const group of plan.groups)
      added.push(...(await rewriteFileGroup(io, state.metadata, plan, group, { engine: 'duckdb' })));
    state = await commitTable(catalog.port(), name, replaceDataFiles(plan, plan.groups, added, { io }), { io });
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      Number((a.id as bigint) - (b.id as bigint));
    const canonical = (list: Record<string, unknown>[]) => [...list].sort(byId).map((r) => stringifyJson(r));
    expect(canonical(await scanRows(state.metadata, { io }))).toEqual(canonical(expected));

    const theirs = await icebergRead({ tableUrl: state.metadata.location, metadataFileName: metadataFileName(state) });
    expect(theirs).toHaveLength(expected.length);
    const got = new Map(theirs.map((r: Record<string, unknown>) => [BigInt(r.id as bigint), r]));
    for (const row of expected) {
      const r = got.get(row.id as bigint) as Record<string, unknown>;
      expect(r.note ?? null).toBe(row.note);
      expect(r.tags ?? null).toEqual(row.tags);
    }

    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const local = added.map((f) => `'${wh.localPath(f.filePath)}'`).join(',');
      const [[n, sum]] = (
        await connection.runAndReadAll(`select count(*)::INTEGER, sum(id)::BIGINT from read_parquet([${local}])`)
      ).getRows();
      expect(n).toBe(expected.length);
      expect(BigInt(sum as bigint)).toBe(expected.reduce((s, r) => s + (r.id as bigint), 0n));
      const ids = (
        await connection.runAndReadAll(
          `select name, field_id from parquet_schema('${wh.localPath(added[0].filePath)}') where field_id is not null`,
        )
      ).getRows();
      const byName = new Map(ids.map(([column, id]) => [String(column), Number(id)]));
      for (const field of schema.fields) expect(byName.get(field.name), field.name).toBe(field.id);
    } finally {
      connection.closeSync();
    }
  });

  it('falls back to the JS engine, saying why, for a group it cannot copy exactly', async () => {
    const catalog = fileCatalog(io, warehouse);
    // a bloom filter is something only floe's writer adds
    state = await commitTable(
      catalog.port(),
      name,
      async (base) => ({
        ...base!,
        properties: { ...base!.properties, 'write.parquet.bloom-filter-enabled.column.note': 'true' },
      }),
      { io },
    );
    for (let b = 0; b < 5; b++) ({ state } = await appendRows(wh, name, state, rows(10_000 + b * 20, 20)));
    const again = await planRewriteDataFiles(state.metadata, { io, settings: binPackSettings(state.metadata) });
    const reasons: string[] = [];
    const files = await rewriteFileGroup(io, state.metadata, again, again.groups[0], {
      engine: 'duckdb',
      onFallback: (reason) => reasons.push(reason),
    });
    expect(reasons).toEqual(['bloom filters are configured']);
    expect(files.reduce((s, f) => s + f.recordCount, 0)).toBe(again.groups[0].inputRecords);
  });
});
