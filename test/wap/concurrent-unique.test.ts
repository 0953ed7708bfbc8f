/**
 * `unique` keys across concurrent batches: two batches repeating an event id are both audited against the same `main`
 * (each before the other is published), so both pass the audit; the publisher of the second one — a rebase, since
 * `main` moved — finds the key among the rows `main` gained since the batch's base and moves its row to `_untrusted`
 * with the auditor's duplicate reason, in the same commit. A retry of the publish commit checks again against the newer
 * `main`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNessieClient, type NessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { BatchPublished, TaggedRecord } from '../../shared/events/contract.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { loadPipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { expireTable } from '../../shared/maintenance/snapshot-expiry.ts';
import { parkingEntry } from '../helpers/records.ts';

const NOW = new Date('2026-11-22T10:00:00Z');
const PRODUCTION = 'production.parking_entry';
const UNTRUSTED = 'production.parking_entry_untrusted';

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: { uri: string; stop(): Promise<void> };
let ctx: WapContext;

beforeAll(async () => {
  tmp = await tempDir('floe-wap-unique');
  nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  const catalog: Catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  ctx = { catalog, config: loadPipelineConfig('knative/config/pipeline.yaml'), log: silentLogger, now: () => NOW };
});
afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

/** A parking-entry record; `eventId` defaults to one unique to its coordinates. */
function entry(partition: number, offset: number, eventId = `evt-${partition}-${offset}`): TaggedRecord {
  const payload = { event_id: eventId, timestamp: '2026-11-22T09:59:00.000Z' };
  return parkingEntry({ partition, offset, time: NOW.toISOString(), payload });
}

const batchOf = (partition: number, count: number, repeated?: { offset: number; eventId: string }) =>
  Array.from({ length: count }, (_, i) => entry(partition, i, i === repeated?.offset ? repeated.eventId : undefined));

async function mainRows() {
  const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION, UNTRUSTED]);
  const rowsOf = async (name: string) =>
    tables.get(name) ? scanRows(tables.get(name)!.metadata, { io: ctx.catalog.io }) : [];
  return { trusted: await rowsOf(PRODUCTION), untrusted: await rowsOf(UNTRUSTED) };
}

const coordinates = (rows: Record<string, unknown>[]) => rows.map((r) => `${r[Column.partition]}:${r[Column.offset]}`);
const expectedCoordinates = (batches: [partition: number, count: number][]) =>
  batches.flatMap(([p, n]) => Array.from({ length: n }, (_, i) => `${p}:${i}`)).sort();

function published(outcome: Awaited<ReturnType<typeof publishBatch>>): BatchPublished {
  expect(outcome.kind).toBe('published');
  return outcome.event as BatchPublished;
}

