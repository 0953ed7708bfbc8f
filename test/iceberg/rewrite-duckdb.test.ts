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
import { bloomHash } from '../../shared/iceberg/bloom-filter.ts';
import { assignFreshIds, setCurrentSchema } from '../../shared/iceberg/evolution.ts';
import { readBloomFilters, readDataFile } from '../../shared/iceberg/parquet-reader.ts';
import {
  binPackSettings,
  expectedOutputFiles,
  planRewriteDataFiles,
  replaceDataFiles,
  rewriteFileGroup,
  type RewritePlan,
} from '../../shared/iceberg/rewrite-data.ts';
import { mergeMetrics, rewriteGroupWithDuckDB } from '../../shared/iceberg/rewrite-duckdb.ts';
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

  it("copies at the table's zstd level, and leaves a gzip level to the JS engine", async () => {
    const withProperties = (properties: Record<string, string>) => ({
      ...state.metadata,
      properties: { ...state.metadata.properties, ...properties },
    });
    const group = plan.groups[0];
    const sizes: number[] = [];
    for (const level of ['1', '19']) {
      const fallbacks: string[] = [];
      const [file] = await rewriteFileGroup(
        io,
        withProperties({ 'write.parquet.compression-level': level }),
        plan,
        group,
        { engine: 'duckdb', onFallback: (reason) => fallbacks.push(reason) },
      );
      expect(fallbacks).toEqual([]);
      expect(await readDataFile(io, { location: file.filePath, schema, fileSize: file.fileSizeInBytes })).toHaveLength(
        group.inputRecords,
      );
      sizes.push(file.fileSizeInBytes);
      await io.delete(file.filePath);
    }
    expect(sizes[1]).toBeLessThan(sizes[0]);

    const reasons: string[] = [];
    const files = await rewriteFileGroup(
      io,
      withProperties({ 'write.parquet.compression-codec': 'gzip', 'write.parquet.compression-level': '9' }),
      plan,
      group,
      { engine: 'duckdb', onFallback: (reason) => reasons.push(reason) },
    );
    expect(reasons).toEqual(['DuckDB takes no gzip compression level']);
    await io.deleteMany(files.map((f) => f.filePath));
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
    // a new column: the files written before it have neither its metrics nor the table's Parquet schema
    state = await commitTable(
      catalog.port(),
      name,
      async (base) => {
        const current = base!.schemas.find((s) => s.schemaId === base!.currentSchemaId)!;
        const added = { id: base!.lastColumnId + 1, name: 'extra', required: false, type: 'string' as const };
        return setCurrentSchema(
          base!,
          { ...current, schemaId: current.schemaId + 1, fields: [...current.fields, added] },
          added.id,
        );
      },
      { io },
    );
    for (let b = 0; b < 5; b++) ({ state } = await appendRows(wh, name, state, rows(10_000 + b * 20, 20)));
    // Bucket partitions never close, so only the new small files would be merged: rewrite-all takes the older too.
    const again = await planRewriteDataFiles(state.metadata, {
      io,
      settings: binPackSettings(state.metadata, { 'rewrite-all': 'true' }),
    });
    const reasons: string[] = [];
    const files = await rewriteFileGroup(io, state.metadata, again, again.groups[0], {
      engine: 'duckdb',
      onFallback: (reason) => reasons.push(reason),
    });
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/\.parquet (lacks counts of column \d+|has another Parquet schema)$/);
    expect(files.reduce((s, f) => s + f.recordCount, 0)).toBe(again.groups[0].inputRecords);
  });
});

