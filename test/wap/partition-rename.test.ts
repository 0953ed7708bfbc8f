/**
 * Tables an earlier floe created name the Kafka partition column `_partition` (a name Spark's Iceberg integration
 * reserves). floe renames it to `_kafka_partition` in place — same field id, a new schema, data files untouched — in
 * the commits of the next batch: on the batch's WAP branch by the auditor, published with the batch (merge or
 * rebase), so `main` changes name and rows in one step. The legacy tables here are written the way the earlier floe
 * wrote them: a schema built with the old name and rows carrying it, committed through the same Iceberg commit path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTables, newTableLocation, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { BatchWritten, TaggedRecord } from '../../shared/events/contract.ts';
import { BLOOM_ENABLED_PREFIX } from '../../shared/iceberg/bloom-filter.ts';
import { METRICS_COLUMN_PREFIX } from '../../shared/iceberg/column-metrics.ts';
import { assignFreshIds, renameColumn } from '../../shared/iceberg/evolution.ts';
import { currentSchema, newTableMetadata } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import type { StructType, TableMetadata } from '../../shared/iceberg/types.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { loadPipelineConfig, tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { branchName, newBatchId, Property, Stage } from '../../shared/wap/batch-branches.ts';
import {
  mergeRanges,
  offsetsSummaryKey,
  rangesOf,
  rangesToPayload,
  serializeRanges,
} from '../../shared/wap/kafka-offsets.ts';
import { Column, inferBatch, LEGACY_PARTITION_COLUMN, stagingRow } from '../../shared/wap/staging-rows.ts';
import {
  productionStruct,
  specFromConfig,
  untrustedStruct,
  withCurrentColumnNames,
} from '../../shared/wap/table-layout.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { OffsetsHistoryLostError, publishedOffsets, publishedRangesOf } from '../../shared/wap/published-offsets.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { runFloe } from '../helpers/cli.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

const NOW = new Date('2026-11-22T10:00:00Z');

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: { uri: string; stop(): Promise<void> };
let ctx: WapContext;
let env: Record<string, string>;

beforeAll(async () => {
  tmp = await tempDir('floe-rename');
  nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  ctx = { catalog, config: loadPipelineConfig('knative/config/pipeline.yaml'), log: silentLogger, now: () => NOW };
  env = { NESSIE_URI: nessie.uri, FLOE_WAREHOUSE: `${tmp.dir}/warehouse`, FLOE_HOME: tmp.dir, FLOE_LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

function record(topic: string, offset: number, malformed = false): TaggedRecord {
  const base = {
    topic,
    partition: 0,
    offset: String(offset),
    key: null,
    kafkaTime: NOW.toISOString(),
    ingestedAt: NOW.toISOString(),
    source: '/rename',
    sourceId: `partition:0/offset:${offset}`,
    table: topic.replace('-', '_'),
    headers: {},
  };
  if (malformed)
    return { ...base, status: 'malformed', error: 'value is not valid JSON', raw: Buffer.from('{').toString('base64') };
  return {
    ...base,
    status: 'ok',
    payload: {
      event_id: `${topic}-${offset}`,
      timestamp: '2026-11-22T09:59:00.000Z',
      car_id: `B-${offset}`,
      slot: 'A-001',
      latitude: 52.5205,
      longitude: 13.405,
    },
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A struct with the Kafka partition column under its legacy name, as the earlier floe created it. */
function legacyStruct(struct: StructType): StructType {
  return {
    type: 'struct',
    fields: struct.fields.map((f) => (f.name === Column.partition ? { ...f, name: LEGACY_PARTITION_COLUMN } : f)),
  };
}

/** A row with the legacy column name. */
function legacyRow(row: Record<string, unknown>, drop: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (drop.includes(name)) continue;
    out[name === Column.partition ? LEGACY_PARTITION_COLUMN : name] = value;
  }
  return out;
}

/**
 * One batch committed to `main` the way the earlier floe's publisher left it: good records in the production table,
 * malformed ones in `_untrusted`, both tables recording the topic's offsets, columns named the old way.
 */
