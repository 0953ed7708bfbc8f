/**
 * Repairing the record of published Kafka offsets after another engine cut it. Floe finds what a table already holds
 * in the `floe.kafka.offsets.<topic>` summary of the nearest snapshot of the current ancestry that has it. Another
 * engine's commits (a Spark `rewrite_manifests` or `rewrite_data_files`, a PyIceberg append) do not carry that key, and
 * when its `expire_snapshots` then removes every snapshot that did, `publishedRangesOf` fails closed with
 * `OffsetsHistoryLostError`. The rows themselves still say what was published: every floe row carries its Kafka
 * coordinates. So the repair reads those columns of the topic's tables on `main` and commits, on each table whose
 * history is lost, a `replace` snapshot with no file change whose summary records the recovered offsets; from then on
 * the ancestry answers again and the chain publishes exactly once as before.
 *
 * Recovered offsets are exact for what the tables hold. What the lost summary counted as published without a row (a
 * hole closed by the bound of kafka-offsets.ts) is open again, so such a record, if it ever came back, would be
 * published once. A floe row another engine deleted is no longer counted either: a replay of it would add it again.
 */
import { randomUUID } from 'node:crypto';
import { commitOnBranch, loadTables, type Catalog } from '../catalog/table-catalog.ts';
import type { TableUpdate } from '../iceberg/commit.ts';
import { snapshotForRef } from '../iceberg/metadata.ts';
import { finishSnapshot, newSnapshotId, readManifestFiles } from '../iceberg/snapshot.ts';
import { buildSummary } from '../iceberg/summary.ts';
import type { TableMetadata } from '../iceberg/types.ts';
import type { Logger } from '../runtime/logger.ts';
import { tableNames, topicConfig, type PipelineConfig } from '../runtime/pipeline-config.ts';
import { branchHead } from './batch-branches.ts';
import { mergeClosed, mergeRanges, type ClosedOffsets, type OffsetRanges } from './kafka-offsets.ts';
import {
  offsetsSummary,
  OffsetsHistoryLostError,
  publishedOffsetsOf,
  publishedRangesOf,
  rowOffsets,
  type PublishedOffsets,
} from './published-offsets.ts';

/** Summary key of a repair snapshot (the topic whose offsets it recovered), so it can be told from floe's appends. */
export const REPAIRED_SUMMARY_KEY = 'floe.offsets-repaired';

function historyLost(metadata: TableMetadata | undefined, topic: string): boolean {
  if (!metadata) return false;
  try {
    publishedRangesOf(metadata, topic);
    return false;
  } catch (err) {
    if (err instanceof OffsetsHistoryLostError) return true;
    throw err;
  }
}

/**
 * Recovers the published offsets of `topic` on `main` for the tables named (the topic's production and untrusted
 * tables) whose history was lost; returns the names of the tables it repaired. The offsets recorded are the union over
 * the tables, as floe's own commits record them: rows for the lost ones, the summary for the others. Runs in one
 * compare-and-swap commit, re-planned against whatever main holds when it retries.
 */
export async function repairOffsetsHistory(
  catalog: Catalog,
  branch: string,
  names: string[],
  topic: string,
  log?: Logger,
): Promise<string[]> {
  const { tables } = await loadTables(catalog, branch, names);
  if (![...tables.values()].some((t) => historyLost(t.metadata, topic))) return [];
  const repaired = new Set<string>();
  let recovered: Promise<PublishedOffsets> | undefined;
  let recoveredFrom: ReadonlyMap<string, TableMetadata | undefined> | undefined;
  const offsets = (bases: ReadonlyMap<string, TableMetadata | undefined>) => {
    if (recoveredFrom !== bases) {
      recoveredFrom = bases;
      recovered = (async () => {
        let ranges: OffsetRanges = new Map();
        let closed: ClosedOffsets = new Map();
        for (const metadata of bases.values()) {
          if (!metadata) continue;
          const own = historyLost(metadata, topic)
            ? { ranges: await rowOffsets(catalog.io, metadata, topic), closed: new Map() }
            : publishedOffsetsOf(metadata, topic);
          ranges = mergeRanges(ranges, own.ranges);
          closed = mergeClosed(closed, own.closed);
        }
        return { ranges, closed };
      })();
    }
    return recovered!;
  };
  const updates = new Map<string, TableUpdate>();
  for (const name of names) {
    const snapshotId = newSnapshotId();
    const commitId = randomUUID();
    updates.set(name, async (base, attempt, bases) => {
      if (!base || !historyLost(base, topic)) return base;
      // Within the table, floe's commits are always on its `main` ref, also on a batch branch of the catalog.
      const parent = snapshotForRef(base, 'main');
      const summary = buildSummary({
        operation: 'replace',
        added: [],
        removed: [],
        previous: parent,
        properties: { ...offsetsSummary(topic, await offsets(bases), new Map()), [REPAIRED_SUMMARY_KEY]: topic },
      });
      const manifests = await readManifestFiles(catalog.io, parent);
      repaired.add(name);
      return finishSnapshot(
        catalog.io,
        base,
        'main',
        parent,
        snapshotId,
        commitId,
        attempt,
        manifests,
        summary,
        Date.now(),
      );
    });
  }
  // On a batch branch the repair keeps the head's properties (the batch's stage), which the janitor reads.
  const head = branch === 'main' ? undefined : await branchHead(catalog.client, branch);
  await commitOnBranch(catalog, branch, updates, {
    message: `floe: recover the published Kafka offsets of ${topic}`,
    ...(head?.meta?.allProperties ? { properties: head.meta.allProperties } : {}),
  });
  log?.warn(
    { topic, branch, tables: [...repaired] },
    'published Kafka offsets were not in the history (another engine expired the snapshots recording them): recovered from the rows',
  );
  return [...repaired];
}

/**
 * Runs `step` (an audit or a publish of `topic`); when it fails closed because another engine expired the history of
 * published offsets, repairs that history from the rows of the topic's tables on `branches` (main for a publish; the
 * batch branch, forked from main before the repair, for an audit) and runs `step` once more. A second failure is
 * thrown.
 */
export async function withOffsetsHistory<T>(
  ctx: { catalog: Catalog; config: PipelineConfig; log?: Logger },
  topic: string,
  step: () => Promise<T>,
  branches: string[] = ['main'],
): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const config = topicConfig(ctx.config, topic);
    if (!(err instanceof OffsetsHistoryLostError) || !config) throw err;
    const names = tableNames(ctx.config, config);
    for (const branch of branches)
      await repairOffsetsHistory(ctx.catalog, branch, [names.production, names.untrusted], topic, ctx.log);
    return step();
  }
}
