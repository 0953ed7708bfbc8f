/**
 * Snapshot producers: each returns a `TableUpdate` for the commit path (`commit.ts`) that builds a new snapshot on
 * whatever base it is given, so a conflict can be resolved by re-applying it. Snapshot id and commit UUID are fixed
 * per operation (as in Java); manifests of added files are written once and reused across attempts (their entries
 * inherit sequence numbers); the manifest list is rewritten per attempt.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FileIO } from '../storage/file-io.ts';
import { ValidationError, type TableUpdate } from './commit.ts';
import { readManifest, writeManifest, summarizeManifest } from './manifest.ts';
import { ManifestMerger } from './manifest-merge.ts';
import { readManifestList, writeManifestList } from './manifest-list.ts';
import { ancestors, currentSchema, snapshotForRef, specById } from './metadata.ts';
import { buildSummary } from './summary.ts';
import {
  EntryStatus,
  FileContent,
  ManifestContent,
  type DataFile,
  type ManifestEntry,
  type ManifestFile,
  type Operation,
  type Snapshot,
  type TableMetadata,
} from './types.ts';

/** A random positive 63-bit snapshot id. */
export function newSnapshotId(): bigint {
  return randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn || 1n;
}

export type SummaryProperties =
  Record<string, string> | ((parent: Snapshot | undefined, base: TableMetadata) => Record<string, string>);

interface ProducerOptions {
  io: FileIO;
  /** Iceberg branch inside the table metadata; Nessie-managed tables always use `main`. */
  branch?: string;
  /** Extra summary keys, possibly derived from the parent snapshot (e.g. merged Kafka offset ranges). */
  summary?: SummaryProperties;
  /** Summary keys (by prefix) that hold state: copied from the nearest ancestor that has them unless `summary` sets them. */
  carrySummaryPrefixes?: string[];
  /**
   * Merge manifests on commit (Java `MergeAppend` and the other merging producers) under the table's
   * `commit.manifest-merge.enabled` / `min-count-to-merge` / `target-size-bytes`. Default true; false keeps every
   * existing manifest as it is (Java `FastAppend`).
   */
  mergeManifests?: boolean;
  now?: () => number;
}

export async function readManifestFiles(io: FileIO, snapshot: Snapshot | undefined): Promise<ManifestFile[]> {
  if (!snapshot) return [];
  return readManifestList(await io.read(snapshot.manifestList), snapshot.manifestList);
}

/** Entries of one manifest with inherited snapshot ids and sequence numbers resolved. */
export async function readManifestEntries(
  io: FileIO,
  manifest: ManifestFile,
  metadata?: TableMetadata,
): Promise<ManifestEntry[]> {
  return readManifest(await io.read(manifest.manifestPath), manifest.manifestPath, {
    manifestFile: manifest,
    ...(metadata
      ? { specsById: new Map(metadata.partitionSpecs.map((s) => [s.specId, s])), schema: currentSchema(metadata) }
      : {}),
  }).entries;
}

/** Where a table's manifests and manifest lists go (`write.metadata.path`, else `<location>/metadata`). */
export function metadataDir(base: TableMetadata): string {
  return base.properties['write.metadata.path'] ?? `${base.location}/metadata`;
}

function partitionKey(file: DataFile): string {
  return `${file.specId}:${file.partition.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v))).join('/')}`;
}

/** Writes one manifest per partition spec for `entries`; their list entries leave the sequence numbers to the list writer. */
async function writeManifests(
  io: FileIO,
  base: TableMetadata,
  snapshotId: bigint,
  commitId: string,
  counter: { n: number },
  entries: ManifestEntry[],
  content: ManifestContent,
  merger?: ManifestMerger,
): Promise<ManifestFile[]> {
  const bySpec = new Map<number, ManifestEntry[]>();
  for (const entry of entries) {
    const list = bySpec.get(entry.dataFile.specId) ?? [];
    list.push(entry);
    bySpec.set(entry.dataFile.specId, list);
  }
  const out: ManifestFile[] = [];
  for (const [specId, specEntries] of bySpec) {
    const spec = specById(base, specId);
    const schema = currentSchema(base);
    const bytes = writeManifest({ spec, schema, formatVersion: 2, content, entries: specEntries, snapshotId });
    const location = `${metadataDir(base)}/${commitId}-m${counter.n++}.avro`;
    await io.write(location, bytes);
    const manifest = summarizeManifest({
      path: location,
      length: bytes.byteLength,
      spec,
      schema,
      content,
      snapshotId,
      entries: specEntries,
    });
    merger?.written(manifest, specEntries);
    out.push(manifest);
  }
  return out;
}