async function legacyAppend(topic: string, records: TaggedRecord[]): Promise<void> {
  const cfg = topicConfig(ctx.config, topic)!;
  const names = tableNames(ctx.config, cfg);
  const { struct } = inferBatch(records, cfg, { limits: ctx.config.limits });
  const schema = { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
  const rows = records.map((r) => stagingRow(r, schema, 'legacy', [], 0n));
  const good = rows.filter((r) => r[Column.status] === 'ok').map((r) => legacyRow(r, [Column.errors, Column.raw]));
  const bad = rows
    .filter((r) => r[Column.status] !== 'ok')
    .map((r) => ({ ...legacyRow(r), [Column.reasons]: ['malformed: value is not valid JSON'] }));
  const offsets = rangesOf(records.map((r) => ({ partition: r.partition, offset: BigInt(r.offset) })));
  const tables: [string, StructType, Record<string, unknown>[]][] = [
    [names.production, productionStruct(legacyStruct(struct)), good],
    [names.untrusted, untrustedStruct(legacyStruct(struct)), bad],
  ];
  const updates = new Map(
    tables.map(([name, tableStruct, tableRows]) => [
      name,
      async (
        base: TableMetadata | undefined,
        attempt: number,
        bases: ReadonlyMap<string, TableMetadata | undefined>,
      ) => {
        const tableSchema = { ...assignFreshIds(tableStruct, { value: 0 }), schemaId: 0 };
        const metadata =
          base ??
          newTableMetadata({
            location: newTableLocation(ctx.catalog.warehouse, name),
            schema: tableSchema,
            spec: specFromConfig(cfg.partitionBy, tableSchema),
          });
        const all = mergeRanges(publishedOffsets([...bases.values()], topic).ranges, offsets);
        return appendFiles({
          io: ctx.catalog.io,
          files: await writeRows(ctx.catalog.io, metadata, tableRows),
          summary: { [offsetsSummaryKey(topic)]: serializeRanges(all) },
        })(metadata, attempt, bases);
      },
    ]),
  );
  await commitOnBranch(ctx.catalog, 'main', updates, { message: 'an earlier floe: publish', properties: {} });
}

async function tablesOn(ref: string, topic: string) {
  const names = tableNames(ctx.config, topicConfig(ctx.config, topic)!);
  const { tables } = await loadTables(ctx.catalog, ref, [names.production, names.untrusted]);
  return { production: tables.get(names.production)!.metadata, untrusted: tables.get(names.untrusted)!.metadata };
}

const names = (metadata: TableMetadata) => currentSchema(metadata).fields.map((f) => f.name);
const idOf = (metadata: TableMetadata, name: string) => currentSchema(metadata).fields.find((f) => f.name === name)?.id;
const coordinates = (rows: Record<string, unknown>[]) =>
  rows.map((r) => `${String(r[Column.partition])}:${String(r[Column.offset])}`).sort();
const expected = (offsets: number[]) => offsets.map((o) => `0:${o}`).sort();

async function runBatch(topic: string, records: TaggedRecord[]) {
  return publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, topic, records)));
}

async function floeJson(args: string[]): Promise<Record<string, unknown>[]> {
  const result = await runFloe(args, { env });
  expect(result.code, result.stderr).toBe(0);
  const text = result.stdout.trim();
  if (text.startsWith('[')) return parseJson<Record<string, unknown>[]>(text);
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => parseJson<Record<string, unknown>>(line));
}

