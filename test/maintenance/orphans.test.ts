/**
 * Orphan cleanup across all Nessie references: files of an aborted write, a deleted branch and expired snapshots go
 * once past the grace period (and not before); claim-check blobs live exactly as long as a live row references them;
 * `s3a://` metadata matches an `s3://` listing while another authority is a conflict that stops all deletes; and over
 * random histories of appends, compactions, expiries, manifest rewrites, branches and tags, nothing any branch or tag
 * reaches is ever removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, writeFile } from 'node:fs/promises';
import { commitOnBranch, loadTable, readMetadata, type Catalog } from '../../shared/catalog/table-catalog.ts';
import { storeBlob } from '../../functions/tagger/tagging.ts';
import { expireSnapshots } from '../../shared/iceberg/expire-snapshots.ts';
import {
  planRewriteDataFiles,
  replaceDataFiles,
  rewriteFileGroup,
  binPackSettings,
} from '../../shared/iceberg/rewrite-data.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { EntryStatus } from '../../shared/iceberg/types.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { expireTable } from '../../shared/maintenance/snapshot-expiry.ts';
import { rewriteTableManifests } from '../../shared/maintenance/manifest-rewrite.ts';
import { removeOrphanFiles } from '../../shared/maintenance/orphan-cleanup.ts';
import { collect, createFileIO } from '../../shared/storage/index.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import {
  appendRows,
  byId,
  createEventsTable,
  DAY,
  entry,
  eventRows,
  PRODUCTION,
  prng,
  publish,
  rowsAt,
  startEnv,
  type TestEnv,
} from './helpers.ts';

const exists = async (catalog: Catalog, location: string) => (await catalog.io.head(location)) !== undefined;
const later = (days: number) => () => Date.now() + days * DAY;

/** Every file the catalog's references reach, walked independently of the code under test. */
async function referencedFiles(catalog: Catalog): Promise<Set<string>> {
  const files = new Set<string>();
  for (const ref of await catalog.client.listReferences()) {
    for (const e of (await catalog.client.listEntries(`@${ref.hash}`, { content: true })).value) {
      if (e.content?.type !== 'ICEBERG_TABLE') continue;
      files.add(e.content.metadataLocation);
      const metadata = await readMetadata(catalog.io, e.content.metadataLocation);
      metadata.metadataLog.forEach((l) => files.add(l.metadataFile));
      for (const snapshot of metadata.snapshots) {
        files.add(snapshot.manifestList);
        for (const manifest of await readManifestFiles(catalog.io, snapshot)) {
          files.add(manifest.manifestPath);
          for (const entry of await readManifestEntries(catalog.io, manifest, metadata))
            if (entry.status !== EntryStatus.DELETED) files.add(entry.dataFile.filePath);
        }
      }
    }
  }
  return files;
}

/** Rows of every table at every reference, and the row count of every retained snapshot (time travel). */
async function catalogState(catalog: Catalog): Promise<Map<string, unknown>> {
  const state = new Map<string, unknown>();
  for (const ref of await catalog.client.listReferences()) {
    for (const e of (await catalog.client.listEntries(`@${ref.hash}`, { content: true })).value) {
      if (e.content?.type !== 'ICEBERG_TABLE') continue;
      const metadata = await readMetadata(catalog.io, e.content.metadataLocation);
      const key = `${ref.name}/${e.name.elements.join('.')}`;
      state.set(
        key,
        (await scanRows(metadata, { io: catalog.io })).sort(byId).map((r) => String(r.id)),
      );
      for (const s of metadata.snapshots)
        state.set(
          `${key}@${s.snapshotId}`,
          (await scanRows(metadata, { io: catalog.io, snapshotId: s.snapshotId })).length,
        );
    }
  }
  return state;
}

