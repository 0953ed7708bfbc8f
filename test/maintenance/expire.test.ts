/**
 * Snapshot expiry: Iceberg's retention rules on metadata (age, minimum count, tags, Iceberg branches and their ref age,
 * unreferenced snapshots, snapshot-log cut), and on Nessie: main's history shrinks, its rows and Kafka offsets stay,
 * and another Nessie branch's metadata is untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable } from '../../shared/catalog/table-catalog.ts';
import { ValidationError } from '../../shared/iceberg/commit.ts';
import { expireSnapshots, planExpiry } from '../../shared/iceberg/expire-snapshots.ts';
import { newTableMetadata, snapshotForRef } from '../../shared/iceberg/metadata.ts';
import type { Snapshot, TableMetadata } from '../../shared/iceberg/types.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { maintenanceSettings } from '../../shared/maintenance/maintenance-settings.ts';
import { rewriteTableManifests } from '../../shared/maintenance/manifest-rewrite.ts';
import { expireTable } from '../../shared/maintenance/snapshot-expiry.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import {
  appendRows,
  byId,
  createEventsTable,
  DAY,
  EVENTS_SCHEMA,
  eventRows,
  OFFSETS_KEY,
  rowsAt,
  startEnv,
  type TestEnv,
} from './helpers.ts';

const NOW = Date.UTC(2026, 10, 22);

/** A table whose snapshots form the given parent chain, each `ageDays` old. */
function history(
  chain: { id: number; parent?: number; ageDays: number }[],
  refs: TableMetadata['refs'],
  properties: Record<string, string> = {},
): TableMetadata {
  const snapshots: Snapshot[] = chain.map((s, i) => ({
    snapshotId: BigInt(s.id),
    ...(s.parent !== undefined ? { parentSnapshotId: BigInt(s.parent) } : {}),
    sequenceNumber: i + 1,
    timestampMs: NOW - s.ageDays * DAY,
    manifestList: `file:///t/metadata/snap-${s.id}.avro`,
    summary: { operation: 'append' },
  }));
  const base = newTableMetadata({ location: 'file:///t', schema: EVENTS_SCHEMA, properties });
  return {
    ...base,
    snapshots,
    refs,
    currentSnapshotId: refs.main?.snapshotId,
    snapshotLog: snapshots.map((s) => ({ timestampMs: s.timestampMs, snapshotId: s.snapshotId })),
  };
}

const ids = (snapshots: Snapshot[]) => snapshots.map((s) => Number(s.snapshotId));
const linear = (ages: number[]) => ages.map((ageDays, i) => ({ id: i + 1, ...(i ? { parent: i } : {}), ageDays }));

