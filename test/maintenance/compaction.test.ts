/**
 * Bin-pack compaction on Nessie: 200 small files across partitions become target-size files with every row and
 * value unchanged (read back by floe's scan and by icebird over HTTP); a foreign table's position and equality deletes
 * are applied while rewriting; and compaction racing the real Write-Audit-Publish chain loses and doubles nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp } from 'node:fs/promises';
import { icebergRead } from 'icebird';
import { commitOnBranch, loadTable } from '../../shared/catalog/table-catalog.ts';
import { ValidationError } from '../../shared/iceberg/commit.ts';
import { snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { appendFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import {
  binPackSettings,
  planRewriteDataFiles,
  replaceDataFiles,
  rewriteFileGroup,
} from '../../shared/iceberg/rewrite-data.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { createFileIO, fileLocation } from '../../shared/storage/index.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { CARRIED_SUMMARY_PREFIXES } from '../../shared/wap/kafka-offsets.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';
import { serveDirectory } from '../helpers/http-files.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import {
  appendRows,
  byId,
  createEventsTable,
  DAY,
  entry,
  EVENT_DAYS_CLOSED_MS,
  eventRows,
  liveDataFiles,
  mainCoordinates,
  OFFSETS_KEY,
  PRODUCTION,
  publish,
  rowsAt,
  startEnv,
  type TestEnv,
} from './helpers.ts';

const TARGET = 6 * 1024;

describe('compaction of a table with 200 small files', () => {
  let env: TestEnv;
  let http: { url: string; close(): Promise<void> };
  const name = 'db.events';

  beforeAll(async () => {
    // Tables are recorded under an http:// warehouse so icebird can read them; floe maps it to the directory.
    env = await startEnv('floe-compact', {
      storage: async (dir) => {
        http = await serveDirectory(dir);
        return {
          warehouse: `${http.url}/warehouse/`,
          io: createFileIO({ localFiles: true, maps: [{ from: `${http.url}/`, to: `${fileLocation(dir)}/` }] }),
          close: () => http.close(),
        };
      },
    });
    await createEventsTable(env.catalog, name, { 'write.target-file-size-bytes': String(TARGET) });
    // 50 writes of 4 partitions each, committed together: 200 small files
    const { metadata } = (await loadTable(env.catalog, 'main', name))!;
    const files = (
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => writeRows(env.catalog.io, metadata, eventRows(i * 200, 200))),
      )
    ).flat();
    await commitOnBranch(
      env.catalog,
      'main',
      new Map([[name, appendFiles({ io: env.catalog.io, files, summary: { [OFFSETS_KEY]: '{"0":[[0,9999]]}' } })]]),
      { message: 'append' },
    );
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('rewrites them into target-size files per partition with identical rows', async () => {
    const before = await loadTable(env.catalog, 'main', name);
    const filesBefore = await liveDataFiles(env.catalog.io, before!.metadata);
    expect(filesBefore).toHaveLength(200);
    expect(new Set(filesBefore.map((f) => String(f.partition[0]))).size).toBe(4);
    const rowsBefore = (await rowsAt(env.catalog, 'main', name)).sort(byId);
    expect(rowsBefore).toHaveLength(10_000);

    const result = await compactTable(env.catalog, name, { log: silentLogger, now: () => EVENT_DAYS_CLOSED_MS });
    expect(result).toMatchObject({ outcome: 'committed', filesBefore: 200, removed: 200 });

    const after = await loadTable(env.catalog, 'main', name);
    const files = await liveDataFiles(env.catalog.io, after!.metadata);
    expect(result.filesAfter).toBe(files.length);
    expect(result.bytesAfter).toBe(files.reduce((s, f) => s + f.fileSizeInBytes, 0));
    const settings = binPackSettings(after!.metadata);
    const byPartition = new Map<string, typeof files>();
    for (const f of files)
      byPartition.set(String(f.partition[0]), [...(byPartition.get(String(f.partition[0])) ?? []), f]);
    expect(byPartition.size).toBe(4);
    for (const partitionFiles of byPartition.values()) {
      expect(partitionFiles.length).toBeGreaterThan(1);
      for (const f of partitionFiles) {
        expect(f.fileSizeInBytes).toBeGreaterThanOrEqual(settings['min-file-size-bytes']);
        expect(f.fileSizeInBytes).toBeLessThanOrEqual(settings['max-file-size-bytes']);
      }
    }
    expect((await rowsAt(env.catalog, 'main', name)).sort(byId)).toEqual(rowsBefore);

    const head = snapshotForRef(after!.metadata, 'main')!;
    const previous = snapshotForRef(before!.metadata, 'main')!;
    expect(head.summary).toMatchObject({
      operation: 'replace',
      'added-records': '10000',
      'deleted-records': '10000',
      'total-records': '10000',
      'deleted-data-files': '200',
    });
    expect(head.summary[OFFSETS_KEY]).toBe(previous.summary[OFFSETS_KEY]);

    // The layout is stable: a second run finds nothing to do.
    expect(await compactTable(env.catalog, name, { log: silentLogger, now: () => EVENT_DAYS_CLOSED_MS })).toMatchObject(
      {
        outcome: 'unchanged',
        filesBefore: files.length,
      },
    );
  });

  it('is read identically by icebird', async () => {
    const table = await loadTable(env.catalog, 'main', name);
    const metadataFileName = table!.metadataLocation.slice(table!.metadataLocation.lastIndexOf('/') + 1);
    const theirs = await icebergRead({ tableUrl: table!.metadata.location, metadataFileName });
    const ours = (await rowsAt(env.catalog, 'main', name)).sort(byId);
    expect(theirs).toHaveLength(ours.length);
    const sorted = [...theirs].sort(
      (a: Record<string, unknown>, b: Record<string, unknown>) => Number(a.id) - Number(b.id),
    );
    sorted.forEach((row: Record<string, unknown>, i: number) => {
      expect(BigInt(row.id as bigint)).toBe(ours[i].id);
      expect(row.car).toBe(ours[i].car);
      expect(row.speed).toBe(ours[i].speed);
      expect(row.note).toBe(ours[i].note);
      expect((row.ts as Date).getTime()).toBe(Number((ours[i].ts as bigint) / 1000n));
    });
  });

  it('a dry run plans without committing', async () => {
    await appendRows(env.catalog, name, eventRows(50_000, 40));
    await appendRows(env.catalog, name, eventRows(50_040, 40));
    const head = (await loadTable(env.catalog, 'main', name))!.metadataLocation;
    const planned = await compactTable(env.catalog, name, {
      log: silentLogger,
      now: () => EVENT_DAYS_CLOSED_MS,
      dryRun: true,
      options: { 'min-input-files': '2' },
    });
    expect(planned.outcome).toBe('planned');
    expect(planned.removed).toBeGreaterThan(0);
    expect((await loadTable(env.catalog, 'main', name))!.metadataLocation).toBe(head);
  });
});

describe('compaction of a day partition still filling', () => {
  let env: TestEnv;
  const name = 'db.today';
  // Batches large enough that a merged file is well over √5 times one of them, as an hour's file is in production.
  const BATCH = 500;
  // eventRows(…, 1) puts every row on the day of 2026-11-18; the compactor's clock is that evening, then the next day.
  const day = Math.floor(Number(eventRows(0, 1, 1)[0].ts as bigint) / 1000 / DAY);
  const evening = day * DAY + 20 * 3_600_000;
  const nextMorning = (day + 1) * DAY + 7 * 60_000;
  const appendBatches = async (from: number) => {
    for (let b = 0; b < 6; b++) await appendRows(env.catalog, name, eventRows(from + b * BATCH, BATCH, 1));
  };
  const live = async () =>
    liveDataFiles(env.catalog.io, (await loadTable(env.catalog, 'main', name))!.metadata).then((files) =>
      files.map((f) => ({ path: f.filePath, rows: f.recordCount })),
    );
  const groupsClosed = (result: Awaited<ReturnType<typeof compactTable>>) =>
    (result.details?.groups as { closed: boolean }[]).map((g) => g.closed);

  beforeAll(async () => {
    env = await startEnv('floe-compact-open');
    // the default 512 MiB target: every file of the day stays far below the minimum size
    await createEventsTable(env.catalog, name);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("the next tick merges only the new small files, not the file the previous tick wrote; the day's close merges all", async () => {
    await appendBatches(0);
    const first = await compactTable(env.catalog, name, { log: silentLogger, now: () => evening });
    expect(first).toMatchObject({ outcome: 'committed', filesBefore: 6, removed: 6, filesAfter: 1 });
    expect(groupsClosed(first)).toEqual([false]);
    const [written] = await live();
    expect(written.rows).toBe(6 * BATCH);

    await appendBatches(6 * BATCH);
    const second = await compactTable(env.catalog, name, { log: silentLogger, now: () => evening });
    expect(second).toMatchObject({ outcome: 'committed', filesBefore: 7, removed: 6, filesAfter: 2 });
    const files = await live();
    expect(files.find((f) => f.path === written.path)).toEqual(written);
    expect(files.map((f) => f.rows)).toEqual([6 * BATCH, 6 * BATCH]);
    expect((await rowsAt(env.catalog, 'main', name)).sort(byId)).toEqual(eventRows(0, 12 * BATCH, 1));
    // two files of the same tier are fewer than min-input-files: the layout holds until the day closes
    expect((await compactTable(env.catalog, name, { log: silentLogger, now: () => evening })).outcome).toBe(
      'unchanged',
    );

    const rowsBefore = (await rowsAt(env.catalog, 'main', name)).sort(byId);
    const closing = await compactTable(env.catalog, name, { log: silentLogger, now: () => nextMorning });
    expect(closing).toMatchObject({ outcome: 'committed', filesBefore: 2, removed: 2, filesAfter: 1 });
    expect(groupsClosed(closing)).toEqual([true]);
    expect((await live()).map((f) => f.rows)).toEqual([12 * BATCH]);
    expect((await rowsAt(env.catalog, 'main', name)).sort(byId)).toEqual(rowsBefore);
  });
});

describe('compaction of a table with deletes written by Iceberg Java', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startEnv('floe-compact-deletes', {
      storage: async (dir) => {
        await cp(`${ICEBERG_FIXTURES}/icebird/hyperparam-iceberg/java/bunnies`, `${dir}/bunnies`, { recursive: true });
        return {
          warehouse: `file://${dir}/warehouse/`,
          io: createFileIO({
            localFiles: true,
            maps: [{ from: 's3a://hyperparam-iceberg/java/bunnies/', to: `file://${dir}/bunnies/` }],
          }),
        };
      },
    });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('applies position and equality deletes while rewriting', async () => {
    const { client } = env.catalog;
    const main = await client.getReference('main');
    const metadataLocation = 's3a://hyperparam-iceberg/java/bunnies/metadata/v5.metadata.json';
    await client.commit('main', main.hash, { message: 'register the Java table' }, [
      {
        type: 'PUT',
        key: { elements: ['fixtures'] },
        content: { type: 'NAMESPACE', elements: ['fixtures'], properties: {} },
      },
      {
        type: 'PUT',
        key: { elements: ['fixtures', 'bunnies'] },
        content: {
          type: 'ICEBERG_TABLE',
          metadataLocation,
          snapshotId: 9158179788527662767n,
          schemaId: 0,
          specId: 0,
          sortOrderId: 0,
        },
      },
    ]);
    const rowsBefore = await rowsAt(env.catalog, 'main', 'fixtures.bunnies');
    const before = (await loadTable(env.catalog, 'main', 'fixtures.bunnies'))!;
    const plan = await planRewriteDataFiles(before.metadata, { io: env.catalog.io });
    expect(plan.scan.tasks.some((t) => t.deletes.length > 0)).toBe(true);

    const result = await compactTable(env.catalog, 'fixtures.bunnies', {
      log: silentLogger,
      options: { 'rewrite-all': 'true' },
    });
    expect(result.outcome).toBe('committed');
    const after = (await loadTable(env.catalog, 'main', 'fixtures.bunnies'))!;
    const rowsAfter = await rowsAt(env.catalog, 'main', 'fixtures.bunnies');
    const key = (r: Record<string, unknown>) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(rowsAfter.map(key).sort()).toEqual(rowsBefore.map(key).sort());
    // the new file holds exactly the surviving rows: no delete applies to it any more
    const replanned = await planRewriteDataFiles(after.metadata, { io: env.catalog.io });
    expect(replanned.scan.tasks).toHaveLength(1);
    expect(replanned.scan.tasks[0].deletes).toEqual([]);
    expect(replanned.scan.tasks[0].file.recordCount).toBe(rowsBefore.length);
  });
});

describe('compaction racing the Write-Audit-Publish chain', () => {
  let env: TestEnv;
  const rewrite = { 'min-input-files': '2' };
  beforeAll(async () => {
    env = await startEnv('floe-compact-wap');
    for (let b = 0; b < 3; b++)
      await publish(
        env.wap,
        Array.from({ length: 20 }, (_, i) => entry(0, b * 20 + i)),
      );
  });
  afterAll(async () => {
    await env?.stop();
  });

  const expected = (n: number) => Array.from({ length: n }, (_, i) => `0:${i}`).sort();

  it('a publish landing between planning and commit is kept: the rewrite re-validates and commits on top', async () => {
    const table = (await loadTable(env.catalog, 'main', PRODUCTION))!;
    const plan = await planRewriteDataFiles(table.metadata, {
      io: env.catalog.io,
      settings: binPackSettings(table.metadata, rewrite),
    });
    expect(plan.groups.length).toBeGreaterThan(0);
    const added = (
      await Promise.all(plan.groups.map((g) => rewriteFileGroup(env.catalog.io, table.metadata, plan, g)))
    ).flat();
    await publish(
      env.wap,
      Array.from({ length: 10 }, (_, i) => entry(0, 60 + i)),
    );
    await commitOnBranch(
      env.catalog,
      'main',
      new Map([
        [
          PRODUCTION,
          replaceDataFiles(plan, plan.groups, added, {
            io: env.catalog.io,
            carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES,
          }),
        ],
      ]),
      { message: 'compact' },
    );
    expect(await mainCoordinates(env.catalog)).toEqual(expected(70));
    const head = snapshotForRef((await loadTable(env.catalog, 'main', PRODUCTION))!.metadata, 'main')!;
    expect(head.summary.operation).toBe('replace');
    expect(head.summary['floe.kafka.offsets.parking-entry']).toBe('{"0":[[0,69]]}');
  });

  it('a batch cut before a compaction is published after it (merge conflict → rebase), nothing lost', async () => {
    const audited = await auditBatch(
      env.wap,
      await writeBatch(
        env.wap,
        'parking-entry',
        Array.from({ length: 10 }, (_, i) => entry(0, 70 + i)),
      ),
    );
    await publish(
      env.wap,
      Array.from({ length: 10 }, (_, i) => entry(0, 80 + i)),
    );
    expect((await compactTable(env.catalog, PRODUCTION, { log: silentLogger, options: rewrite })).outcome).toBe(
      'committed',
    );
    const outcome = await publishBatch(env.wap, audited);
    expect(outcome).toMatchObject({ kind: 'published', event: { method: 'rebase', duplicates: 0 } });
    expect(await mainCoordinates(env.catalog)).toEqual(expected(90));
  });

  it('a second rewrite of files already replaced fails validation instead of resurrecting them', async () => {
    await publish(
      env.wap,
      Array.from({ length: 10 }, (_, i) => entry(0, 90 + i)),
    );
    await publish(
      env.wap,
      Array.from({ length: 10 }, (_, i) => entry(0, 100 + i)),
    );
    const table = (await loadTable(env.catalog, 'main', PRODUCTION))!;
    const settings = binPackSettings(table.metadata, rewrite);
    const plan = await planRewriteDataFiles(table.metadata, { io: env.catalog.io, settings });
    const first = (
      await Promise.all(plan.groups.map((g) => rewriteFileGroup(env.catalog.io, table.metadata, plan, g)))
    ).flat();
    const second = (
      await Promise.all(plan.groups.map((g) => rewriteFileGroup(env.catalog.io, table.metadata, plan, g)))
    ).flat();
    const commit = (added: typeof first) =>
      commitOnBranch(
        env.catalog,
        'main',
        new Map([[PRODUCTION, replaceDataFiles(plan, plan.groups, added, { io: env.catalog.io })]]),
        { message: 'compact' },
      );
    await commit(first);
    await expect(commit(second)).rejects.toBeInstanceOf(ValidationError);
    expect(await mainCoordinates(env.catalog)).toEqual(expected(110));
  });

  it('concurrent publishes and compactions lose and double nothing', async () => {
    const publishing = (async () => {
      for (let b = 0; b < 4; b++)
        await publish(
          env.wap,
          Array.from({ length: 10 }, (_, i) => entry(0, 110 + b * 10 + i)),
        );
    })();
    let published = false;
    void publishing.finally(() => (published = true));
    const compacting = (async () => {
      const outcomes: string[] = [];
      // two compactions at a time, again and again while batches land, and once more after the last one
      for (let last = false; !last;) {
        last = published;
        const pair = await Promise.all([
          compactTable(env.catalog, PRODUCTION, { log: silentLogger, options: rewrite }),
          compactTable(env.catalog, PRODUCTION, { log: silentLogger, options: rewrite }),
        ]);
        outcomes.push(...pair.map((r) => r.outcome));
      }
      return outcomes;
    })();
    const [, outcomes] = await Promise.all([publishing, compacting]);
    expect(outcomes).toContain('committed');
    expect(await mainCoordinates(env.catalog)).toEqual(expected(150));
    const trusted = await rowsAt(env.catalog, 'main', PRODUCTION);
    expect(new Set(trusted.map((r) => r.event_id)).size).toBe(trusted.length);
  });
});
