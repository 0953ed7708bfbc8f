/**
 * The audit's `unique` check against `main` with bloom filters: the auditor asks for filters on the production
 * table's key columns, files skip on a filter miss, and a key already on `main` is still found — in a file with
 * filters, in the file DuckDB compaction wrote from such files, in a file written before the table had them, in a
 * file whose filter cannot be read, and for a compound key whose parts are filtered column by column. The publisher
 * asks for the same filters on `main`'s table when it rebases (a merge carries them from the branch), keeping every
 * property it does not add.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileCatalog } from '../../shared/catalog/file-catalog.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { BatchAudited, TaggedRecord } from '../../shared/events/contract.ts';
import { commitTable } from '../../shared/iceberg/commit.ts';
import { newTableMetadata } from '../../shared/iceberg/metadata.ts';
import { bloomHash } from '../../shared/iceberg/bloom-filter.ts';
import { readBloomFilters, readDataFile, readDataFileMetadata } from '../../shared/iceberg/parquet-reader.ts';
import { schemaFromJson } from '../../shared/iceberg/schema.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import type { TableMetadata } from '../../shared/iceberg/types.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { loadPipelineConfig, topicConfig, type TopicConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO, fileLocation } from '../../shared/storage/index.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { Property } from '../../shared/wap/batch-branches.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import {
  createBloomFilterCache,
  publishedUniqueKeys,
  UNIQUE_KEY_BLOOM_FPP,
  withUniqueKeyBloomFilters,
} from '../../functions/auditor/published-keys.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';
import { parkingEntry } from '../helpers/records.ts';

const NOW = new Date('2026-11-22T10:00:00Z');

/** A valid parking entry at a partition's offset, as the tagger hands it to the writer. */
function entry(partition: number, offset: number, eventId: string, carId = `B-${offset}`): TaggedRecord {
  const payload = { event_id: eventId, timestamp: '2026-11-22T09:59:00.000Z', car_id: carId, slot: 'A-001' };
  return parkingEntry({ partition, offset, time: NOW.toISOString(), key: `car-${carId}`, payload });
}
const config = loadPipelineConfig('knative/config/pipeline.yaml');

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('floe-audit-bloom');
});
afterAll(async () => {
  await tmp?.cleanup();
});