describe('planExpiry (Iceberg RemoveSnapshots rules)', () => {
  it('expires main ancestors older than history.expire.max-snapshot-age-ms (default 5 days) beyond the minimum count', () => {
    const metadata = history(linear([9, 8, 6, 4, 1]), { main: { snapshotId: 5n, type: 'branch' } });
    const plan = planExpiry(metadata, { now: () => NOW });
    expect(ids(plan.expired)).toEqual([1, 2, 3]);
    expect(ids(plan.metadata.snapshots)).toEqual([4, 5]);
    // the snapshot log loses everything before the last expired entry
    expect(plan.metadata.snapshotLog.map((e) => Number(e.snapshotId))).toEqual([4, 5]);
  });

  it("takes floe's default age where the table sets none, and the table's own property before it", () => {
    const hour = 3_600_000;
    const recent = history(
      [
        { id: 1, ageDays: 3 / 24 },
        { id: 2, parent: 1, ageDays: 2 / 24 },
        { id: 3, parent: 2, ageDays: 0.5 / 24 },
      ],
      { main: { snapshotId: 3n, type: 'branch' } },
    );
    expect(ids(planExpiry(recent, { now: () => NOW, defaultMaxSnapshotAgeMs: hour }).metadata.snapshots)).toEqual([3]);
    const ownAge = { ...recent, properties: { 'history.expire.max-snapshot-age-ms': String(5 * DAY) } };
    expect(ids(planExpiry(ownAge, { now: () => NOW, defaultMaxSnapshotAgeMs: hour }).metadata.snapshots)).toEqual([
      1, 2, 3,
    ]);
    // An explicit age (a ping's or the CLI's `olderThan`) overrides both.
    expect(
      ids(
        planExpiry(ownAge, { now: () => NOW, defaultMaxSnapshotAgeMs: hour, maxSnapshotAgeMs: 2.5 * hour }).metadata
          .snapshots,
      ),
    ).toEqual([2, 3]);
    expect(maintenanceSettings({}).snapshotMaxAgeMs).toBe(hour);
    expect(maintenanceSettings({ FLOE_SNAPSHOT_MAX_AGE: '3d' }).snapshotMaxAgeMs).toBe(3 * DAY);
    expect(() => maintenanceSettings({ FLOE_SNAPSHOT_MAX_AGE: 'soon' })).toThrow(/FLOE_SNAPSHOT_MAX_AGE/);
  });

  it('keeps history.expire.min-snapshots-to-keep ancestors however old, and always the head', () => {
    const metadata = history(
      linear([30, 20, 10]),
      { main: { snapshotId: 3n, type: 'branch' } },
      { 'history.expire.min-snapshots-to-keep': '2' },
    );
    expect(ids(planExpiry(metadata, { now: () => NOW }).metadata.snapshots)).toEqual([2, 3]);
    expect(
      ids(planExpiry(metadata, { now: () => NOW, minSnapshotsToKeep: 1, maxSnapshotAgeMs: 0 }).metadata.snapshots),
    ).toEqual([3]);
  });

  it('keeps tagged snapshots and the ancestry of other Iceberg branches, by their own ref settings', () => {
    const metadata = history(
      [
        { id: 1, ageDays: 40 },
        { id: 2, parent: 1, ageDays: 30 },
        { id: 3, parent: 2, ageDays: 20 },
        { id: 4, parent: 3, ageDays: 10 },
        { id: 5, parent: 2, ageDays: 25 },
        { id: 6, parent: 5, ageDays: 24 },
      ],
      {
        main: { snapshotId: 4n, type: 'branch' },
        audit: { snapshotId: 1n, type: 'tag' },
        dev: { snapshotId: 6n, type: 'branch', minSnapshotsToKeep: 2 },
      },
    );
    const plan = planExpiry(metadata, { now: () => NOW });
    expect(ids(plan.metadata.snapshots)).toEqual([1, 4, 5, 6]);
    expect(Object.keys(plan.metadata.refs).sort()).toEqual(['audit', 'dev', 'main']);
  });

  it('drops Iceberg refs past their max ref age (never main), and unreferenced snapshots only when old', () => {
    const metadata = history(
      [
        { id: 1, ageDays: 40 },
        { id: 2, parent: 1, ageDays: 1 },
        { id: 3, ageDays: 2 },
        { id: 4, ageDays: 9 },
      ],
      {
        main: { snapshotId: 2n, type: 'branch', maxRefAgeMs: 0 },
        old: { snapshotId: 1n, type: 'tag', maxRefAgeMs: 10 * DAY },
      },
    );
    const plan = planExpiry(metadata, { now: () => NOW });
    expect(plan.removedRefs).toEqual(['old']);
    expect(ids(plan.metadata.snapshots)).toEqual([2, 3]);
  });

  it('returns the base itself when nothing expires, and refuses tables with gc.enabled=false', async () => {
    const metadata = history(linear([3, 2, 1]), { main: { snapshotId: 3n, type: 'branch' } });
    expect(planExpiry(metadata, { now: () => NOW }).metadata).toBe(metadata);
    const disabled = { ...metadata, properties: { ...metadata.properties, 'gc.enabled': 'false' } };
    await expect(expireSnapshots({ now: () => NOW })(disabled, 1, new Map())).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('expiry on Nessie', () => {
  let env: TestEnv;
  const name = 'db.events';
  beforeAll(async () => {
    env = await startEnv('floe-expire');
    await createEventsTable(env.catalog, name);
    for (let i = 0; i < 6; i++)
      await appendRows(env.catalog, name, eventRows(i * 10, 10), 'main', () => NOW - (11 - i) * DAY);
    // a compaction: after expiry, the small files it replaced are reachable from no snapshot of main
    expect(
      (await compactTable(env.catalog, name, { log: silentLogger, options: { 'rewrite-all': 'true' } })).outcome,
    ).toBe('committed');
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('skips a table that is not on main, in every table job, reading and writing nothing', async () => {
    const before = await env.catalog.client.getReference('main');
    const skipped = { table: 'db.missing', outcome: 'skipped', reason: 'not on main', filesBefore: 0, removed: 0 };
    expect(await expireTable(env.catalog, 'db.missing', { log: silentLogger, now: () => NOW })).toEqual(
      expect.objectContaining(skipped),
    );
    expect(await compactTable(env.catalog, 'db.missing', { log: silentLogger })).toEqual(
      expect.objectContaining(skipped),
    );
    expect(await rewriteTableManifests(env.catalog, 'db.missing', { log: silentLogger })).toEqual(
      expect.objectContaining(skipped),
    );
    expect((await env.catalog.client.getReference('main')).hash).toBe(before.hash);
  });

  it('expires old snapshots on main only, keeping rows, offsets and other branches', async () => {
    const main = await env.catalog.client.getReference('main');
    await env.catalog.client.createReference('keep', 'BRANCH', { name: 'main', hash: main.hash });
    const before = (await loadTable(env.catalog, 'main', name))!;
    const rows = (await rowsAt(env.catalog, 'main', name)).sort(byId);

    const dry = await expireTable(env.catalog, name, { log: silentLogger, now: () => NOW, dryRun: true });
    expect(dry).toMatchObject({ outcome: 'planned', removed: 6 });
    expect((await loadTable(env.catalog, 'main', name))!.metadataLocation).toBe(before.metadataLocation);

    const result = await expireTable(env.catalog, name, { log: silentLogger, now: () => NOW });
    expect(result).toMatchObject({
      outcome: 'committed',
      removed: 6,
      details: { snapshotsBefore: 7, snapshotsAfter: 1 },
    });
    expect(result.filesAfter).toBeLessThan(result.filesBefore);
    expect(result.bytesAfter).toBeLessThan(result.bytesBefore);
    const after = (await loadTable(env.catalog, 'main', name))!;
    expect(after.metadata.snapshots).toHaveLength(1);
    expect(after.metadata.currentSnapshotId).toBe(before.metadata.currentSnapshotId);
    expect(snapshotForRef(after.metadata, 'main')!.summary[OFFSETS_KEY]).toBe(
      snapshotForRef(before.metadata, 'main')!.summary[OFFSETS_KEY],
    );
    expect((await rowsAt(env.catalog, 'main', name)).sort(byId)).toEqual(rows);
    // the other Nessie branch still has its own, full history
    expect((await loadTable(env.catalog, 'keep', name))!.metadata.snapshots).toHaveLength(7);

    expect(await expireTable(env.catalog, name, { log: silentLogger, now: () => NOW })).toMatchObject({
      outcome: 'unchanged',
      removed: 0,
    });
  });
});
