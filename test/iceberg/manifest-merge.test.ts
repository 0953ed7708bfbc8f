/**
 * Merge on append: the manifest count of a table stays bounded by `commit.manifest.min-count-to-merge` over many
 * appends, merged entries keep their snapshot ids and sequence numbers, compaction merges too, and floe's scan,
 * icebird and DuckDB read the same rows as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { icebergRead } from 'icebird';
import { DuckDBInstance } from '@duckdb/node-api';
import { fileCatalog } from '../../shared/catalog/file-catalog.ts';
import { readAvroHeader } from '../../shared/iceberg/avro.ts';
import { commitTable, type TableState } from '../../shared/iceberg/commit.ts';
import { manifestEntryAvroSchema } from '../../shared/iceberg/manifest.ts';
import { manifestMergeSettings, packEnd } from '../../shared/iceberg/manifest-merge.ts';
import { currentSchema, newTableMetadata, snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { appendFiles, readManifestEntries, readManifestFiles, rewriteFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import {
  EntryStatus,
  type ManifestEntry,
  type ManifestFile,
  type PartitionSpec,
  type Schema,
  type TableMetadata,
} from '../../shared/iceberg/types.ts';
import type { FileIO } from '../../shared/storage/index.ts';
import {
  appendRows,
  createTable,
  metadataFileName,
  startHttpWarehouse,
  type HttpWarehouse,
} from '../helpers/http-warehouse.ts';
import { decodeWithAvsc } from './avro-fixtures.ts';

const schema: Schema = {
  type: 'struct',
  schemaId: 0,
  fields: [
    { id: 1, name: 'id', required: true, type: 'long' },
    { id: 2, name: 'car', required: false, type: 'string' },
    { id: 3, name: 'x', required: false, type: 'double' },
  ],
};
const spec: PartitionSpec = {
  specId: 0,
  fields: [{ sourceId: 1, fieldId: 1000, name: 'id_bucket', transform: 'bucket[2]' }],
};
const MIN_COUNT = 4;

let wh: HttpWarehouse;
let io: FileIO;
let warehouse: string;

beforeAll(async () => {
  wh = await startHttpWarehouse('floe-merge');
  ({ io, warehouse } = wh);
});
afterAll(() => wh?.close());

const rowsOf = (from: number, n: number) =>
  Array.from({ length: n }, (_, k) => ({ id: BigInt(from + k), car: `car-${(from + k) % 7}`, x: (from + k) / 4 }));
const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => Number((a.id as bigint) - (b.id as bigint));

async function manifestsOf(metadata: TableMetadata): Promise<ManifestFile[]> {
  return readManifestFiles(io, snapshotForRef(metadata, 'main'));
}

async function entriesOf(metadata: TableMetadata): Promise<{ manifest: ManifestFile; entry: ManifestEntry }[]> {
  const out: { manifest: ManifestFile; entry: ManifestEntry }[] = [];
  for (const manifest of await manifestsOf(metadata))
    for (const entry of await readManifestEntries(io, manifest, metadata)) out.push({ manifest, entry });
  return out;
}

describe('packEnd (Java ListPacker, lookback 1, packing from the end)', () => {
  it('fills bins from the last item so only the first bin is under-filled, keeping the order', () => {
    expect(packEnd([1, 2, 3, 4, 5], (n) => n, 6)).toEqual([[1, 2, 3], [4], [5]]);
    expect(packEnd([1, 1, 1, 1, 1], (n) => n, 2)).toEqual([[1], [1, 1], [1, 1]]);
    expect(packEnd([9, 1, 1], (n) => n, 4)).toEqual([[9], [1, 1]]);
    expect(packEnd([], (n: number) => n, 4)).toEqual([]);
  });

  it("reads the table's settings with Iceberg's defaults", () => {
    const metadata = newTableMetadata({ location: 'file:///t', schema, spec });
    expect(manifestMergeSettings(metadata)).toEqual({
      enabled: true,
      minCountToMerge: 100,
      targetSizeBytes: 8 * 1024 * 1024,
    });
    expect(() =>
      manifestMergeSettings({ ...metadata, properties: { 'commit.manifest.min-count-to-merge': 'many' } }),
    ).toThrow(/min-count-to-merge='many'/);
  });
});

describe('merge on append', () => {
  const name = 'db.merged';
  const expected: Record<string, unknown>[] = [];
  let state: TableState;
  /** Snapshot id and sequence number of the snapshot that added each file. */
  const addedBy = new Map<string, { snapshotId: bigint; sequenceNumber: number }>();

  it(`keeps the manifest count below min-count-to-merge (${MIN_COUNT}) over 20 appends`, async () => {
    state = await createTable(wh, name, schema, spec, { 'commit.manifest.min-count-to-merge': String(MIN_COUNT) });
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = rowsOf(i * 10, 10);
      expected.push(...batch);
      const appended = await appendRows(wh, name, state, batch, { 'kafka.offsets': `0:${i}` });
      const files = appended.files;
      state = appended.state;
      const snapshot = state.metadata.snapshots.at(-1)!;
      for (const f of files)
        addedBy.set(f.filePath, { snapshotId: snapshot.snapshotId, sequenceNumber: snapshot.sequenceNumber });
      counts.push((await manifestsOf(state.metadata)).length);
      expect(snapshot.summary['kafka.offsets']).toBe(`0:${i}`);
    }
    expect(Math.max(...counts)).toBeLessThan(MIN_COUNT);
    expect(counts.slice(0, 3)).toEqual([1, 2, 3]); // the first bins stay below min-count: nothing merged yet
    expect(Number(state.metadata.snapshots.at(-1)!.summary['total-data-files'])).toBe(addedBy.size);
    expect((await scanRows(state.metadata, { io })).sort(byId)).toEqual([...expected].sort(byId));
  });

  it('keeps every entry its own snapshot id and data/file sequence numbers; only the newest files are ADDED', async () => {
    const head = state.metadata.snapshots.at(-1)!;
    const all = await entriesOf(state.metadata);
    let merged = 0;
    expect(all.map((e) => e.entry.dataFile.filePath).sort()).toEqual([...addedBy.keys()].sort());
    for (const { manifest, entry } of all) {
      const origin = addedBy.get(entry.dataFile.filePath)!;
      expect(entry.snapshotId).toBe(origin.snapshotId);
      expect(entry.sequenceNumber).toBe(origin.sequenceNumber);
      expect(entry.fileSequenceNumber).toBe(origin.sequenceNumber);
      // ADDED in the manifest its snapshot wrote, EXISTING once merged into a later snapshot's manifest
      expect(entry.status).toBe(
        manifest.addedSnapshotId === origin.snapshotId ? EntryStatus.ADDED : EntryStatus.EXISTING,
      );
      if (entry.status === EntryStatus.EXISTING) merged++;
      expect(manifest.minSequenceNumber).toBeLessThanOrEqual(origin.sequenceNumber);
    }
    expect(merged).toBeGreaterThan(all.length / 2);
    expect(
      all.filter((e) => e.entry.snapshotId === head.snapshotId).every((e) => e.entry.status === EntryStatus.ADDED),
    ).toBe(true);
    const mergedManifest = (await manifestsOf(state.metadata)).find((m) => m.existingFilesCount > 0)!;
    // the merged manifest is a v2 manifest as Java writes it: its schema, explicit ids and sequence numbers
    const bytes = await io.read(mergedManifest.manifestPath);
    const header = readAvroHeader(bytes, mergedManifest.manifestPath).metadata;
    expect(JSON.parse(header['avro.schema'])).toEqual(manifestEntryAvroSchema(spec, currentSchema(state.metadata)));
    expect(header['format-version']).toBe('2');
    const { records } = await decodeWithAvsc(bytes);
    for (const record of records as { status: number; snapshot_id: bigint; sequence_number: bigint | null }[]) {
      if (record.status === EntryStatus.EXISTING) expect(record.sequence_number).not.toBeNull();
      expect(record.snapshot_id).not.toBeNull();
    }
  });

  it('merges in a compaction too: DELETED entries of the replace snapshot only, every row kept', async () => {
    const catalog = fileCatalog(io, warehouse);
    const metadata = state.metadata;
    const before = [...addedBy.keys()];
    const all = await scanRows(metadata, { io });
    const replacement = await writeRows(io, metadata, all);
    state = await commitTable(
      catalog.port(),
      name,
      rewriteFiles({
        io,
        operation: 'replace',
        deleted: before,
        added: replacement,
        validateFromSnapshotId: metadata.currentSnapshotId,
        dataSequenceNumber: metadata.snapshots.at(-1)!.sequenceNumber,
      }),
      { io },
    );
    const replace = state.metadata.snapshots.at(-1)!;
    const entries = await entriesOf(state.metadata);
    const deleted = entries.filter((e) => e.entry.status === EntryStatus.DELETED);
    expect(deleted.map((e) => e.entry.dataFile.filePath).sort()).toEqual(before.sort());
    expect(deleted.every((e) => e.entry.snapshotId === replace.snapshotId)).toBe(true);
    const added = entries.filter((e) => e.entry.status === EntryStatus.ADDED);
    expect(added.map((e) => e.entry.sequenceNumber)).toEqual(
      replacement.map(() => metadata.snapshots.at(-1)!.sequenceNumber),
    );
    expect((await manifestsOf(state.metadata)).length).toBeLessThan(MIN_COUNT);
    expect((await scanRows(state.metadata, { io })).sort(byId)).toEqual([...expected].sort(byId));

    // later appends merge the replace snapshot's manifests again, dropping its DELETED entries
    for (let i = 0; i < MIN_COUNT; i++) {
      const batch = rowsOf(1000 + i * 5, 5);
      expected.push(...batch);
      ({ state } = await appendRows(wh, name, state, batch));
    }
    const later = await entriesOf(state.metadata);
    expect(later.filter((e) => e.entry.status === EntryStatus.DELETED).length).toBeLessThan(deleted.length);
    expect((await scanRows(state.metadata, { io })).sort(byId)).toEqual([...expected].sort(byId));
  });

  it('is read identically by icebird and DuckDB', async () => {
    const data = await icebergRead({ tableUrl: state.metadata.location, metadataFileName: metadataFileName(state) });
    expect(
      data.map((r: Record<string, unknown>) => ({ id: BigInt(r.id as bigint), car: r.car, x: r.x })).sort(byId),
    ).toEqual([...expected].sort(byId));
    const live = (await entriesOf(state.metadata)).filter((e) => e.entry.status !== EntryStatus.DELETED);
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const list = live.map((e) => `'${wh.localPath(e.entry.dataFile.filePath)}'`);
      const result = await connection.runAndReadAll(
        `select count(*)::INTEGER, sum(id)::BIGINT from read_parquet([${list.join(',')}])`,
      );
      const [n, sum] = result.getRows()[0];
      expect(n).toBe(expected.length);
      expect(BigInt(sum as bigint)).toBe(expected.reduce((s, r) => s + (r.id as bigint), 0n));
    } finally {
      connection.closeSync();
    }
  });

  it('keeps both changes of a lost race, with merged manifests re-planned on the new base', async () => {
    const catalog = fileCatalog(io, warehouse);
    const start = (await catalog.load(name))!;
    const a = rowsOf(2000, 3);
    const b = rowsOf(3000, 4);
    const [fa, fb] = await Promise.all([writeRows(io, start.metadata, a), writeRows(io, start.metadata, b)]);
    const retried: number[] = [];
    const options = { io, minWaitMs: 1, maxWaitMs: 5, onRetry: (n: number) => retried.push(n) };
    await Promise.all([
      commitTable(catalog.port(), name, appendFiles({ io, files: fa }), options),
      commitTable(catalog.port(), name, appendFiles({ io, files: fb }), options),
    ]);
    expected.push(...a, ...b);
    const after = (await catalog.load(name))!;
    expect((await scanRows(after.metadata, { io })).sort(byId)).toEqual([...expected].sort(byId));
    expect((await manifestsOf(after.metadata)).length).toBeLessThan(MIN_COUNT);
  });

  it('adds a manifest per commit when merging is disabled', async () => {
    const other = 'db.fast';
    let fast = await createTable(wh, other, schema, spec, {
      'commit.manifest.min-count-to-merge': '2',
      'commit.manifest-merge.enabled': 'false',
    });
    for (let i = 0; i < 5; i++) ({ state: fast } = await appendRows(wh, other, fast, rowsOf(i * 10, 10)));
    expect(await manifestsOf(fast.metadata)).toHaveLength(5);
  });
});