describe('the auditor against main, end to end', () => {
  let nessie: { uri: string; stop(): Promise<void> };
  let ctx: WapContext;
  beforeAll(async () => {
    nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
    const catalog: Catalog = {
      client: createNessieClient({ uri: nessie.uri }),
      io: createFileIO({ localFiles: true }),
      warehouse: `file://${tmp.dir}/warehouse/`,
    };
    ctx = { catalog, config, log: silentLogger, now: () => NOW };
  });
  afterAll(async () => {
    await nessie?.stop();
  });

  it('writes the production files with a filter on the unique column and still finds a key repeated later', async () => {
    const first = await auditBatch(
      ctx,
      await writeBatch(
        ctx,
        'parking-entry',
        Array.from({ length: 20 }, (_, i) => entry(0, i, `evt-a-${i}`)),
      ),
    );
    expect(first).toMatchObject({ verdict: 'passed', trusted: 20, untrusted: 0 });
    expect((await publishBatch(ctx, first)).kind).toBe('published');

    const production = (await loadTables(ctx.catalog, 'main', ['production.parking_entry'])).tables.get(
      'production.parking_entry',
    )!.metadata;
    expect(production.properties).toMatchObject({
      'write.parquet.bloom-filter-enabled.column.event_id': 'true',
      'write.parquet.bloom-filter-fpp.column.event_id': UNIQUE_KEY_BLOOM_FPP,
    });
    const files = await liveFiles(ctx, production);
    expect(files).toHaveLength(1);
    const eventId = production.schemas.at(-1)!.fields.find((f) => f.name === 'event_id')!.id;
    const filters = await readBloomFilters(ctx.catalog.io, { location: files[0], fieldIds: [eventId] });
    expect(filters.rowGroups[0].filters.get(eventId)).toBeDefined();

    // a batch of new keys reads no data file of main: the filter answers
    const topic = topicConfig(config, 'parking-entry')!;
    // within the file's bounds (evt-a-0 … evt-a-9), so column metrics cannot prune them
    const fresh = Array.from({ length: 50 }, (_, i) => ({ event_id: `evt-a-0x${i}` }));
    const check = await publishedUniqueKeys(ctx.catalog.io, production, topic, fresh, createBloomFilterCache(1 << 20));
    expect(check.stats).toEqual({ candidateFiles: 1, skippedByBloom: 1, readFiles: 0 });
    expect(check.keys.get('event_id')).toEqual(new Set());

    const second = await auditBatch(
      ctx,
      await writeBatch(ctx, 'parking-entry', [entry(1, 0, 'evt-b-0'), entry(1, 1, 'evt-a-7'), entry(1, 2, 'evt-b-2')]),
    );
    expect(second).toMatchObject({ verdict: 'passed', trusted: 2, untrusted: 1, reasons: { duplicate: 1 } });
  });

  it('still finds a repeated key and passes new ones after DuckDB compacts the production files', async () => {
    for (const [partition, prefix] of [
      [2, 'evt-c'],
      [3, 'evt-d'],
    ] as const) {
      const audited = await auditBatch(
        ctx,
        await writeBatch(
          ctx,
          'parking-entry',
          Array.from({ length: 30 }, (_, i) => entry(partition, i, `${prefix}-${i}`)),
        ),
      );
      expect(audited).toMatchObject({ verdict: 'passed', trusted: 30, untrusted: 0 });
      expect((await publishBatch(ctx, audited)).kind).toBe('published');
    }
    const table = 'production.parking_entry';
    const load = async () => (await loadTables(ctx.catalog, 'main', [table])).tables.get(table)!.metadata;
    const before = await liveFiles(ctx, await load());
    expect(before.length).toBeGreaterThan(1);
    const compacted = await compactTable(ctx.catalog, table, {
      log: silentLogger,
      engine: 'duckdb-bloom',
      options: { 'min-input-files': '2' },
      // the next morning: the batches' day has ended
      now: () => NOW.getTime() + 86_400_000,
    });
    expect(compacted).toMatchObject({ outcome: 'committed', details: { engine: 'duckdb-bloom' } });
    // no group fell back to the JS rewrite
    expect(compacted.details!.jsGroups).toBeUndefined();

    const production = await load();
    const files = await liveFiles(ctx, production);
    expect(files).toHaveLength(1);
    expect((await readDataFileMetadata(ctx.catalog.io, { location: files[0] })).createdBy).toMatch(/^DuckDB/);
    const schema = production.schemas.find((s) => s.schemaId === production.currentSchemaId)!;
    const eventId = schema.fields.find((f) => f.name === 'event_id')!.id;
    const filters = await readBloomFilters(ctx.catalog.io, { location: files[0], fieldIds: [eventId] });
    for (const group of filters.rowGroups) expect(group.filters.get(eventId)).toBeDefined();
    const keys = (await readDataFile(ctx.catalog.io, { location: files[0], schema })).map((r) => r.event_id);
    expect(keys).toHaveLength(20 + 60);
    for (const key of keys)
      expect(
        filters.rowGroups[0].filters.get(eventId)!.mightContainHash(bloomHash(key, filters.elements.get(eventId)!)!),
      ).toBe(true);

    // new keys within the file's bounds: the compacted file's filter answers, no data file is read
    const topic = topicConfig(config, 'parking-entry')!;
    const fresh = Array.from({ length: 50 }, (_, i) => ({ event_id: `evt-c-0x${i}` }));
    const check = await publishedUniqueKeys(ctx.catalog.io, production, topic, fresh, createBloomFilterCache(1 << 20));
    expect(check.stats).toEqual({ candidateFiles: 1, skippedByBloom: 1, readFiles: 0 });

    const next = await auditBatch(
      ctx,
      await writeBatch(ctx, 'parking-entry', [
        entry(4, 0, 'evt-e-0'),
        entry(4, 1, 'evt-c-17'),
        entry(4, 2, 'evt-a-3'),
        entry(4, 3, 'evt-e-3'),
      ]),
    );
    expect(next).toMatchObject({ verdict: 'passed', trusted: 2, untrusted: 2, reasons: { duplicate: 2 } });
  });

  /** Live data file locations of the table's current snapshot (not those it deletes). */
  async function liveFiles(context: WapContext, metadata: TableMetadata): Promise<string[]> {
    const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId)!;
    const out: string[] = [];
    for (const manifest of await readManifestFiles(context.catalog.io, snapshot))
      for (const e of await readManifestEntries(context.catalog.io, manifest, metadata))
        if (e.status !== 2) out.push(e.dataFile.filePath);
    return out;
  }
});

