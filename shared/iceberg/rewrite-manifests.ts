/**
 * Manifest rewrite (after Iceberg Java's `BaseRewriteManifests` and the Spark action): a writer that only
 * fast-appends adds one manifest per commit, so planning reads ever more small files. This merges a branch's small
 * data manifests of each partition spec into manifests of about `commit.manifest.target-size-bytes` (8 MiB), entries
 * clustered by partition, as a `replace` snapshot. Entries are rewritten as EXISTING with their snapshot ids and
 * sequence numbers (no data change). On a retry the manifests written are reused if every replaced manifest is still
 * in the fresh branch head; otherwise the rewrite is planned again on the new head.
 */
import { randomUUID } from 'node:crypto';
import type { FileIO } from '../storage/file-io.ts';
import { ValidationError, type TableUpdate } from './commit.ts';
import { summarizeManifest, writeManifest } from './manifest.ts';
import { ancestors, currentSchema, snapshotForRef, specById } from './metadata.ts';
import { finishSnapshot, metadataDir, newSnapshotId, readManifestEntries, readManifestFiles } from './snapshot.ts';
import { buildSummary } from './summary.ts';
import { EntryStatus, ManifestContent, type ManifestEntry, type ManifestFile, type TableMetadata } from './types.ts';
import { stringifyJson } from '../util/lossless-json.ts';

export const MANIFEST_TARGET_SIZE_PROPERTY = 'commit.manifest.target-size-bytes';
export const DEFAULT_MANIFEST_TARGET_SIZE = 8 * 1024 * 1024;

export interface RewriteManifestsOptions {
  io: FileIO;
  /** Default the table's `commit.manifest.target-size-bytes` (8 MiB). */
  targetSizeBytes?: number;
  branch?: string;
  /** Summary keys (by prefix) copied from the nearest ancestor that has them (floe's Kafka offsets). */
  carrySummaryPrefixes?: string[];
  summary?: Record<string, string>;
  now?: () => number;
  /** Called with the manifests replaced and written each time the rewrite is (re)planned. */
  onPlan?: (plan: ManifestRewrite) => void;
}

export interface ManifestRewrite {
  replaced: ManifestFile[];
  written: ManifestFile[];
  kept: ManifestFile[];
  entries: number;
}

export function manifestTargetSize(metadata: TableMetadata): number {
  const text = metadata.properties[MANIFEST_TARGET_SIZE_PROPERTY];
  const value = text === undefined ? DEFAULT_MANIFEST_TARGET_SIZE : Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new ValidationError(`table property ${MANIFEST_TARGET_SIZE_PROPERTY}='${text}' is not a positive number`);
  return value;
}

/** Per spec, the data manifests below the target size, when there are at least two to merge. */
export function smallManifests(manifests: ManifestFile[], targetSizeBytes: number): ManifestFile[][] {
  const bySpec = new Map<number, ManifestFile[]>();
  for (const m of manifests) {
    if (m.content !== ManifestContent.DATA || m.manifestLength >= targetSizeBytes) continue;
    const list = bySpec.get(m.partitionSpecId) ?? [];
    list.push(m);
    bySpec.set(m.partitionSpecId, list);
  }
  return [...bySpec.values()].filter((list) => list.length > 1);
}

function partitionOrder(entry: ManifestEntry): string {
  return stringifyJson(
    entry.dataFile.partition.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : (v ?? null))),
  );
}

