/**
 * Iceberg tables on the embedded Nessie, through the one commit path: 8 writers appending to one table on one
 * branch, and 8 WAP branches merged into main (Nessie merge, or an Iceberg-level rebase when main moved) while
 * others keep appending — no snapshot lost, every row visible exactly once on main.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import {
  commitOnBranch,
  loadTable,
  newTableLocation,
  tableKey,
  type Catalog,
} from '../../shared/catalog/table-catalog.ts';
import { ancestors, newTableMetadata, snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import type { DataFile, Schema, TableMetadata } from '../../shared/iceberg/types.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const schema: Schema = {
  type: 'struct',
  schemaId: 0,
  fields: [
    { id: 1, name: 'id', required: true, type: 'string' },
    { id: 2, name: 'writer', required: true, type: 'int' },
  ],
};
const TABLE = 'db.events';

let tmp: { dir: string; cleanup(): Promise<void> };
let nessie: { uri: string; stop(): Promise<void> };
let catalog: Catalog;

beforeAll(async () => {
  tmp = await tempDir('floe-iceberg-nessie');
  nessie = await startNessieServer({ port: 0, dataDir: `${tmp.dir}/nessie` });
  catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: `file://${tmp.dir}/warehouse/`,
  };
  const location = newTableLocation(catalog.warehouse, TABLE);
  await commitOnBranch(
    catalog,
    'main',
    new Map([[TABLE, async (base) => base ?? newTableMetadata({ location, schema })]]),
    { message: 'create db.events' },
  );
});
afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

async function append(branch: string, writer: number, ids: string[]): Promise<void> {
  const table = (await loadTable(catalog, branch, TABLE))!;
  const files = await writeRows(
    catalog.io,
    table.metadata,
    ids.map((id) => ({ id, writer })),
  );
  const result = await commitOnBranch(
    catalog,
    branch,
    new Map([[TABLE, appendFiles({ io: catalog.io, files })]]),
    { message: `append ${ids.length} rows` },
    { retries: 50, minWaitMs: 5, maxWaitMs: 200 },
  );
  expect(result.hash).toBeDefined();
}

/** The data files a branch's table gained since it was cut from main (snapshots not in main's ancestry at the cut). */
async function gainedFiles(branchTable: TableMetadata, baseSnapshot: bigint | undefined): Promise<DataFile[]> {
  const files: DataFile[] = [];
  for (const snapshot of ancestors(branchTable, snapshotForRef(branchTable, 'main')?.snapshotId)) {
    if (snapshot.snapshotId === baseSnapshot) break;
    for (const manifest of await readManifestFiles(catalog.io, snapshot)) {
      if (manifest.addedSnapshotId !== snapshot.snapshotId) continue;
      for (const entry of await readManifestEntries(catalog.io, manifest, branchTable)) {
        if (entry.status === 1 && entry.snapshotId === snapshot.snapshotId) files.push(entry.dataFile);
      }
    }
  }
  return files;
}

/** Publishes a branch: a Nessie merge when main did not touch the table, else re-append its files onto main (CAS). */
async function publish(branch: string, baseSnapshot: bigint | undefined): Promise<'merge' | 'rebase'> {
  const head = await catalog.client.getReference(branch);
  const main = await catalog.client.getReference('main');
  const merged = await catalog.client.merge('main', main.hash, {
    fromRefName: branch,
    fromHash: head.hash,
    returnConflictAsResult: true,
    commitMeta: { message: `merge ${branch}` },
  });
  if (merged.wasSuccessful && merged.wasApplied) return 'merge';
  expect(merged.details.some((d) => d.conflict?.conflictType === 'VALUE_DIFFERS')).toBe(true);
  const files = await gainedFiles((await loadTable(catalog, `${branch}@${head.hash}`, TABLE))!.metadata, baseSnapshot);
  await commitOnBranch(
    catalog,
    'main',
    new Map([[TABLE, appendFiles({ io: catalog.io, files })]]),
    { message: `rebase ${branch}` },
    { retries: 50, minWaitMs: 5, maxWaitMs: 200 },
  );
  return 'rebase';
}

describe('Iceberg on Nessie under concurrency', () => {
  it('8 writers appending to the same table on one branch lose no snapshot and no row', async () => {
    const ids = (w: number, round: number) => Array.from({ length: 10 }, (_, i) => `w${w}-r${round}-${i}`);
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let round = 0; round < 3; round++) await append('main', w, ids(w, round));
      }),
    );
    const table = (await loadTable(catalog, 'main', TABLE))!;
    expect(ancestors(table.metadata, table.metadata.currentSnapshotId)).toHaveLength(24);
    const rows = await scanRows(table.metadata, { io: catalog.io });
    expect(rows).toHaveLength(240);
    expect(new Set(rows.map((r) => r.id)).size).toBe(240);
    expect(table.metadata.snapshots.at(-1)!.summary['total-records']).toBe('240');
  });

  it('8 WAP branches merged into main while others append: every row exactly once', async () => {
    const before = (await loadTable(catalog, 'main', TABLE))!.metadata;
    const baseSnapshot = before.currentSnapshotId;
    const main = await catalog.client.getReference('main');
    const branches = Array.from({ length: 8 }, (_, b) => `wap/test/batch-${b}`);
    for (const branch of branches)
      await catalog.client.createReference(branch, 'BRANCH', { name: 'main', hash: main.hash });
    await Promise.all(
      branches.map((branch, b) =>
        append(
          branch,
          100 + b,
          Array.from({ length: 7 }, (_, i) => `b${b}-${i}`),
        ),
      ),
    );
    const [methods] = await Promise.all([
      Promise.all(branches.map((branch) => publish(branch, baseSnapshot))),
      Promise.all(
        Array.from({ length: 4 }, (_, w) =>
          append(
            'main',
            200 + w,
            Array.from({ length: 5 }, (_, i) => `late${w}-${i}`),
          ),
        ),
      ),
    ]);
    expect(methods.filter((m) => m === 'rebase').length).toBeGreaterThan(0);
    const rows = await scanRows((await loadTable(catalog, 'main', TABLE))!.metadata, { io: catalog.io });
    expect(rows).toHaveLength(240 + 8 * 7 + 4 * 5);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    // the Nessie key of the table kept its content id through merges and rebases
    const { value } = await catalog.client.getContent('main', tableKey(TABLE));
    expect(value.id).toBeDefined();
  });
});
