/**
 * A topic's `partitionBy` changed in the config (e.g. `hour(timestamp)` → `day(timestamp)`, so that a table's files
 * reach a useful size): the next batch that lands in the table evolves its partitioning as Iceberg does — a new
 * default spec, old files keep theirs — on the batch's WAP branch by the auditor, published with the batch by merge
 * or by rebase. Scans, filters and compaction read across both specs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { assignFreshIds, setDefaultSpec } from '../../shared/iceberg/evolution.ts';
import { parseFilter } from '../../shared/iceberg/filter-syntax.ts';
import { defaultSpec, newTableMetadata } from '../../shared/iceberg/metadata.ts';
import { planScan, scanRows } from '../../shared/iceberg/scan.ts';
import type { DataFile, TableMetadata } from '../../shared/iceberg/types.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { binPackSettings, planRewriteDataFiles } from '../../shared/iceberg/rewrite-data.ts';
import {
  loadPipelineConfig,
  tableNames,
  topicConfig,
  type PipelineConfig,
} from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { Column, inferBatch } from '../../shared/wap/staging-rows.ts';
import { productionStruct, specFromConfig, withConfigPartitioning } from '../../shared/wap/table-layout.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

const NOW = new Date('2026-11-22T10:00:00Z');
const TOPIC = 'parking-sensors';
const OTHER = 'parking-sensors-other';

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: { uri: string; stop(): Promise<void> };
let catalog: Catalog;
let shipped: PipelineConfig;

beforeAll(async () => {
  tmp = await tempDir('floe-partition-evolution');
  nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  shipped = loadPipelineConfig('knative/config/pipeline.yaml');
});
afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

/**
 * The shipped config with the sensor topic partitioned by `partitionBy`, as a config edit would leave it, and a
 * second topic like it for a second table.
 */
function partitionedBy(partitionBy: string[]): WapContext {
  const sensors = { ...shipped.topics[TOPIC], partitionBy };
  const topics = { ...shipped.topics, [TOPIC]: sensors, [OTHER]: { ...sensors, table: 'parking_sensors_other' } };
  return { catalog, config: { ...shipped, topics }, log: silentLogger, now: () => NOW };
}
const hourly = () => partitionedBy(['hour(timestamp)']);
const daily = () => partitionedBy(['day(timestamp)']);

/** Readings one per minute from 07:58 on, all in the past (the topic's `maxFutureSkew` is a minute). */
function reading(topic: string, offset: number): TaggedRecord {
  const at = new Date(Date.parse('2026-11-22T07:58:00Z') + offset * 60_000).toISOString();
  return {
    topic,
    partition: 0,
    offset: String(offset),
    key: null,
    kafkaTime: NOW.toISOString(),
    ingestedAt: NOW.toISOString(),
    source: '/evolution',
    sourceId: `partition:0/offset:${offset}`,
    table: topic.replace('-', '_'),
    headers: {},
    status: 'ok',
    payload: { sensor_id: `S-${offset % 3}`, timestamp: at, value: offset / 2 },
  };
}
/** A record that is not JSON: an `_untrusted` row, so that table exists and evolves too. */
function malformed(topic: string, offset: number): TaggedRecord {
  const { payload: _, ...rest } = reading(topic, offset) as TaggedRecord & { payload: unknown };
  return { ...rest, status: 'malformed', error: 'value is not valid JSON', raw: Buffer.from('{').toString('base64') };
}
const readings = (topic: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => reading(topic, from + i));

async function production(ctx: WapContext, topic: string, ref = 'main'): Promise<TableMetadata> {
  const name = tableNames(ctx.config, topicConfig(ctx.config, topic)!).production;
  const { tables } = await loadTables(catalog, ref, [name]);
  return tables.get(name)!.metadata;
}

async function liveFiles(metadata: TableMetadata, filter?: string): Promise<DataFile[]> {
  const plan = await planScan(metadata, { io: catalog.io, ...(filter ? { filter: parseFilter(filter) } : {}) });
  return plan.tasks.map((t) => t.file);
}

const offsets = (rows: Record<string, unknown>[]) => rows.map((r) => Number(r[Column.offset])).sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const transforms = (metadata: TableMetadata) => defaultSpec(metadata).fields.map((f) => f.transform);

async function runBatch(ctx: WapContext, topic: string, records: TaggedRecord[]) {
  return publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, topic, records)));
}