describe('the publisher rebasing onto a main table without the filters', () => {
  let nessie: { uri: string; stop(): Promise<void> };
  let ctx: WapContext;
  const production = 'production.parking_entry';
  const enabled = (column: string) => `write.parquet.bloom-filter-enabled.column.${column}`;
  const fpp = (column: string) => `write.parquet.bloom-filter-fpp.column.${column}`;
  beforeAll(async () => {
    nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie-rebase` });
    const catalog: Catalog = {
      client: createNessieClient({ uri: nessie.uri }),
      io: createFileIO({ localFiles: true }),
      warehouse: `file://${tmp.dir}/warehouse-rebase/`,
    };
    ctx = { catalog, config, log: silentLogger, now: () => NOW };
  });
  afterAll(async () => {
    await nessie?.stop();
  });

  // distinct car ids across partitions: a test below makes `car_id` the unique key
  const record = (partition: number, offset: number) =>
    entry(partition, offset, `evt-${partition}-${offset}`, `B-${partition}-${offset}`);
  const batchOf = (partition: number) => Array.from({ length: 5 }, (_, i) => record(partition, i));
  const mainTable = async (ref = 'main') =>
    (await loadTables(ctx.catalog, ref, [production])).tables.get(production)!.metadata;
  const publishedEvent = async (context: WapContext, audited: BatchAudited) => {
    const outcome = await publishBatch(context, audited);
    if (outcome.kind !== 'published') throw new Error(`batch ${audited.batchId} was not published`);
    return outcome.event;
  };
  /** Writes and audits a batch per partition, all cut from the same main, so that only the first one published merges. */
  const concurrent = async (context: WapContext, ...partitions: number[]) => {
    const written = await Promise.all(partitions.map((p) => writeBatch(context, 'parking-entry', batchOf(p))));
    return Promise.all(written.map((w) => auditBatch(context, w)));
  };

  it('adds the missing properties in the commit that appends the batch, keeps the others, and then changes nothing', async () => {
    const [first] = await concurrent(ctx, 0);
    expect(await publishedEvent(ctx, first)).toMatchObject({ method: 'merge' });

    // Cut before main moves: the batch's branch holds the production table as the auditor left it, with filters.
    const [second] = await concurrent(ctx, 1);
    // main moves under it: the table becomes what an earlier floe created (no filter properties), and another engine
    // sets its own properties, one of them a bloom filter on a column floe does not manage.
    const foreign = { 'write.spark.fanout.enabled': 'true', [enabled('slot')]: 'true' };
    const moved = await commitOnBranch(
      ctx.catalog,
      'main',
      new Map([
        [
          production,
          async (base) => {
            const properties = { ...base!.properties, ...foreign };
            delete properties[enabled('event_id')];
            delete properties[fpp('event_id')];
            return { ...base!, properties };
          },
        ],
      ]),
      { message: 'another engine: ALTER TABLE parking_entry SET TBLPROPERTIES' },
    );
    const before = await mainTable();
    expect(before.properties[enabled('event_id')]).toBeUndefined();

    const rebased = await publishedEvent(ctx, second);
    expect(rebased).toMatchObject({ method: 'rebase', trusted: 5, duplicates: 0 });
    const after = await mainTable();
    expect(after.properties).toEqual({
      ...before.properties,
      [enabled('event_id')]: 'true',
      [fpp('event_id')]: UNIQUE_KEY_BLOOM_FPP,
    });
    expect(after.properties).toMatchObject(foreign);
    // One Nessie commit on top of the other engine's: the properties came with the batch's append.
    const [head] = await take(ctx.catalog.client.commitLog('main'), 1);
    expect(head.commitMeta.hash).toBe(rebased.hash);
    expect(head.parentCommitHash).toBe(moved.hash);
    const appended = after.snapshots.find((s) => s.snapshotId === after.currentSnapshotId)!;
    expect(appended.summary[Property.batchId]).toBe(second.batchId);

    // Another rebase: main already has every property floe asks for, so the publish changes none.
    const [third, fourth] = await concurrent(ctx, 2, 3);
    expect(await publishedEvent(ctx, third)).toMatchObject({ method: 'merge' });
    const settled = await mainTable();
    expect(await publishedEvent(ctx, fourth)).toMatchObject({ method: 'rebase', trusted: 5 });
    const again = await mainTable();
    expect(again.currentSnapshotId).not.toBe(settled.currentSnapshotId);
    expect(again.properties).toEqual(settled.properties);
    expect(again.properties).toEqual(after.properties);
  });

  it('after `unique` moves to another column, adds its filters and leaves the old column’s in place', async () => {
    const topic = topicConfig(config, 'parking-entry')!;
    const renamed: WapContext = {
      ...ctx,
      config: {
        ...config,
        topics: { ...config.topics, 'parking-entry': { ...topic, rules: { ...topic.rules, unique: [['car_id']] } } },
      },
    };
    // A publisher still on the old config merges first (a rolling update), so main lacks the new column's filters
    // when the batch audited under the new config rebases.
    const [old] = await concurrent(ctx, 4);
    const [next] = await concurrent(renamed, 5);
    expect(await publishedEvent(ctx, old)).toMatchObject({ method: 'merge' });
    const before = await mainTable();
    expect(before.properties[enabled('car_id')]).toBeUndefined();

    expect(await publishedEvent(renamed, next)).toMatchObject({ method: 'rebase', trusted: 5 });
    const after = await mainTable();
    expect(after.properties).toEqual({
      ...before.properties,
      [enabled('car_id')]: 'true',
      [fpp('car_id')]: UNIQUE_KEY_BLOOM_FPP,
    });
    expect(after.properties).toMatchObject({
      [enabled('event_id')]: 'true',
      [fpp('event_id')]: UNIQUE_KEY_BLOOM_FPP,
    });
  });
});