describe('unique keys across concurrent batches', () => {
  it("two batches audited against the same main, published one after the other: the second one's repeat goes to _untrusted", async () => {
    // main already holds rows, so the batches' base snapshot is a real one
    published(await publishBatch(ctx, await auditBatch(ctx, await writeBatch(ctx, 'parking-entry', batchOf(0, 5)))));

    const [a, b] = await Promise.all([
      writeBatch(ctx, 'parking-entry', batchOf(1, 6, { offset: 2, eventId: 'evt-twice' })),
      writeBatch(ctx, 'parking-entry', batchOf(2, 6, { offset: 4, eventId: 'evt-twice' })),
    ]);
    const [auditedA, auditedB] = await Promise.all([auditBatch(ctx, a), auditBatch(ctx, b)]);
    // each was audited against main without the other: both pass with the repeated id trusted
    expect(auditedA).toMatchObject({ verdict: 'passed', trusted: 6, untrusted: 0 });
    expect(auditedB).toMatchObject({ verdict: 'passed', trusted: 6, untrusted: 0 });

    const first = published(await publishBatch(ctx, auditedA));
    expect(first).toMatchObject({ method: 'merge', trusted: 6, untrusted: 0 });
    const second = published(await publishBatch(ctx, auditedB));
    expect(second).toMatchObject({ method: 'rebase', trusted: 5, untrusted: 1, duplicates: 0 });

    const { trusted, untrusted } = await mainRows();
    const twice = trusted.filter((r) => r.event_id === 'evt-twice');
    expect(coordinates(twice)).toEqual(['1:2']);
    expect(untrusted).toHaveLength(1);
    expect(coordinates(untrusted)).toEqual(['2:4']);
    expect(untrusted[0][Column.reasons]).toEqual(["duplicate: event_id='evt-twice' already seen"]);
    // the untrusted row is the staging row: the record's bytes are kept
    expect(Buffer.from(untrusted[0][Column.raw] as Uint8Array).toString()).toContain('evt-twice');
    const all = [...coordinates(trusted), ...coordinates(untrusted)].sort();
    expect(all).toEqual(
      expectedCoordinates([
        [0, 5],
        [1, 6],
        [2, 6],
      ]),
    );
    // every trusted event id once
    expect(new Set(trusted.map((r) => r.event_id)).size).toBe(trusted.length);

    // a redelivered batch.audited of the second batch changes nothing
    expect(published(await publishBatch(ctx, auditedB))).toMatchObject({ method: 'noop' });
    expect((await mainRows()).untrusted).toHaveLength(1);
  });

  it('a publish whose commit lost the race to a batch with the same key checks again on the retry', async () => {
    const before = await mainRows();
    const [mover, late, interloper] = await Promise.all([
      writeBatch(ctx, 'parking-entry', batchOf(3, 4)),
      writeBatch(ctx, 'parking-entry', batchOf(4, 5, { offset: 1, eventId: 'evt-raced' })),
      writeBatch(ctx, 'parking-entry', batchOf(5, 3, { offset: 0, eventId: 'evt-raced' })),
    ]);
    const [auditedMover, auditedLate, auditedInterloper] = await Promise.all([
      auditBatch(ctx, mover),
      auditBatch(ctx, late),
      auditBatch(ctx, interloper),
    ]);
    expect([auditedLate.trusted, auditedInterloper.trusted]).toEqual([5, 3]);
    // main moves, so the late batch cannot merge and rebases
    published(await publishBatch(ctx, auditedMover));

    // The interloper is published right before the late batch's first commit reaches Nessie: that commit was built
    // after a check that could not see it, and is refused (main moved); the retry must see the interloper's row.
    let commits = 0;
    const racing: NessieClient = new Proxy(ctx.catalog.client, {
      get(target, name, receiver) {
        if (name !== 'commit') return Reflect.get(target, name, receiver) as unknown;
        return async (...args: Parameters<NessieClient['commit']>) => {
          if (commits++ === 0)
            expect(published(await publishBatch(ctx, auditedInterloper))).toMatchObject({ trusted: 3, untrusted: 0 });
          return target.commit(...args);
        };
      },
    });
    const lateOutcome = published(
      await publishBatch({ ...ctx, catalog: { ...ctx.catalog, client: racing } }, auditedLate),
    );
    expect(commits).toBeGreaterThanOrEqual(2);
    expect(lateOutcome).toMatchObject({ method: 'rebase', trusted: 4, untrusted: 1 });

    const { trusted, untrusted } = await mainRows();
    expect(coordinates(trusted.filter((r) => r.event_id === 'evt-raced'))).toEqual(['5:0']);
    const moved = untrusted.filter((r) => r[Column.partition] === 4);
    expect(coordinates(moved)).toEqual(['4:1']);
    expect(moved[0][Column.reasons]).toEqual(["duplicate: event_id='evt-raced' already seen"]);
    const all = [...coordinates(trusted), ...coordinates(untrusted)].sort();
    expect(all).toEqual(
      [
        ...coordinates(before.trusted),
        ...coordinates(before.untrusted),
        ...expectedCoordinates([
          [3, 4],
          [4, 5],
          [5, 3],
        ]),
      ].sort(),
    );
    expect(new Set(trusted.map((r) => r.event_id)).size).toBe(trusted.length);
  });

  it("when expiry cut main's history after the batch's base, the whole table is searched for the batch's keys", async () => {
    const [first, late, other] = await Promise.all([
      writeBatch(ctx, 'parking-entry', batchOf(6, 3, { offset: 1, eventId: 'evt-expired' })),
      writeBatch(ctx, 'parking-entry', batchOf(7, 3, { offset: 2, eventId: 'evt-expired' })),
      writeBatch(ctx, 'parking-entry', batchOf(8, 2)),
    ]);
    const [auditedFirst, auditedLate, auditedOther] = await Promise.all([
      auditBatch(ctx, first),
      auditBatch(ctx, late),
      auditBatch(ctx, other),
    ]);
    published(await publishBatch(ctx, auditedFirst));
    published(await publishBatch(ctx, auditedOther));
    // Only the newest snapshot stays: the one that added the first batch's row, and the late batch's base, are gone,
    // so the files added since the base cannot be listed.
    const expiry = await expireTable(ctx.catalog, PRODUCTION, {
      log: silentLogger,
      maxSnapshotAgeMs: 0,
      minSnapshotsToKeep: 1,
    });
    expect(expiry.outcome).not.toBe('skipped');
    const { tables } = await loadTables(ctx.catalog, 'main', [PRODUCTION]);
    expect(tables.get(PRODUCTION)!.metadata.snapshots).toHaveLength(1);

    expect(published(await publishBatch(ctx, auditedLate))).toMatchObject({
      method: 'rebase',
      trusted: 2,
      untrusted: 1,
    });
    const { trusted, untrusted } = await mainRows();
    expect(coordinates(trusted.filter((r) => r.event_id === 'evt-expired'))).toEqual(['6:1']);
    const moved = untrusted.filter((r) => r[Column.partition] === 7);
    expect(coordinates(moved)).toEqual(['7:2']);
    expect(moved[0][Column.reasons]).toEqual(["duplicate: event_id='evt-expired' already seen"]);
    expect(new Set(trusted.map((r) => r.event_id)).size).toBe(trusted.length);
  });
});
