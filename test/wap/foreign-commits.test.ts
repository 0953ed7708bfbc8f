/**
 * Exactly-once with other engines committing to the same tables (a Spark compaction, a PyIceberg append): their
 * snapshots do not carry `floe.kafka.offsets.*`, so the published offsets are found through the snapshot ancestry; an
 * ancestry cut by snapshot expiry before any snapshot recording them fails closed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { expireSnapshots } from '../../shared/iceberg/expire-snapshots.ts';
import { currentSnapshot } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { rewriteManifests } from '../../shared/iceberg/rewrite-manifests.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { loadPipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { CARRIED_SUMMARY_PREFIXES, offsetsSummaryKey, parseRanges } from '../../shared/wap/kafka-offsets.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { REPAIRED_SUMMARY_KEY, withOffsetsHistory } from '../../shared/wap/offsets-repair.ts';
import { OffsetsHistoryLostError } from '../../shared/wap/published-offsets.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { parkingEntry } from '../helpers/records.ts';

const silent = createLogger({
  format: 'json',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const NOW = new Date('2026-11-22T10:00:00Z');
const PRODUCTION = 'production.parking_entry';
const UNTRUSTED = 'production.parking_entry_untrusted';

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: { uri: string; stop(): Promise<void> };
let ctx: WapContext;

beforeAll(async () => {
  tmp = await tempDir('floe-foreign');
  nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  ctx = { catalog, config: loadPipelineConfig('knative/config/pipeline.yaml'), log: silent, now: () => NOW };
});
afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

function entry(partition: number, offset: number): TaggedRecord {
  const payload = { timestamp: '2026-11-22T09:59:00.000Z' };
  return parkingEntry({ partition, offset, time: NOW.toISOString(), key: `car-${offset}`, payload });
}

async function run(records: TaggedRecord[]) {
  return publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', records)));
}

async function floeCoordinates(): Promise<string[]> {
  const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION, UNTRUSTED]);
  const rows = (
    await Promise.all([...tables.values()].map((t) => scanRows(t.metadata, { io: ctx.catalog.io })))
  ).flat();
  return rows.filter((r) => r.event_id !== 'foreign').map((r) => `${r[Column.partition]}:${r[Column.offset]}`);
}

/** Appends a row to production on main the way another engine would: the Iceberg library, no floe summary keys. */
async function foreignAppend(): Promise<void> {
  const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
  const metadata = tables.get(PRODUCTION)!.metadata;
  const [sample] = await scanRows(metadata, { io: ctx.catalog.io, limit: 1 });
  const files = await writeRows(ctx.catalog.io, metadata, [
    { ...sample, event_id: 'foreign', [Column.partition]: 99, [Column.offset]: 0n },
  ]);
  await commitOnBranch(ctx.catalog, 'main', new Map([[PRODUCTION, appendFiles({ io: ctx.catalog.io, files })]]), {
    message: 'another engine: append',
  });
}