describe('orphan cleanup', () => {
  let env: TestEnv;
  const name = 'db.events';
  beforeAll(async () => {
    env = await startEnv('floe-orphans');
    await createEventsTable(env.catalog, name);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('removes the files of an aborted write, a deleted branch and expired snapshots once past the grace period', async () => {
    const { catalog } = env;
    const empty = await catalog.client.getReference('main');
    await catalog.client.createReference('keep', 'BRANCH', { name: 'main', hash: empty.hash });
    const kept = await appendRows(catalog, name, eventRows(100, 20), 'keep');
    const small = [
      ...(await appendRows(catalog, name, eventRows(0, 20))),
      ...(await appendRows(catalog, name, eventRows(20, 20))),
    ];
    const main = await catalog.client.getReference('main');
    await catalog.client.createReference('doomed', 'BRANCH', { name: 'main', hash: main.hash });
    const branchFiles = await appendRows(catalog, name, eventRows(200, 20), 'doomed');
    const doomed = await catalog.client.getReference('doomed');
    await catalog.client.deleteReference('doomed', 'BRANCH', doomed.hash);
    const aborted = await writeRows(catalog.io, (await loadTable(catalog, 'main', name))!.metadata, eventRows(300, 20));
    expect((await compactTable(catalog, name, { log: silentLogger, options: { 'rewrite-all': 'true' } })).outcome).toBe(
      'committed',
    );
    expect((await expireTable(catalog, name, { log: silentLogger, maxSnapshotAgeMs: 0 })).outcome).toBe('committed');
    const deadletter = `${catalog.warehouse}deadletter/2026-11-22/1-x.json`;
    const report = `${catalog.warehouse}_floe/maintenance/old-orphans.json`;
    await catalog.io.write(deadletter, '{}');
    await catalog.io.write(report, '{}');
    const before = await catalogState(catalog);

    // within the grace period nothing goes
    const young = await removeOrphanFiles(catalog);
    expect(young.deleted).toBe(0);
    expect(young.orphans).toEqual([]);
    expect(young.young).toBeGreaterThan(0);

    const gone = [...small, ...branchFiles, ...aborted].map((f) => f.filePath);
    const dry = await removeOrphanFiles(catalog, { now: later(4), dryRun: true });
    expect(dry.orphans.map((o) => o.location)).toEqual(expect.arrayContaining(gone));
    expect(dry.orphans.every((o) => o.size > 0)).toBe(true);
    expect(dry.deleted).toBe(0);
    for (const f of gone) expect(await exists(catalog, f)).toBe(true);

    const result = await removeOrphanFiles(catalog, { now: later(4) });
    expect(result.errors).toEqual([]);
    expect(result.deleted).toBe(dry.orphans.length);
    expect(result.deletedBytes).toBe(dry.orphanBytes);
    for (const f of gone) expect(await exists(catalog, f)).toBe(false);
    for (const f of kept) expect(await exists(catalog, f.filePath)).toBe(true);
    for (const f of await referencedFiles(catalog)) expect(await exists(catalog, f), f).toBe(true);
    expect(await exists(catalog, deadletter)).toBe(true);
    expect(await exists(catalog, report)).toBe(true);
    expect(await catalogState(catalog)).toEqual(before);

    expect((await removeOrphanFiles(catalog, { now: later(4) })).orphans).toEqual([]);
  });

  it('keeps claim-check blobs a live row references and removes the others', async () => {
    const { catalog, config } = env;
    const tagging = { config, io: catalog.io, warehouse: catalog.warehouse };
    const bytes = (n: number) => Uint8Array.from({ length: 2048 }, (_, i) => (i * n) % 251);
    const published = await storeBlob(tagging, 'parking_entry', bytes(1), 'image/jpeg');
    const onDeletedBranch = await storeBlob(tagging, 'parking_entry', bytes(2), 'image/jpeg');
    const neverWritten = await storeBlob(tagging, 'parking_entry', bytes(3), 'image/jpeg');
    const onLiveBranch = await storeBlob(tagging, 'parking_entry', bytes(4), 'image/jpeg');

    expect((await publish(env.wap, [entry(0, 0, { image: published }), entry(0, 1)])).kind).toBe('published');
    const stale = await writeBatch(env.wap, 'parking-entry', [entry(1, 0, { image: onDeletedBranch })]);
    await catalog.client.deleteReference(stale.branch, 'BRANCH', stale.hash);
    const pending = await auditBatch(
      env.wap,
      await writeBatch(env.wap, 'parking-entry', [entry(2, 0, { image: onLiveBranch })]),
    );

    const result = await removeOrphanFiles(catalog, { now: later(4) });
    expect(result.errors).toEqual([]);
    expect(result.blobFilesRead).toBeGreaterThan(0);
    expect(await exists(catalog, published.uri)).toBe(true);
    expect(await exists(catalog, onLiveBranch.uri)).toBe(true);
    expect(await exists(catalog, onDeletedBranch.uri)).toBe(false);
    expect(await exists(catalog, neverWritten.uri)).toBe(false);
    const rows = await rowsAt(catalog, 'main', PRODUCTION);
    expect(rows.find((r) => r[Column.offset] === 0n && r[Column.partition] === 0)!.image).toMatchObject({
      uri: published.uri,
    });
    const pendingRows = (await rowsAt(catalog, pending.branch, PRODUCTION)).filter((r) => r[Column.partition] === 2);
    expect(pendingRows.map((r) => (r.image as { uri: string }).uri)).toEqual([onLiveBranch.uri]);
  });
});

describe('orphan cleanup on a table whose metadata says s3a://', () => {
  let env: TestEnv;
  let copy: string;
  beforeAll(async () => {
    env = await startEnv('floe-orphans-s3a', {
      storage: async (dir) => {
        copy = `${dir}/bunnies`;
        await cp(`${ICEBERG_FIXTURES}/icebird/hyperparam-iceberg/java/bunnies`, copy, { recursive: true });
        return {
          warehouse: `file://${dir}/warehouse/`,
          io: createFileIO({
            localFiles: true,
            maps: [
              { from: 's3a://hyperparam-iceberg/java/bunnies/', to: `file://${copy}/` },
              { from: 's3://hyperparam-iceberg/java/bunnies/', to: `file://${copy}/` },
              { from: 's3://elsewhere/java/bunnies/', to: `file://${copy}/` },
            ],
          }),
        };
      },
    });
    const main = await env.catalog.client.getReference('main');
    await env.catalog.client.commit('main', main.hash, { message: 'register the Java table' }, [
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
          metadataLocation: 's3a://hyperparam-iceberg/java/bunnies/metadata/v5.metadata.json',
          snapshotId: 9158179788527662767n,
          schemaId: 0,
          specId: 0,
          sortOrderId: 0,
        },
      },
    ]);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('treats s3a and s3 as one scheme and a different bucket as a conflict that deletes nothing', async () => {
    await writeFile(`${copy}/data/orphan.parquet`, 'x');
    const rows = await rowsAt(env.catalog, 'main', 'fixtures.bunnies');

    const conflicting = await removeOrphanFiles(env.catalog, {
      location: 's3://elsewhere/java/bunnies/',
      now: later(4),
    });
    expect(conflicting.conflicts.length).toBeGreaterThan(0);
    expect(conflicting.errors.at(-1)).toMatch(/nothing was deleted/);
    expect(conflicting.deleted).toBe(0);
    expect(conflicting.conflicts[0].referencedAs[0]).toMatch(/^s3:\/\/hyperparam-iceberg\//);

    const result = await removeOrphanFiles(env.catalog, {
      location: 's3://hyperparam-iceberg/java/bunnies/',
      now: later(4),
    });
    expect(result.errors).toEqual([]);
    // v1–v4 are in v5's metadata log and version-hint.text is the table's, so only the stray file is an orphan
    expect(result.orphans.map((o) => o.location)).toEqual(['s3://hyperparam-iceberg/java/bunnies/data/orphan.parquet']);
    expect(result.deleted).toBe(1);
    expect(await rowsAt(env.catalog, 'main', 'fixtures.bunnies')).toEqual(rows);
  });
});

describe('orphan cleanup over random histories (property)', () => {
  const TABLES = ['db.a', 'db.b'];

  async function history(env: TestEnv, seed: number): Promise<string[]> {
    const { catalog } = env;
    const random = prng(seed);
    const aborted: string[] = [];
    let nextId = 0;
    const rows = () => eventRows((nextId += 50) - 50, 10 + random.int(20));
    await createEventsTable(catalog, TABLES[0]);
    const branches = async () => (await catalog.client.listReferences()).filter((r) => r.type === 'BRANCH');
    const tags = async () => (await catalog.client.listReferences()).filter((r) => r.type === 'TAG');
    const tablesOn = async (ref: string) =>
      (await catalog.client.listEntries(ref)).value
        .filter((e) => e.type === 'ICEBERG_TABLE')
        .map((e) => e.name.elements.join('.'));
    let n = 0;

    for (let step = 0; step < 24; step++) {
      const branch = random.pick(await branches()).name;
      const tables = await tablesOn(branch);
      const table = random.pick(tables);
      switch (random.int(9)) {
        case 0:
        case 1:
          await appendRows(catalog, table, rows(), branch);
          break;
        case 2: {
          const missing = TABLES.find((t) => !tables.includes(t));
          if (missing) await createEventsTable(catalog, missing, {}, branch);
          await appendRows(catalog, missing ?? table, rows(), branch);
          break;
        }
        case 3: {
          const from = await catalog.client.getReference(branch);
          await catalog.client.createReference(`b${seed}-${n++}`, 'BRANCH', { name: branch, hash: from.hash });
          break;
        }
        case 4: {
          const victim = random.pick(await branches());
          if (victim.name !== 'main') await catalog.client.deleteReference(victim.name, 'BRANCH', victim.hash);
          break;
        }
        case 5: {
          const existing = await tags();
          if (existing.length && random.int(2)) {
            const tag = random.pick(existing);
            await catalog.client.deleteReference(tag.name, 'TAG', tag.hash);
          } else {
            const from = await catalog.client.getReference(branch);
            await catalog.client.createReference(`t${seed}-${n++}`, 'TAG', { name: branch, hash: from.hash });
          }
          break;
        }
        case 6: {
          // compaction on any branch (main through the compactor, others through the same Iceberg steps)
          if (branch === 'main') {
            await compactTable(catalog, table, { log: silentLogger, options: { 'rewrite-all': 'true' } });
            break;
          }
          const loaded = (await loadTable(catalog, branch, table))!;
          const plan = await planRewriteDataFiles(loaded.metadata, {
            io: catalog.io,
            settings: binPackSettings(loaded.metadata, { 'rewrite-all': 'true' }),
          });
          if (!plan.groups.length) break;
          const added = (
            await Promise.all(plan.groups.map((g) => rewriteFileGroup(catalog.io, loaded.metadata, plan, g)))
          ).flat();
          await commitOnBranch(
            catalog,
            branch,
            new Map([[table, replaceDataFiles(plan, plan.groups, added, { io: catalog.io })]]),
            { message: 'compact' },
          );
          break;
        }
        case 7:
          if (branch === 'main') await expireTable(catalog, table, { log: silentLogger, maxSnapshotAgeMs: 0 });
          else
            await commitOnBranch(catalog, branch, new Map([[table, expireSnapshots({ maxSnapshotAgeMs: 0 })]]), {
              message: 'expire',
            });
          if (branch === 'main' && random.int(2)) await rewriteTableManifests(catalog, table, { log: silentLogger });
          break;
        default: {
          const metadata = (await loadTable(catalog, branch, table))!.metadata;
          aborted.push(...(await writeRows(catalog.io, metadata, rows())).map((f) => f.filePath));
        }
      }
    }
    return aborted;
  }

  for (const seed of [11, 23, 37]) {
    it(`never removes what a branch or tag reaches (seed ${seed})`, async () => {
      const env = await startEnv(`floe-orphans-${seed}`);
      try {
        const aborted = await history(env, seed);
        const referenced = await referencedFiles(env.catalog);
        const before = await catalogState(env.catalog);
        const listed = (await collect(env.catalog.io.list(env.catalog.warehouse))).length;

        const result = await removeOrphanFiles(env.catalog, { olderThanMs: 0, now: later(0.001) });
        expect(result.errors).toEqual([]);
        expect(result.listed).toBe(listed);
        for (const f of referenced) expect(await exists(env.catalog, f), `${f} (seed ${seed})`).toBe(true);
        for (const f of aborted) expect(await exists(env.catalog, f), `${f} (seed ${seed})`).toBe(false);
        expect(result.deleted).toBe(result.orphans.length);
        expect(result.deleted).toBeGreaterThanOrEqual(aborted.length);
        expect(await catalogState(env.catalog)).toEqual(before);
        expect((await removeOrphanFiles(env.catalog, { olderThanMs: 0, now: later(0.001) })).deleted).toBe(0);
      } finally {
        await env.stop();
      }
    });
  }
});