describe('renameColumn and withCurrentColumnNames', () => {
  const legacy = (): TableMetadata => {
    const cfg = topicConfig(ctx.config, 'parking-entry')!;
    const { struct } = inferBatch([record('parking-entry', 0)], cfg);
    const schema = { ...assignFreshIds(productionStruct(legacyStruct(struct)), { value: 0 }), schemaId: 0 };
    return newTableMetadata({
      location: 'file:///nowhere/t',
      schema,
      properties: { [METRICS_COLUMN_PREFIX + '_partition']: 'full', [BLOOM_ENABLED_PREFIX + '_partition']: 'true' },
    });
  };

  it('keeps the field id, adds a schema, moves per-column properties, and is applied once', () => {
    const before = legacy();
    const after = withCurrentColumnNames(before);
    expect(idOf(after, Column.partition)).toBe(idOf(before, LEGACY_PARTITION_COLUMN));
    expect(names(after)).not.toContain(LEGACY_PARTITION_COLUMN);
    expect(after.schemas.map((s) => s.schemaId)).toEqual([0, 1]);
    expect(after.currentSchemaId).toBe(1);
    expect(after.lastColumnId).toBe(before.lastColumnId);
    const columnProperties = Object.entries(after.properties).filter(([key]) => key.includes('.column.'));
    expect(Object.fromEntries(columnProperties)).toEqual({
      [METRICS_COLUMN_PREFIX + '_kafka_partition']: 'full',
      [BLOOM_ENABLED_PREFIX + '_kafka_partition']: 'true',
    });
    expect(withCurrentColumnNames(after)).toBe(after);
  });

  it('leaves a `_partition` that is not floe’s Kafka partition column alone, and refuses a rename onto a name in use', () => {
    const before = legacy();
    const noOffset = renameColumn(before, Column.offset, 'offset_elsewhere');
    expect(withCurrentColumnNames(noOffset)).toBe(noOffset);
    expect(() => renameColumn(before, Column.offset, Column.topic)).toThrow(
      /cannot rename column '_offset' to '_topic'/,
    );
    expect(renameColumn(before, 'absent', 'x')).toBe(before);
  });

  it('fails closed on a legacy table whose offsets history was expired', () => {
    const before = legacy();
    const cut = { ...before, currentSnapshotId: 42n };
    expect(() => publishedRangesOf(cut, 'parking-entry')).toThrow(OffsetsHistoryLostError);
  });
});