describe('published offsets through the snapshot ancestry', () => {
  it('a commit by another engine between two batches does not turn deduplication off', async () => {
    const first = Array.from({ length: 10 }, (_, i) => entry(0, i));
    expect((await run(first)).kind).toBe('published');
    await foreignAppend();
    const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
    expect(
      currentSnapshot(tables.get(PRODUCTION)!.metadata)?.summary[offsetsSummaryKey('parking-entry')],
    ).toBeUndefined();

    expect((await run(Array.from({ length: 10 }, (_, i) => entry(0, 10 + i)))).kind).toBe('published');
    // the first batch redelivered, as a new batch: every row is filtered
    const again = await run(first);
    expect(again).toMatchObject({ kind: 'published', event: { duplicates: 10 } });
    const coordinates = await floeCoordinates();
    expect(coordinates.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `0:${i}`).sort());
  });

  it("floe's own maintenance after a foreign commit records the offsets again, so expiry keeps them", async () => {
    const key = offsetsSummaryKey('parking-entry');
    const before = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
    const recorded = before.tables
      .get(PRODUCTION)!
      .metadata.snapshots.map((s) => s.summary[key])
      .filter((v) => v !== undefined)
      .at(-1);
    await foreignAppend();
    await commitOnBranch(
      ctx.catalog,
      'main',
      new Map([[PRODUCTION, rewriteManifests({ io: ctx.catalog.io, carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES })]]),
      { message: 'floe: rewrite manifests' },
    );
    await commitOnBranch(
      ctx.catalog,
      'main',
      new Map([
        [PRODUCTION, expireSnapshots({ maxSnapshotAgeMs: 0, minSnapshotsToKeep: 1, now: () => Date.now() + 60_000 })],
      ]),
      { message: 'floe: expire snapshots' },
    );
    const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
    const metadata = tables.get(PRODUCTION)!.metadata;
    expect(metadata.snapshots).toHaveLength(1);
    expect(currentSnapshot(metadata)?.summary[key]).toBe(recorded);
    expect(await run([entry(0, 5), entry(0, 20)])).toMatchObject({ kind: 'published', event: { duplicates: 1 } });
  });

  it('fails closed when snapshot expiry cut the ancestry before any snapshot recording the offsets', async () => {
    // audited before the cut, published after it
    const pending = await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', [entry(1, 0), entry(1, 1)]));
    await foreignAppend();
    await foreignAppend();
    await commitOnBranch(
      ctx.catalog,
      'main',
      new Map([
        [PRODUCTION, expireSnapshots({ maxSnapshotAgeMs: 0, minSnapshotsToKeep: 1, now: () => Date.now() + 60_000 })],
      ]),
      { message: 'another engine: expire snapshots' },
    );
    const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
    expect(tables.get(PRODUCTION)!.metadata.snapshots).toHaveLength(1);

    await expect(publishBatch(ctx, pending)).rejects.toThrow(OffsetsHistoryLostError);
    await expect(publishBatch(ctx, pending)).rejects.toThrow(
      /published Kafka offsets of topic 'parking-entry' are not in its history/,
    );
    await expect(run([entry(0, 0)])).rejects.toThrow(OffsetsHistoryLostError);
    expect((await floeCoordinates()).sort()).toEqual(Array.from({ length: 21 }, (_, i) => `0:${i}`).sort());
  });
  it('the functions recover the offsets from the rows after such a cut, then publish exactly once', async () => {
    // main as the test above left it: its only snapshot is another engine's, the snapshots recording offsets expired
    const written = await writeBatch(ctx, 'parking-entry', [entry(0, 3), entry(0, 19), entry(0, 21), entry(1, 0)]);
    const audited = await withOffsetsHistory(ctx, 'parking-entry', () => auditBatch(ctx, written), [
      'main',
      written.branch,
    ]);
    const outcome = await withOffsetsHistory(ctx, 'parking-entry', () => publishBatch(ctx, audited));
    expect(outcome).toMatchObject({ kind: 'published', event: { duplicates: 2 } });

    const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
    const metadata = tables.get(PRODUCTION)!.metadata;
    const repair = metadata.snapshots.find((s) => s.summary[REPAIRED_SUMMARY_KEY] === 'parking-entry');
    expect(repair?.summary.operation).toBe('replace');
    // exactly the coordinates the rows hold (the other engine's row included), no file changed
    expect(Object.fromEntries(parseRanges(repair!.summary[offsetsSummaryKey('parking-entry')]))).toEqual({
      0: [[0n, 20n]],
      99: [[0n, 0n]],
    });
    expect(repair!.summary['added-data-files']).toBeUndefined();
    const expected = [...Array.from({ length: 22 }, (_, i) => `0:${i}`), '1:0'];
    expect((await floeCoordinates()).sort()).toEqual(expected.sort());
    // and the repaired ancestry keeps deduplicating without another repair
    expect(await run([entry(0, 21), entry(1, 0)])).toMatchObject({ kind: 'published', event: { duplicates: 2 } });
    expect((await floeCoordinates()).sort()).toEqual(expected.sort());
  });
});