/** Writes the merged manifests of one spec's small manifests. */
async function mergeManifests(
  options: RewriteManifestsOptions,
  base: TableMetadata,
  group: ManifestFile[],
  target: number,
  snapshotId: bigint,
  commitId: string,
  counter: { n: number },
): Promise<{ written: ManifestFile[]; entries: number }> {
  const live: ManifestEntry[] = [];
  let totalEntries = 0;
  for (const manifest of group) {
    const entries = await readManifestEntries(options.io, manifest, base);
    totalEntries += entries.length;
    for (const e of entries) {
      if (e.status === EntryStatus.DELETED) continue;
      live.push({
        status: EntryStatus.EXISTING,
        snapshotId: e.snapshotId,
        sequenceNumber: e.sequenceNumber,
        fileSequenceNumber: e.fileSequenceNumber,
        dataFile: e.dataFile,
      });
    }
  }
  const order = new Map(live.map((e) => [e, partitionOrder(e)]));
  live.sort((a, b) => (order.get(a)! < order.get(b)! ? -1 : order.get(a)! > order.get(b)! ? 1 : 0));
  // Entry size estimated from the inputs: the written size is known only after writing.
  const bytesPerEntry = group.reduce((s, m) => s + m.manifestLength, 0) / Math.max(1, totalEntries);
  const perManifest = Math.max(1, Math.floor(target / Math.max(1, bytesPerEntry)));
  const spec = specById(base, group[0].partitionSpecId);
  const schema = currentSchema(base);
  const written: ManifestFile[] = [];
  for (let i = 0; i < live.length; i += perManifest) {
    const entries = live.slice(i, i + perManifest);
    const bytes = writeManifest({ spec, schema, formatVersion: 2, content: ManifestContent.DATA, entries, snapshotId });
    const path = `${metadataDir(base)}/${commitId}-m${counter.n++}.avro`;
    await options.io.write(path, bytes);
    written.push(
      summarizeManifest({
        path,
        length: bytes.byteLength,
        spec,
        schema,
        content: ManifestContent.DATA,
        snapshotId,
        entries,
      }),
    );
  }
  return { written, entries: live.length };
}

/** The rewrite as a commit-path update; returns `base` unchanged when no spec has two small manifests. */
export function rewriteManifests(options: RewriteManifestsOptions): TableUpdate {
  const snapshotId = newSnapshotId();
  const commitId = randomUUID();
  const branch = options.branch ?? 'main';
  const now = options.now ?? Date.now;
  const counter = { n: 0 };
  let planned: { replaced: ManifestFile[]; written: ManifestFile[]; entries: number } | undefined;

  return async (base, attempt) => {
    if (!base) throw new ValidationError('cannot rewrite manifests of a table that does not exist');
    const parent = snapshotForRef(base, branch);
    const manifests = await readManifestFiles(options.io, parent);
    const present = new Set(manifests.map((m) => m.manifestPath));
    if (!planned || !planned.replaced.every((m) => present.has(m.manifestPath))) {
      const target = options.targetSizeBytes ?? manifestTargetSize(base);
      const groups = smallManifests(manifests, target);
      planned = { replaced: groups.flat(), written: [], entries: 0 };
      for (const group of groups) {
        const merged = await mergeManifests(options, base, group, target, snapshotId, commitId, counter);
        planned.written.push(...merged.written);
        planned.entries += merged.entries;
      }
    }
    const replaced = new Set(planned.replaced.map((m) => m.manifestPath));
    const kept = manifests.filter((m) => !replaced.has(m.manifestPath));
    options.onPlan?.({ replaced: planned.replaced, written: planned.written, kept, entries: planned.entries });
    if (!planned.replaced.length) return base;
    const summary = {
      ...buildSummary({
        operation: 'replace',
        added: [],
        removed: [],
        previous: parent,
        carryPrefixes: options.carrySummaryPrefixes,
        properties: options.summary,
        ...(options.carrySummaryPrefixes ? { carryFrom: ancestors(base, parent?.snapshotId) } : {}),
      }),
      'manifests-created': String(planned.written.length),
      'manifests-kept': String(kept.length),
      'manifests-replaced': String(planned.replaced.length),
      'entries-processed': String(planned.entries),
    };
    return finishSnapshot(
      options.io,
      base,
      branch,
      parent,
      snapshotId,
      commitId,
      attempt,
      [...planned.written, ...kept],
      summary,
      now(),
    );
  };
}