describe("an earlier floe's tables", () => {
  it('are renamed on the WAP branch and published with the batch; old rows read under the new name', async () => {
    const topic = 'parking-entry';
    await legacyAppend(topic, [...range(0, 9).map((o) => record(topic, o)), record(topic, 10, true)]);
    const legacy = await tablesOn('main', topic);
    const legacySnapshot = legacy.production.currentSnapshotId!;
    const fieldId = idOf(legacy.production, LEGACY_PARTITION_COLUMN)!;
    expect(fieldId).toBeGreaterThan(0);
    expect(names(legacy.production)).not.toContain(Column.partition);

    // a batch without malformed records: the untrusted table gets no rows, and is renamed all the same
    const written = await writeBatch(
      ctx,
      topic,
      range(11, 20).map((o) => record(topic, o)),
    );
    const audited = await auditBatch(ctx, written);
    expect(audited).toMatchObject({ verdict: 'passed', trusted: 10, untrusted: 0 });
    const onBranch = await tablesOn(audited.branch, topic);
    const onMainMeanwhile = await tablesOn('main', topic);
    expect(names(onMainMeanwhile.production)).toContain(LEGACY_PARTITION_COLUMN);
    expect(names(onMainMeanwhile.untrusted)).toContain(LEGACY_PARTITION_COLUMN);
    for (const metadata of [onBranch.production, onBranch.untrusted])
      expect(idOf(metadata, Column.partition)).toBe(fieldId);

    const outcome = await publishBatch(ctx, audited);
    expect(outcome).toMatchObject({ kind: 'published', event: { method: 'merge' } });
    const after = await tablesOn('main', topic);
    for (const [table, metadata] of [
      ['production', after.production],
      ['untrusted', after.untrusted],
    ] as const) {
      const before = legacy[table];
      expect(idOf(metadata, Column.partition), table).toBe(idOf(before, LEGACY_PARTITION_COLUMN));
      expect(names(metadata), table).not.toContain(LEGACY_PARTITION_COLUMN);
      expect(metadata.currentSchemaId, table).not.toBe(before.currentSchemaId);
      expect(metadata.schemas, table).toHaveLength(before.schemas.length + 1);
      expect(metadata.lastColumnId, table).toBe(before.lastColumnId);
    }
    const trusted = await scanRows(after.production, { io: ctx.catalog.io });
    expect(coordinates(trusted)).toEqual(expected([...range(0, 9), ...range(11, 20)]));
    expect(trusted.every((r) => r[Column.partition] === 0 && !(LEGACY_PARTITION_COLUMN in r))).toBe(true);
    const untrusted = await scanRows(after.untrusted, { io: ctx.catalog.io });
    expect(coordinates(untrusted)).toEqual(expected([10]));

    // time travel to the legacy snapshot reads it with its own schema: the old name
    const old = await scanRows(after.production, { io: ctx.catalog.io, snapshotId: legacySnapshot });
    expect(old.map((r) => `${String(r[LEGACY_PARTITION_COLUMN])}:${String(r[Column.offset])}`).sort()).toEqual(
      expected(range(0, 9)),
    );
    const table = 'production.parking_entry';
    const scannedOld = await floeJson(['scan', table, '--json', '--snapshot', String(legacySnapshot)]);
    expect(scannedOld.map((r) => r[LEGACY_PARTITION_COLUMN])).toEqual(Array(10).fill(0));
    const scanned = await floeJson(['scan', table, '--json', '--columns', `${Column.partition},_offset`]);
    expect(scanned.map((r) => `${String(r[Column.partition])}:${String(r._offset)}`).sort()).toEqual(
      expected([...range(0, 9), ...range(11, 20)]),
    );
    const sql = (query: string, ...flags: string[]) => floeJson(['sql', query, '--json', ...flags]);
    expect(await sql(`select _kafka_partition as p, count(*)::INTEGER as n from ${table} group by all`)).toEqual([
      { p: 0, n: 20 },
    ]);
    expect(
      await sql(
        `select _partition as p, count(*)::INTEGER as n from ${table} group by all`,
        '--snapshot',
        `${table}=${legacySnapshot}`,
      ),
    ).toEqual([{ p: 0, n: 10 }]);

    // the next batch (with a record published before) changes no schema and stays exactly once
    const settled = await tablesOn('main', topic);
    const next = await runBatch(topic, [record(topic, 3), ...range(21, 23).map((o) => record(topic, o))]);
    expect(next).toMatchObject({ kind: 'published', event: { duplicates: 1 } });
    const last = await tablesOn('main', topic);
    for (const table of ['production', 'untrusted'] as const) {
      expect(last[table].schemas).toEqual(settled[table].schemas);
      expect(last[table].currentSchemaId).toBe(settled[table].currentSchemaId);
    }
    expect(coordinates(await scanRows(last.production, { io: ctx.catalog.io }))).toEqual(
      expected([...range(0, 9), ...range(11, 23)]),
    );
  }, 60_000);

  it('are renamed by the rebase when main moved under the batch with a commit that kept the old name', async () => {
    const topic = 'parking-exit';
    await legacyAppend(
      topic,
      range(0, 4).map((o) => record(topic, o)),
    );
    const fieldId = idOf((await tablesOn('main', topic)).production, LEGACY_PARTITION_COLUMN);
    const audited = await auditBatch(
      ctx,
      await writeBatch(
        ctx,
        topic,
        range(5, 9).map((o) => record(topic, o)),
      ),
    );
    // main moves: another commit still naming the column `_partition` (and bringing an untrusted row)
    await legacyAppend(topic, [...range(10, 12).map((o) => record(topic, o)), record(topic, 13, true)]);
    const moved = await tablesOn('main', topic);
    expect(names(moved.production)).toContain(LEGACY_PARTITION_COLUMN);

    const outcome = await publishBatch(ctx, audited);
    expect(outcome).toMatchObject({ kind: 'published', event: { method: 'rebase', duplicates: 0 } });
    const after = await tablesOn('main', topic);
    for (const table of ['production', 'untrusted'] as const) {
      expect(idOf(after[table], Column.partition), table).toBe(fieldId);
      expect(names(after[table]), table).not.toContain(LEGACY_PARTITION_COLUMN);
      expect(after[table].schemas, table).toHaveLength(moved[table].schemas.length + 1);
    }
    expect(coordinates(await scanRows(after.production, { io: ctx.catalog.io }))).toEqual(expected([...range(0, 12)]));
    expect(coordinates(await scanRows(after.untrusted, { io: ctx.catalog.io }))).toEqual(expected([13]));
  }, 60_000);

  it('a batch the earlier floe wrote before the upgrade is audited and published under the new name', async () => {
    const topic = 'parking-sensors';
    const sensor = (offset: number): TaggedRecord => ({
      ...record(topic, offset),
      payload: {
        sensor_id: `S-${offset % 3}`,
        timestamp: `2026-11-22T09:${String(offset).padStart(2, '0')}:00Z`,
        value: 1.5,
      },
    });
    await legacyAppend(topic, range(0, 4).map(sensor));
    const fieldId = idOf((await tablesOn('main', topic)).production, LEGACY_PARTITION_COLUMN);

    // the earlier floe's writer: a WAP branch with a staging table whose column is `_partition`
    const cfg = topicConfig(ctx.config, topic)!;
    const tables = tableNames(ctx.config, cfg);
    const records = range(5, 9).map(sensor);
    const batchId = newBatchId(NOW);
    const branch = branchName(cfg.table, batchId);
    const main = await ctx.catalog.client.getReference('main');
    await ctx.catalog.client.createReference(branch, 'BRANCH', { name: 'main', hash: main.hash });
    const { struct } = inferBatch(records, cfg, { limits: ctx.config.limits });
    const schema = { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
    const legacySchema = { ...assignFreshIds(legacyStruct(struct), { value: 0 }), schemaId: 0 };
    const staging = newTableMetadata({
      location: newTableLocation(ctx.catalog.warehouse, tables.staging),
      schema: legacySchema,
      spec: specFromConfig(cfg.partitionBy, legacySchema),
    });
    const rows = records.map((r) => legacyRow(stagingRow(r, schema, batchId, [], 0n)));
    const offsets = rangesOf(records.map((r) => ({ partition: 0, offset: BigInt(r.offset) })));
    const files = await writeRows(ctx.catalog.io, staging, rows);
    const commit = await commitOnBranch(
      ctx.catalog,
      branch,
      new Map([
        [
          tables.staging,
          (base: TableMetadata | undefined, attempt: number, bases: ReadonlyMap<string, TableMetadata | undefined>) =>
            appendFiles({
              io: ctx.catalog.io,
              files,
              summary: { [Property.batchId]: batchId, [offsetsSummaryKey(topic)]: serializeRanges(offsets) },
            })(base ?? staging, attempt, bases),
        ],
      ]),
      {
        message: 'an earlier floe: write',
        properties: { [Property.batchId]: batchId, [Property.stage]: Stage.written },
      },
    );
    const written: BatchWritten = {
      batchId,
      branch,
      hash: commit.hash!,
      topic,
      table: cfg.table,
      rows: rows.length,
      offsets: rangesToPayload(offsets),
      writtenAt: NOW.toISOString(),
    };

    const audited = await auditBatch(ctx, written);
    expect(audited).toMatchObject({ verdict: 'passed', trusted: 5, untrusted: 0 });
    expect(await publishBatch(ctx, audited)).toMatchObject({ kind: 'published' });
    const after = await tablesOn('main', topic);
    for (const table of ['production', 'untrusted'] as const) {
      expect(idOf(after[table], Column.partition), table).toBe(fieldId);
      expect(names(after[table]), table).not.toContain(LEGACY_PARTITION_COLUMN);
    }
    expect(coordinates(await scanRows(after.production, { io: ctx.catalog.io }))).toEqual(expected(range(0, 9)));
  }, 60_000);
});