/** Writes the manifest list of a new snapshot and makes it the branch head: the last step of every producer. */
export async function finishSnapshot(
  io: FileIO,
  base: TableMetadata,
  branch: string,
  parent: Snapshot | undefined,
  snapshotId: bigint,
  commitId: string,
  attempt: number,
  manifests: ManifestFile[],
  summary: Record<string, string>,
  nowMs: number,
): Promise<TableMetadata> {
  const sequenceNumber = base.lastSequenceNumber + 1;
  const manifestList = `${metadataDir(base)}/snap-${snapshotId}-${attempt}-${commitId}.avro`;
  await io.write(
    manifestList,
    writeManifestList({
      snapshotId,
      parentSnapshotId: parent?.snapshotId,
      sequenceNumber,
      formatVersion: 2,
      manifests,
    }),
  );
  const snapshot: Snapshot = {
    snapshotId,
    ...(parent ? { parentSnapshotId: parent.snapshotId } : {}),
    sequenceNumber,
    timestampMs: nowMs,
    manifestList,
    summary,
    schemaId: base.currentSchemaId,
  };
  const isMain = branch === 'main';
  return {
    ...base,
    lastSequenceNumber: sequenceNumber,
    lastUpdatedMs: nowMs,
    snapshots: [...base.snapshots, snapshot],
    refs: { ...base.refs, [branch]: { ...(base.refs[branch] ?? { type: 'branch' }), snapshotId } },
    ...(isMain
      ? { currentSnapshotId: snapshotId, snapshotLog: [...base.snapshotLog, { timestampMs: nowMs, snapshotId }] }
      : {}),
  };
}

function resolveSummary(
  summary: SummaryProperties | undefined,
  parent: Snapshot | undefined,
  base: TableMetadata,
): Record<string, string> {
  return typeof summary === 'function' ? summary(parent, base) : (summary ?? {});
}

export interface AppendOptions extends ProducerOptions {
  /** Data files to add; a function is re-evaluated on every attempt against the fresh base. */
  files: DataFile[] | ((base: TableMetadata, parent: Snapshot | undefined) => Promise<DataFile[]> | DataFile[]);
}

/**
 * Append: one new manifest per spec holding the added files, then the snapshot's manifests merged as Java's
 * `MergeAppend` does (`manifest-merge.ts`); with `mergeManifests: false` existing manifests are kept as they are
 * (Java `FastAppend`).
 */
export function appendFiles(options: AppendOptions): TableUpdate {
  const snapshotId = newSnapshotId();
  const commitId = randomUUID();
  const counter = { n: 0 };
  const branch = options.branch ?? 'main';
  const now = options.now ?? Date.now;
  const merger = new ManifestMerger(options.io);
  let cached: { key: string; manifests: ManifestFile[] } | undefined;

  return async (base, attempt) => {
    if (!base) throw new ValidationError('cannot append to a table that does not exist');
    const parent = snapshotForRef(base, branch);
    const files = typeof options.files === 'function' ? await options.files(base, parent) : options.files;
    if (!files.length) return base;
    if (files.some((f) => f.content !== FileContent.DATA)) throw new ValidationError('append takes data files only');
    const key = files.map((f) => f.filePath).join('\n');
    if (cached?.key !== key) {
      const entries = files.map((dataFile): ManifestEntry => ({ status: EntryStatus.ADDED, snapshotId, dataFile }));
      cached = {
        key,
        manifests: await writeManifests(
          options.io,
          base,
          snapshotId,
          commitId,
          counter,
          entries,
          ManifestContent.DATA,
          merger,
        ),
      };
    }
    const manifests = await mergeIfEnabled(options, merger, base, snapshotId, commitId, counter, [
      ...cached.manifests,
      ...(await readManifestFiles(options.io, parent)),
    ]);
    const summary = buildSummary({
      operation: 'append',
      added: files,
      removed: [],
      previous: parent,
      changedPartitions: new Set(files.map(partitionKey)).size,
      properties: resolveSummary(options.summary, parent, base),
      carryPrefixes: options.carrySummaryPrefixes,
      ...(options.carrySummaryPrefixes ? { carryFrom: ancestors(base, parent?.snapshotId) } : {}),
    });
    return finishSnapshot(options.io, base, branch, parent, snapshotId, commitId, attempt, manifests, summary, now());
  };
}

function mergeIfEnabled(
  options: ProducerOptions,
  merger: ManifestMerger,
  base: TableMetadata,
  snapshotId: bigint,
  commitId: string,
  counter: { n: number },
  manifests: ManifestFile[],
): Promise<ManifestFile[]> | ManifestFile[] {
  if (options.mergeManifests === false) return manifests;
  return merger.merge(
    {
      io: options.io,
      base,
      snapshotId,
      newManifestPath: () => `${metadataDir(base)}/${commitId}-m${counter.n++}.avro`,
    },
    manifests,
  );
}

export interface RewriteOptions extends ProducerOptions {
  /** `replace` for compaction (no logical change), `overwrite`/`delete` for logical changes. */
  operation: Extract<Operation, 'replace' | 'overwrite' | 'delete'>;
  /** Paths of data files to remove; each must still be live at commit time. */
  deleted: string[];
  added: DataFile[];
  /** The snapshot the rewrite was planned from: new delete files committed since then fail the rewrite. */
  validateFromSnapshotId?: bigint;
  /** Data sequence number for added files (compaction keeps the starting snapshot's, as Java does). */
  dataSequenceNumber?: number;
}

