/**
 * The publisher's step: make an audited batch visible on `main` in one atomic step across its tables.
 *
 * 1. If `main` already holds every Kafka coordinate of the batch (a redelivery, or a concurrent publisher won), there
 *    is nothing to add.
 * 2. Otherwise try a Nessie merge of the branch into `main` with the staging table dropped: it succeeds when nobody
 *    changed the topic's tables on `main` since the branch was cut.
 * 3. When `main` moved (VALUE_DIFFERS — the normal case with concurrent batches), rebase at the Iceberg level: append the
 *    batch's data files onto `main`'s current metadata of each table and commit all tables in one Nessie commit with
 *    compare-and-swap, retried. Rows whose coordinates `main` already has are filtered out; files are rewritten only
 *    when their schema or partition layout no longer matches `main`'s. Never FORCE.
 * A passed batch's branch is then deleted; a failed batch publishes only its `_untrusted` rows and keeps its branch.
 */
import type { BatchAudited, BatchPublished, BatchRejected } from '../../shared/events/contract.ts';
import { NessieNotFoundError, NessieReferenceConflictError } from '../../shared/catalog/nessie/index.ts';
import { commitOnBranch, loadTables, tableKey, type LoadedTable } from '../../shared/catalog/table-catalog.ts';
import type { TableUpdate } from '../../shared/iceberg/commit.ts';
import { setCurrentSchema, unionByName } from '../../shared/iceberg/evolution.ts';
import { ancestors, currentSchema, defaultSpec, newTableMetadata, snapshotForRef, specById } from '../../shared/iceberg/metadata.ts';
import { readDataFile } from '../../shared/iceberg/parquet-reader.ts';
import { appendFiles, readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { EntryStatus, type DataFile, type TableMetadata } from '../../shared/iceberg/types.ts';
import { tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { branchHead, Property } from '../../shared/wap/batch-branches.ts';
import { BatchGoneError } from '../../shared/wap/batch-branches.ts';
import { type WapContext } from '../../shared/wap/wap-context.ts';
import { CARRIED_SUMMARY_PREFIXES } from '../../shared/wap/kafka-offsets.ts';
import {
  containsOffset, coversAll, mergeRanges, offsetsSummaryKey, overlaps, rangesFromPayload, serializeRanges,
  type OffsetRanges,
} from '../../shared/wap/kafka-offsets.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { publishedRanges, sameFieldIds } from '../../shared/wap/table-layout.ts';

export type PublishOutcome = { kind: 'published'; event: BatchPublished } | { kind: 'rejected'; event: BatchRejected };

/** The data files a branch's table gained in the batch's own snapshot. */
async function batchFiles(ctx: WapContext, table: LoadedTable, batchId: string): Promise<{ files: DataFile[]; metadata: TableMetadata }> {
  const { metadata } = table;
  const snapshot = ancestors(metadata, snapshotForRef(metadata, 'main')?.snapshotId).find((s) => s.summary[Property.batchId] === batchId);
  if (!snapshot) return { files: [], metadata };
  const files: DataFile[] = [];
  for (const manifest of await readManifestFiles(ctx.catalog.io, snapshot)) {
    if (manifest.addedSnapshotId !== snapshot.snapshotId) continue;
    for (const entry of await readManifestEntries(ctx.catalog.io, manifest, metadata)) {
      if (entry.status === EntryStatus.ADDED && entry.snapshotId === snapshot.snapshotId) files.push(entry.dataFile);
    }
  }
  return { files, metadata };
}

/** Re-lays rows of the batch's files out under `target`, dropping rows whose coordinates are in `published`. */
async function rewriteFor(ctx: WapContext, source: TableMetadata, files: DataFile[], target: TableMetadata, published: OffsetRanges): Promise<{ files: DataFile[]; dropped: number }> {
  const rows: Record<string, unknown>[] = [];
  let dropped = 0;
  for (const file of files) {
    for (const row of await readDataFile(ctx.catalog.io, { location: file.filePath, schema: currentSchema(source), fileSize: file.fileSizeInBytes })) {
      if (containsOffset(published, row[Column.partition] as number, row[Column.offset] as bigint)) dropped++;
      else rows.push(row);
    }
  }
  return { files: await writeRows(ctx.catalog.io, target, rows), dropped };
}

export async function publishBatch(ctx: WapContext, audited: BatchAudited): Promise<PublishOutcome> {
  const { catalog, config } = ctx;
  const topic = topicConfig(config, audited.topic);
  if (!topic) throw new Error(`topic '${audited.topic}' is not configured`);
  const names = tableNames(config, topic);
  const passed = audited.verdict === 'passed';
  const toPublish = passed ? [names.production, names.untrusted] : [names.untrusted];
  const batchOffsets = rangesFromPayload(audited.offsets);
  const total = audited.trusted + audited.untrusted;
  const now = () => (ctx.now?.() ?? new Date()).toISOString();

  const finish = async (method: BatchPublished['method'], hash: string, duplicates: number): Promise<PublishOutcome> => {
    if (!passed) {
      return { kind: 'rejected', event: { batchId: audited.batchId, topic: audited.topic, table: audited.table, branch: audited.branch, hash: audited.hash, reason: audited.reason ?? 'batch failed the audit', untrusted: total, rejectedAt: now() } };
    }
    await deleteBranch(ctx, audited.branch);
    return { kind: 'published', event: { batchId: audited.batchId, topic: audited.topic, table: audited.table, hash, trusted: audited.trusted, untrusted: audited.untrusted, duplicates, method, publishedAt: now() } };
  };

  const onMain = await loadTables(catalog, 'main', [names.production, names.untrusted]);
  const published = publishedRanges([...onMain.tables.values()].map((t) => t.metadata), audited.topic);
  if (coversAll(published, batchOffsets)) return finish('noop', onMain.hash, total);

  const head = await branchHead(catalog.client, audited.branch);
  if (!head) throw new BatchGoneError(`branch ${audited.branch} of batch ${audited.batchId} is gone and main does not hold the batch`);
  const meta = {
    message: `floe: publish batch ${audited.batchId} (${audited.verdict}: ${audited.trusted} trusted, ${audited.untrusted} untrusted)`,
    properties: { [Property.batchId]: audited.batchId, [Property.stage]: passed ? 'published' : 'rejected', [Property.topic]: audited.topic, [Property.table]: audited.table },
  };

  if (!overlaps(published, batchOffsets)) {
    const merged = await catalog.client.merge('main', onMain.hash, {
      fromRefName: audited.branch,
      fromHash: audited.hash,
      commitMeta: meta,
      keyMergeModes: [{ key: tableKey(names.staging), mergeBehavior: 'DROP' }],
      returnConflictAsResult: true,
    });
    if (merged.wasSuccessful && merged.wasApplied && merged.resultantTargetHash) return finish('merge', merged.resultantTargetHash, 0);
    ctx.log.debug({ batchId: audited.batchId, conflicts: merged.details.filter((d) => d.conflict).map((d) => d.conflict?.conflictType) }, 'main moved since the branch was cut: rebasing');
  }

  const onBranch = await loadTables(catalog, `${audited.branch}@${audited.hash}`, toPublish);
  const dropped = new Map<string, number>();
  const updates = new Map<string, TableUpdate>();
  for (const name of toPublish) {
    const table = onBranch.tables.get(name);
    if (!table) continue;
    const { files, metadata: source } = await batchFiles(ctx, table, audited.batchId);
    if (!files.length) continue;
    let laidOut: { key: string; files: DataFile[]; dropped: number } | undefined;
    updates.set(name, async (base, attempt, bases) => {
      const mainRanges = publishedRanges([...bases.values()], audited.topic);
      if (coversAll(mainRanges, batchOffsets)) return base;
      let target = base ?? newTableMetadata({ location: source.location, schema: currentSchema(source), spec: defaultSpec(source), properties: source.properties });
      const union = unionByName(currentSchema(target), currentSchema(source), target.lastColumnId);
      if (union.changes.length) target = setCurrentSchema(target, union.schema, union.lastColumnId);
      const reusable = !overlaps(mainRanges, batchOffsets) && sameFieldIds(currentSchema(source), currentSchema(target)) &&
        files.every((f) => stringifyJson(specById(source, f.specId)) === stringifyJson(target.partitionSpecs.find((s) => s.specId === f.specId) ?? null));
      const key = reusable ? 'as-is' : stringifyJson([currentSchema(target), defaultSpec(target), serializeRanges(mainRanges)]);
      if (laidOut?.key !== key) {
        laidOut = reusable ? { key, files, dropped: 0 } : { key, ...(await rewriteFor(ctx, source, files, target, mainRanges)) };
      }
      dropped.set(name, laidOut.dropped);
      if (!laidOut.files.length) return base;
      return appendFiles({
        io: catalog.io, files: laidOut.files, carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES,
        summary: { [Property.batchId]: audited.batchId, [offsetsSummaryKey(audited.topic)]: serializeRanges(mergeRanges(mainRanges, batchOffsets)) },
      })(target, attempt, bases);
    });
  }
  if (!updates.size) throw new BatchGoneError(`batch ${audited.batchId}: its tables on ${audited.branch}@${audited.hash} hold no files of the batch`);
  // Retry generously: concurrent publishers of the same topic conflict on every commit until one of them wins.
  const commit = await commitOnBranch(catalog, 'main', updates, meta, { retries: 20, minWaitMs: 20, maxWaitMs: 2000 });
  if (!commit.hash) return finish('noop', (await catalog.client.getReference('main')).hash, total);
  return finish('rebase', commit.hash, [...dropped.values()].reduce((a, b) => a + b, 0));
}

/** Deletes a published batch's branch; someone else deleting it first is fine. */
async function deleteBranch(ctx: WapContext, branch: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const head = await branchHead(ctx.catalog.client, branch);
    if (!head) return;
    try {
      await ctx.catalog.client.deleteReference(branch, 'BRANCH', head.hash);
      return;
    } catch (err) {
      if (err instanceof NessieNotFoundError) return;
      if (!(err instanceof NessieReferenceConflictError)) throw err;
    }
  }
  ctx.log.warn({ branch }, 'could not delete the published batch branch; the janitor will');
}
