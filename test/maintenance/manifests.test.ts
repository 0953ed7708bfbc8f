/**
 * Manifest rewrite: one manifest per fast append is merged into few manifests, entries keep their snapshot ids and
 * sequence numbers (so deletes and time travel behave the same), rows and offsets are unchanged, and a concurrent
 * append or compaction is handled by the compare-and-swap retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitOnBranch, loadTable } from '../../shared/catalog/table-catalog.ts';
import { snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { rewriteManifests } from '../../shared/iceberg/rewrite-manifests.ts';
import { readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { EntryStatus, type TableMetadata } from '../../shared/iceberg/types.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { rewriteTableManifests } from '../../shared/maintenance/manifest-rewrite.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import {
  appendRows,
  byId,
  createEventsTable,
  eventRows,
  OFFSETS_KEY,
  rowsAt,
  startEnv,
  type TestEnv,
} from './helpers.ts';

async function entriesByFile(env: TestEnv, metadata: TableMetadata) {
  const out = new Map<string, { snapshotId?: bigint; sequenceNumber?: number; fileSequenceNumber?: number }>();
  for (const manifest of await readManifestFiles(env.catalog.io, snapshotForRef(metadata, 'main'))) {
    for (const e of await readManifestEntries(env.catalog.io, manifest, metadata)) {
      if (e.status !== EntryStatus.DELETED)
        out.set(e.dataFile.filePath, {
          snapshotId: e.snapshotId,
          sequenceNumber: e.sequenceNumber,
          fileSequenceNumber: e.fileSequenceNumber,
        });
    }
  }
  return out;
}

describe('manifest rewrite', () => {
  let env: TestEnv;
  const name = 'db.events';
  beforeAll(async () => {
    env = await startEnv('floe-manifests');
    await createEventsTable(env.catalog, name);
    for (let i = 0; i < 30; i++) await appendRows(env.catalog, name, eventRows(i * 20, 20));
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('merges the small manifests of 30 appends, keeping every entry as it was', async () => {
    const before = (await loadTable(env.catalog, 'main', name))!;
    const manifestsBefore = await readManifestFiles(env.catalog.io, snapshotForRef(before.metadata, 'main'));
    expect(manifestsBefore).toHaveLength(30);
    const entriesBefore = await entriesByFile(env, before.metadata);
    const rows = (await rowsAt(env.catalog, 'main', name)).sort(byId);

    const result = await rewriteTableManifests(env.catalog, name, { log: silentLogger });
    expect(result).toMatchObject({ outcome: 'committed', filesBefore: 30, filesAfter: 1, removed: 30 });

    const after = (await loadTable(env.catalog, 'main', name))!;
    const head = snapshotForRef(after.metadata, 'main')!;
    expect(head.summary).toMatchObject({
      operation: 'replace',
      'manifests-replaced': '30',
      'manifests-created': '1',
      'manifests-kept': '0',
      'entries-processed': '120',
      'total-records': '600',
      'total-data-files': '120',
    });
    expect(head.summary[OFFSETS_KEY]).toBe(snapshotForRef(before.metadata, 'main')!.summary[OFFSETS_KEY]);
    expect(await entriesByFile(env, after.metadata)).toEqual(entriesBefore);
    expect((await rowsAt(env.catalog, 'main', name)).sort(byId)).toEqual(rows);
    expect(await rewriteTableManifests(env.catalog, name, { log: silentLogger })).toMatchObject({
      outcome: 'unchanged',
    });
  });

  it('splits toward commit.manifest.target-size-bytes', async () => {
    for (let i = 0; i < 6; i++) await appendRows(env.catalog, name, eventRows(1000 + i * 20, 20));
    const table = (await loadTable(env.catalog, 'main', name))!;
    const manifests = await readManifestFiles(env.catalog.io, snapshotForRef(table.metadata, 'main'));
    const target = Math.max(...manifests.map((m) => m.manifestLength)) * 3;
    const result = await rewriteTableManifests(env.catalog, name, { log: silentLogger, targetSizeBytes: target });
    expect(result.outcome).toBe('committed');
    expect(result.filesAfter).toBeGreaterThan(1);
    expect(result.filesAfter).toBeLessThan(result.filesBefore);
    expect(await rowsAt(env.catalog, 'main', name)).toHaveLength(720);
  });

  it('reuses its manifests when an append lands first, and re-plans when a compaction replaced them', async () => {
    for (let i = 0; i < 4; i++) await appendRows(env.catalog, name, eventRows(2000 + i * 20, 20));
    const plans: string[][] = [];
    const rewrite = rewriteManifests({
      io: env.catalog.io,
      targetSizeBytes: 8 * 1024 * 1024,
      onPlan: (p) => plans.push(p.written.map((m) => m.manifestPath)),
    });
    const base = (await loadTable(env.catalog, 'main', name))!.metadata;
    // plan against the current head, then let an append win the race
    expect(await rewrite(base, 1, new Map())).not.toBe(base);
    await appendRows(env.catalog, name, eventRows(3000, 20));
    await commitOnBranch(env.catalog, 'main', new Map([[name, rewrite]]), { message: 'rewrite manifests' });
    expect(plans).toHaveLength(2);
    expect(plans[1]).toEqual(plans[0]);
    const head = (await loadTable(env.catalog, 'main', name))!.metadata;
    expect((await readManifestFiles(env.catalog.io, snapshotForRef(head, 'main'))).map((m) => m.manifestPath)).toEqual(
      expect.arrayContaining(plans[0]),
    );
    expect(await rowsAt(env.catalog, 'main', name)).toHaveLength(820);

    const again = rewriteManifests({ io: env.catalog.io, targetSizeBytes: 8 * 1024 * 1024 });
    for (let i = 0; i < 3; i++) await appendRows(env.catalog, name, eventRows(4000 + i * 20, 20));
    const planned = (await loadTable(env.catalog, 'main', name))!.metadata;
    await again(planned, 1, new Map());
    expect(
      (await compactTable(env.catalog, name, { log: silentLogger, options: { 'rewrite-all': 'true' } })).outcome,
    ).toBe('committed');
    await commitOnBranch(env.catalog, 'main', new Map([[name, again]]), { message: 'rewrite manifests' });
    const rows = await rowsAt(env.catalog, 'main', name);
    expect(rows).toHaveLength(880);
    expect(new Set(rows.map((r) => r.id)).size).toBe(880);
  });
});