/** The first `n` items of an async iterable. */
async function take<T>(items: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
    if (out.length === n) break;
  }
  return out;
}

describe('publishedUniqueKeys on a table of files with and without filters', () => {
  const io = createFileIO({ localFiles: true });
  const schema = schemaFromJson({
    type: 'struct',
    'schema-id': 0,
    fields: [
      { id: 1, name: 'event_id', required: true, type: 'string' },
      { id: 2, name: 'sensor_id', required: true, type: 'string' },
      { id: 3, name: 'timestamp', required: true, type: 'timestamptz' },
    ],
  });
  const base = topicConfig(config, 'parking-entry')!;
  const byEventId: TopicConfig = { ...base, rules: { ...base.rules, unique: [['event_id']] } };
  const bySensorTime: TopicConfig = { ...base, rules: { ...base.rules, unique: [['sensor_id', 'timestamp']] } };
  const rowsOf = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => ({
      // every file spans the same id range, so column metrics prune none of them
      event_id: `${i}-${prefix}`,
      sensor_id: `sensor-${i % 10}`,
      timestamp: 1_790_000_000_000_000n + BigInt(i) * 1_000_000n + (prefix === 'c' ? 500_000n : 0n),
    }));

  /** Four files: `a` and `c` with filters, `b` written before the table asked for them, `d` with a broken filter. */
  async function table(): Promise<TableMetadata> {
    const catalog = fileCatalog(io, `${fileLocation(tmp.dir)}/files/`);
    const plain = newTableMetadata({ location: catalog.tableLocation('t.events'), schema });
    const filtered = withUniqueKeyBloomFilters(withUniqueKeyBloomFilters(plain, [['event_id']]), [
      ['sensor_id', 'timestamp'],
    ]);
    const [b] = await writeRows(io, plain, rowsOf('b', 300));
    const [a] = await writeRows(io, filtered, rowsOf('a', 300));
    const [c] = await writeRows(io, filtered, rowsOf('c', 300));
    const [d] = await writeRows(io, filtered, rowsOf('d', 300));
    // Corrupt d's first filter header (numBytes no longer a whole number of blocks): its filters cannot be read.
    const footer = await readDataFileMetadata(io, { location: d.filePath });
    const offset = Number(footer.metadata.row_groups[0].columns[0].meta_data!.bloom_filter_offset);
    const path = fileURLToPath(d.filePath);
    const bytes = await readFile(path);
    bytes[offset + 1] = 0x3e;
    await writeFile(path, bytes);
    const state = await commitTable(
      catalog.port(),
      't.events',
      async (current) => appendFiles({ io, files: [a, b, c, d] })(current ?? filtered, 1, new Map()),
      { io },
    );
    return state.metadata;
  }

  it('finds keys in filtered, unfiltered and unreadable-filter files, and skips only what a filter excludes', async () => {
    const metadata = await table();
    const cache = createBloomFilterCache(1 << 20);
    const batch = [
      ...Array.from({ length: 200 }, (_, i) => ({ event_id: `${i}-new` })),
      { event_id: '17-c' },
      { event_id: '3-b' },
      { event_id: '250-d' },
    ];
    const first = await publishedUniqueKeys(io, metadata, byEventId, batch, cache);
    expect(first.keys.get('event_id')).toEqual(new Set(['17-c', '3-b', '250-d']));
    // a: excluded by its filter; b: no filter; c: holds 17-c; d: filter unreadable
    expect(first.stats).toEqual({ candidateFiles: 4, skippedByBloom: 1, readFiles: 3 });

    // filters are read once per file: a second batch is answered from the cache
    const misses = cache.misses;
    const second = await publishedUniqueKeys(
      io,
      metadata,
      byEventId,
      [{ event_id: '299-a' }, { event_id: '5-zz' }],
      cache,
    );
    expect(second.keys.get('event_id')).toEqual(new Set(['299-a']));
    expect(cache.misses - misses).toBe(1); // only d, whose read failed and is not cached
    expect(cache.size.weight).toBeGreaterThan(0);
  });

  it('checks a compound key column by column: a tuple must pass every part', async () => {
    const metadata = await table();
    const at = (prefix: string, i: number) => rowsOf(prefix, 300)[i];
    const batch = [
      // both parts exist in file a, but never in one row: metrics and filters cannot tell, the read does
      { sensor_id: 'sensor-1', timestamp: at('a', 2).timestamp },
      { sensor_id: 'sensor-4', timestamp: at('c', 14).timestamp },
      { sensor_id: 'sensor-9', timestamp: 1_790_000_000_000_000n + 123n },
    ];
    const { keys } = await publishedUniqueKeys(io, metadata, bySensorTime, batch, createBloomFilterCache(1 << 20));
    expect(keys.get('sensor_id+timestamp')).toEqual(new Set([`sensor-4\u0000${at('c', 14).timestamp}`]));
  });

  it('leaves a table owner’s bloom settings alone and asks for none on types it cannot hash', () => {
    const owned = newTableMetadata({
      location: 'file:///tmp/x',
      schema: schemaFromJson({
        type: 'struct',
        'schema-id': 0,
        fields: [
          { id: 1, name: 'id', required: true, type: 'long' },
          { id: 2, name: 'score', required: true, type: 'double' },
        ],
      }),
      properties: { 'write.parquet.bloom-filter-enabled.column.id': 'false' },
    });
    expect(withUniqueKeyBloomFilters(owned, [['id'], ['score']])).toBe(owned);
  });
});