/**
 * Replaces files: affected manifests are rewritten in place with DELETED/EXISTING entries, added files get a new
 * manifest in front, and the result is merged like an append (Java's `BaseRewriteFiles` is a merging producer too).
 */
export function rewriteFiles(options: RewriteOptions): TableUpdate {
  const snapshotId = newSnapshotId();
  const commitId = randomUUID();
  const branch = options.branch ?? 'main';
  const now = options.now ?? Date.now;
  const toDelete = new Set(options.deleted);
  const merger = new ManifestMerger(options.io);
  // Across attempts, so that every manifest written has its own path (the merge cache is keyed by paths).
  const counter = { n: 0 };
  let previous: ManifestFile[] = [];

  return async (base, attempt) => {
    if (!base) throw new ValidationError('cannot rewrite files of a table that does not exist');
    if (!toDelete.size && !options.added.length) return base;
    const parent = snapshotForRef(base, branch);
    validateNoNewDeletes(base, parent, options.validateFromSnapshotId);
    // A new attempt means the last one was not committed: what it wrote is garbage.
    if (previous.length) await options.io.deleteMany(previous.map((m) => m.manifestPath)).catch(() => undefined);
    previous = [];
    const filtered: ManifestFile[] = [];
    const removed: DataFile[] = [];
    const found = new Set<string>();

    for (const manifest of await readManifestFiles(options.io, parent)) {
      if (manifest.content !== ManifestContent.DATA) {
        filtered.push(manifest);
        continue;
      }
      const entries = await readManifestEntries(options.io, manifest, base);
      const live = entries.filter((e) => e.status !== EntryStatus.DELETED);
      if (!live.some((e) => toDelete.has(e.dataFile.filePath))) {
        filtered.push(manifest);
        continue;
      }
      const rewritten = live.map((e): ManifestEntry => {
        const explicit = {
          snapshotId: e.snapshotId,
          sequenceNumber: e.sequenceNumber,
          fileSequenceNumber: e.fileSequenceNumber,
          dataFile: e.dataFile,
        };
        if (!toDelete.has(e.dataFile.filePath)) return { ...explicit, status: EntryStatus.EXISTING };
        found.add(e.dataFile.filePath);
        removed.push(e.dataFile);
        return { ...explicit, status: EntryStatus.DELETED, snapshotId };
      });
      const written = await writeManifests(
        options.io,
        base,
        snapshotId,
        commitId,
        counter,
        rewritten,
        ManifestContent.DATA,
        merger,
      );
      previous.push(...written);
      filtered.push(...written);
    }
    const missing = [...toDelete].filter((path) => !found.has(path));
    if (missing.length) {
      throw new ValidationError(
        `${missing.length} file(s) to replace are no longer live (concurrently rewritten or deleted), e.g. ${missing[0]}`,
      );
    }
    const added: ManifestFile[] = [];
    if (options.added.length) {
      const entries = options.added.map((dataFile): ManifestEntry => ({
        status: EntryStatus.ADDED,
        snapshotId,
        dataFile,
        ...(options.dataSequenceNumber !== undefined ? { sequenceNumber: options.dataSequenceNumber } : {}),
      }));
      added.push(
        ...(await writeManifests(
          options.io,
          base,
          snapshotId,
          commitId,
          counter,
          entries,
          ManifestContent.DATA,
          merger,
        )),
      );
      previous.push(...added);
    }
    const summary = buildSummary({
      operation: options.operation,
      added: options.added,
      removed,
      previous: parent,
      changedPartitions: new Set([...options.added, ...removed].map(partitionKey)).size,
      properties: resolveSummary(options.summary, parent, base),
      carryPrefixes: options.carrySummaryPrefixes,
      ...(options.carrySummaryPrefixes ? { carryFrom: ancestors(base, parent?.snapshotId) } : {}),
    });
    const manifests = await mergeIfEnabled(options, merger, base, snapshotId, commitId, counter, [
      ...added,
      ...filtered,
    ]);
    return finishSnapshot(options.io, base, branch, parent, snapshotId, commitId, attempt, manifests, summary, now());
  };
}

/** Fails when delete files were committed after the snapshot a rewrite was planned from (they might target it). */
function validateNoNewDeletes(
  base: TableMetadata,
  parent: Snapshot | undefined,
  fromSnapshotId: bigint | undefined,
): void {
  if (fromSnapshotId === undefined) return;
  for (const snapshot of ancestors(base, parent?.snapshotId)) {
    if (snapshot.snapshotId === fromSnapshotId) return;
    if (Number(snapshot.summary['added-delete-files'] ?? 0) > 0) {
      throw new ValidationError(
        `snapshot ${snapshot.snapshotId} added delete files after the rewrite was planned; re-plan it`,
      );
    }
  }
}