describe('the DuckDB compaction engine on a table with bloom filters', () => {
  const name = 'db.keys';
  // every type floe hashes (long, timestamptz, date, string, uuid, binary) and one it does not (double)
  const filtered = ['id', 'ts', 'day', 'note', 'uid', 'blob', 'x'];
  const hashed = filtered.filter((c) => c !== 'x');
  const FPP: Record<string, number> = { id: 0.001 };
  let state: TableState;
  let plan: RewritePlan;
  const copy = (
    group: RewritePlan['groups'][number],
    extra: { dictionarySizeLimit?: number; bloomFilters?: boolean } = {},
  ) =>
    rewriteGroupWithDuckDB(io, state.metadata, plan, group, {
      bloomFilters: true,
      outputFiles: (bytes) => expectedOutputFiles(bytes, plan.settings),
      sizes: { min: plan.settings['min-file-size-bytes'], max: plan.settings['max-file-size-bytes'] },
      // several row groups from a few thousand rows
      rowGroupRows: 700,
      ...extra,
    });

  beforeAll(async () => {
    const properties: Record<string, string> = { 'write.target-file-size-bytes': String(4 * 1024 * 1024) };
    for (const column of filtered) properties[`write.parquet.bloom-filter-enabled.column.${column}`] = 'true';
    for (const [column, fpp] of Object.entries(FPP))
      properties[`write.parquet.bloom-filter-fpp.column.${column}`] = String(fpp);
    state = await createTable(wh, name, schema, spec, properties);
    for (let b = 0; b < 6; b++) ({ state } = await appendRows(wh, name, state, rows(b * 500, 500)));
    plan = await planRewriteDataFiles(state.metadata, { io, settings: binPackSettings(state.metadata) });
    expect(plan.groups).toHaveLength(2);
  });

  it('writes a filter for every requested column in every row group that finds every value, metrics exact', async () => {
    const ids = hashed.map((c) => schema.fields.find((f) => f.name === c)!.id);
    for (const group of plan.groups) {
      const copied = await copy(group);
      expect(copied.fallback).toBeUndefined();
      const [duck] = copied.files!;
      const [js] = await rewriteFileGroup(io, state.metadata, plan, group, { engine: 'js' });
      expect(metricsOf(duck)).toBe(metricsOf(js));

      const filters = await readBloomFilters(io, { location: duck.filePath, fieldIds: ids });
      expect(filters.rowGroups.length).toBeGreaterThan(1);
      expect(filters.rowGroups.reduce((s, g) => s + g.rowCount, 0)).toBe(group.inputRecords);
      for (const g of filters.rowGroups) for (const id of ids) expect(g.filters.get(id), `field ${id}`).toBeDefined();

      // no false negative: every value of the file is "maybe" in its row group's filter
      const read = await readDataFile(io, { location: duck.filePath, schema, fileSize: duck.fileSizeInBytes });
      let row = 0;
      let probed = 0;
      for (const g of filters.rowGroups) {
        for (let r = 0; r < g.rowCount; r++, row++) {
          for (const [k, column] of hashed.entries()) {
            const value = read[row][column];
            if (value === null || value === undefined) continue;
            const hash = bloomHash(value, filters.elements.get(ids[k])!)!;
            expect(g.filters.get(ids[k])!.mightContainHash(hash), `${column} = ${String(value)}`).toBe(true);
            probed++;
          }
        }
      }
      expect(row).toBe(group.inputRecords);
      expect(probed).toBeGreaterThan(group.inputRecords * 4);

      // false positives near the table's fpp (DuckDB's ratio is one for all columns: the smallest asked for)
      for (const [column, fpp] of [
        ['id', FPP.id],
        ['note', 0.01],
      ] as const) {
        const id = schema.fields.find((f) => f.name === column)!.id;
        let hits = 0;
        let probes = 0;
        for (const g of filters.rowGroups) {
          for (let k = 0; k < 5000; k++, probes++) {
            const absent = column === 'id' ? BigInt(1_000_000_000 + k) : `absent key ${k}`;
            if (g.filters.get(id)!.mightContainHash(bloomHash(absent, filters.elements.get(id)!)!)) hits++;
          }
        }
        expect(hits / probes, column).toBeLessThanOrEqual(fpp * 1.5);
      }
      await io.deleteMany([js.filePath, duck.filePath]);
    }
  });

  it('falls back when a row group would lack a filter (a dictionary over its limit), leaving no file', async () => {
    const dataDir = `${state.metadata.location}/data/`;
    const before = await listed(dataDir);
    // 100 distinct values fit the dictionary of day but not of id, ts or note: DuckDB writes those chunks PLAIN
    const copied = await copy(plan.groups[0], { dictionarySizeLimit: 100 });
    expect(copied.files).toBeUndefined();
    expect(copied.fallback).toMatch(
      /^DuckDB wrote no usable bloom filter for column (id|ts|note|uid|blob) in row group 0$/,
    );
    expect(await listed(dataDir)).toEqual(before);
  });

  it('leaves such tables to the JS rewrite unless the engine is duckdb-bloom (its files are larger)', async () => {
    const dataDir = `${state.metadata.location}/data/`;
    const before = await listed(dataDir);
    const copied = await copy(plan.groups[0], { bloomFilters: false });
    expect(copied.files).toBeUndefined();
    expect(copied.fallback).toMatch(/asks for bloom filters.*FLOE_COMPACTION_ENGINE=duckdb-bloom/);
    expect(await listed(dataDir)).toEqual(before);

    const reasons: string[] = [];
    const [viaDefault] = await rewriteFileGroup(io, state.metadata, plan, plan.groups[0], {
      engine: 'duckdb',
      onFallback: (reason) => reasons.push(reason),
    });
    expect(reasons).toHaveLength(1);
    const [viaBloom] = await rewriteFileGroup(io, state.metadata, plan, plan.groups[0], { engine: 'duckdb-bloom' });
    expect(viaDefault.recordCount).toBe(viaBloom.recordCount);
    // the trade the opt-in names: DuckDB's filtered file is the larger one
    expect(viaBloom.fileSizeInBytes).toBeGreaterThan(viaDefault.fileSizeInBytes);
    await io.deleteMany([viaDefault.filePath, viaBloom.filePath]);
  });

  async function listed(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const o of io.list(prefix)) out.push(o.location);
    return out.sort();
  }
});