describe('setDefaultSpec and withConfigPartitioning', () => {
  const table = (partitionBy: string[]) => {
    const cfg = topicConfig(shipped, TOPIC)!;
    const { struct } = inferBatch([reading(TOPIC, 0)], cfg);
    const schema = { ...assignFreshIds(productionStruct(struct), { value: 0 }), schemaId: 0 };
    return newTableMetadata({ location: 'file:///nowhere/t', schema, spec: specFromConfig(partitionBy, schema) });
  };

  it('adds a spec with the next id and a new field id, and keeps the old spec for the old files', () => {
    const before = table(['hour(timestamp)']);
    const after = withConfigPartitioning(before, { ...topicConfig(shipped, TOPIC)!, partitionBy: ['day(timestamp)'] });
    expect(after.partitionSpecs.map((s) => s.specId)).toEqual([0, 1]);
    expect(after.defaultSpecId).toBe(1);
    expect(after.partitionSpecs[0]).toEqual(before.partitionSpecs[0]);
    expect(defaultSpec(after).fields).toEqual([
      { sourceId: before.partitionSpecs[0].fields[0].sourceId, fieldId: 1001, name: 'timestamp_day', transform: 'day' },
    ]);
    expect(after.lastPartitionId).toBe(1001);
  });

  it('is unchanged when the config says what the table has, and goes back to an equivalent spec by id', () => {
    const hour = table(['hour(timestamp)']);
    const cfg = topicConfig(shipped, TOPIC)!;
    expect(withConfigPartitioning(hour, { ...cfg, partitionBy: ['hour(timestamp)'] })).toBe(hour);
    const day = withConfigPartitioning(hour, { ...cfg, partitionBy: ['day(timestamp)'] });
    const back = withConfigPartitioning(day, { ...cfg, partitionBy: ['hour(timestamp)'] });
    expect(back.partitionSpecs).toBe(day.partitionSpecs);
    expect(back.defaultSpecId).toBe(0);
    expect(back.lastPartitionId).toBe(1001);
  });

  it("recycles the field id of an earlier spec's field with the same source and transform, as Java does", () => {
    const hour = table(['hour(timestamp)']);
    const source = hour.partitionSpecs[0].fields[0].sourceId;
    const day = setDefaultSpec(hour, {
      specId: 0,
      fields: [{ sourceId: source, fieldId: 0, name: 'd', transform: 'day' }],
    });
    // hour and day together: the hour field keeps 1000, the day field keeps 1001, nothing new is allocated
    const both = setDefaultSpec(day, {
      specId: 0,
      fields: [
        { sourceId: source, fieldId: 0, name: 'timestamp_day', transform: 'day' },
        { sourceId: source, fieldId: 0, name: 'timestamp_hour', transform: 'hour' },
      ],
    });
    expect(defaultSpec(both)).toEqual({
      specId: 2,
      fields: [
        { sourceId: source, fieldId: 1001, name: 'timestamp_day', transform: 'day' },
        { sourceId: source, fieldId: 1000, name: 'timestamp_hour', transform: 'hour' },
      ],
    });
    expect(both.lastPartitionId).toBe(1001);
  });
});

describe('withConfigPartitioning where Java would name or refuse differently', () => {
  const cfg = () => topicConfig(shipped, TOPIC)!;
  const table = (partitionBy: string[]) => {
    const { struct } = inferBatch([reading(TOPIC, 0)], cfg());
    const schema = { ...assignFreshIds(productionStruct(struct), { value: 0 }), schemaId: 0 };
    return newTableMetadata({ location: 'file:///nowhere/t', schema, spec: specFromConfig(partitionBy, schema) });
  };

  it('names a field whose name an earlier field of another width had with the width: one name, one field', () => {
    const b16 = table(['bucket(16, sensor_id)']);
    const b32 = withConfigPartitioning(b16, { ...cfg(), partitionBy: ['bucket(32, sensor_id)'] });
    expect(b32.partitionSpecs.map((s) => s.fields.map((f) => [f.fieldId, f.name, f.transform]))).toEqual([
      [[1000, 'sensor_id_bucket', 'bucket[16]']],
      [[1001, 'sensor_id_bucket_32', 'bucket[32]']],
    ]);
  });

  it('keeps a spec laid out as the config says under other field names (as another engine named them)', () => {
    const day = table(['day(timestamp)']);
    const renamed = {
      ...day,
      partitionSpecs: [{ ...day.partitionSpecs[0], fields: [{ ...day.partitionSpecs[0].fields[0], name: 'ts_d' }] }],
    };
    expect(withConfigPartitioning(renamed, { ...cfg(), partitionBy: ['day(timestamp)'] })).toBe(renamed);
  });

  it("keeps the spec when the table's column cannot take the transform, so the topic's rows still land", () => {
    const day = table(['day(timestamp)']);
    // `value` is a double in the table: no day() of it, but the batch must not fail for it
    expect(withConfigPartitioning(day, { ...cfg(), partitionBy: ['day(value)'] })).toBe(day);
  });
});

describe('a partitionBy changed in the config', () => {
  it('evolves the tables with the next batch, published by merge: old files keep hour, new ones are by day', async () => {
    const topic = TOPIC;
    expect(await runBatch(hourly(), topic, readings(topic, 0, 9))).toMatchObject({ kind: 'published' });
    const before = await production(hourly(), topic);
    expect(transforms(before)).toEqual(['hour']);
    const hourFiles = await liveFiles(before);
    // 07:58 to 08:07: two hours, two files
    expect(hourFiles.map((f) => f.specId)).toEqual([0, 0]);

    const audited = await auditBatch(daily(), await writeBatch(daily(), topic, readings(topic, 10, 79)));
    // on the branch first, main unchanged until the publish
    expect(transforms(await production(daily(), topic, audited.branch))).toEqual(['day']);
    expect(transforms(await production(daily(), topic))).toEqual(['hour']);
    expect(await publishBatch(daily(), audited)).toMatchObject({ kind: 'published', event: { method: 'merge' } });

    const after = await production(daily(), topic);
    expect(transforms(after)).toEqual(['day']);
    expect(after.partitionSpecs.map((s) => s.specId)).toEqual([0, 1]);
    const files = await liveFiles(after);
    expect(files.filter((f) => f.specId === 0).map((f) => f.filePath)).toEqual(hourFiles.map((f) => f.filePath));
    // 08:08 to 09:17, two hours but one day: one file under the new spec
    expect(files.filter((f) => f.specId === 1)).toHaveLength(1);
    expect(offsets(await scanRows(after, { io: catalog.io }))).toEqual(range(0, 79));

    // a filter prunes by each file's own spec: 07:xx is only in one hour file, and in the day file's bounds not at all
    const early = "timestamp < '2026-11-22T08:00:00Z'";
    expect((await liveFiles(after, early)).map((f) => f.specId)).toEqual([0]);
    expect(offsets(await scanRows(after, { io: catalog.io, filter: parseFilter(early) }))).toEqual([0, 1]);

    // the next batch under the same config adds no spec
    await runBatch(daily(), topic, readings(topic, 80, 89));
    const next = await production(daily(), topic);
    expect(next.partitionSpecs).toEqual(after.partitionSpecs);
    expect(offsets(await scanRows(next, { io: catalog.io }))).toEqual(range(0, 89));
  }, 60_000);

  it('evolves main by the rebase when main moved under the batch, and compaction reads both specs', async () => {
    const topic = OTHER;
    await runBatch(hourly(), topic, [...readings(topic, 0, 3), malformed(topic, 4)]);
    const audited = await auditBatch(
      daily(),
      await writeBatch(daily(), topic, [...readings(topic, 5, 8), malformed(topic, 9)]),
    );
    // main moves: a batch of a publisher still running with the hourly config
    await runBatch(hourly(), topic, readings(topic, 10, 14));
    expect(transforms(await production(hourly(), topic))).toEqual(['hour']);

    expect(await publishBatch(daily(), audited)).toMatchObject({
      kind: 'published',
      event: { method: 'rebase', duplicates: 0 },
    });
    const after = await production(daily(), topic);
    expect(transforms(after)).toEqual(['day']);
    const files = await liveFiles(after);
    expect(new Set(files.map((f) => f.specId))).toEqual(new Set([0, 1]));
    expect(offsets(await scanRows(after, { io: catalog.io }))).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14]);
    const untrusted = tableNames(daily().config, topicConfig(daily().config, topic)!).untrusted;
    const { tables } = await loadTables(catalog, 'main', [untrusted]);
    expect(transforms(tables.get(untrusted)!.metadata)).toEqual(['day']);
    expect(offsets(await scanRows(tables.get(untrusted)!.metadata, { io: catalog.io }))).toEqual([4, 9]);

    // earlier-spec files are taken about a target file's bytes per run, oldest partition first: with a 1-byte
    // target, one old hour per run
    const nextMorning = () => Date.parse('2026-11-23T00:07:00Z');
    const tiny = { ...binPackSettings(after), 'target-file-size-bytes': 1 };
    const stepwise = await planRewriteDataFiles(after, { io: catalog.io, settings: tiny, now: nextMorning() });
    expect(files.filter((f) => f.specId === 0)).toHaveLength(3);
    const oldGroups = stepwise.groups.filter((g) => g.tasks[0].spec.specId === 0);
    expect(oldGroups.map((g) => g.partition)).toEqual(['timestamp_hour=2026-11-22-07']);
    expect(stepwise.skipped).toEqual([
      expect.objectContaining({
        partition: 'timestamp_hour=2026-11-22-08',
        reason: expect.stringMatching(/earlier partition spec, left for a later run/),
      }),
    ]);

    // compaction rewrites the files of the earlier spec into the current one, as Java's rewrite_data_files does
    const table = tableNames(daily().config, topicConfig(daily().config, topic)!).production;
    const compacted = await compactTable(catalog, table, { log: silentLogger, engine: 'js', now: nextMorning });
    expect(compacted.outcome).toBe('committed');
    const final = await production(daily(), topic);
    const finalFiles = await liveFiles(final);
    expect(finalFiles.map((f) => f.specId)).toEqual(finalFiles.map(() => 1));
    // 07:58 to 08:12 is one day: one file once the day's files merge (the next tick, as the day has ended)
    await compactTable(catalog, table, { log: silentLogger, engine: 'js', now: nextMorning });
    expect(await liveFiles(await production(daily(), topic))).toHaveLength(1);
    expect(offsets(await scanRows(final, { io: catalog.io }))).toEqual(
      offsets(await scanRows(after, { io: catalog.io })),
    );
  }, 60_000);
});
