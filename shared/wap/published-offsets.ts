/**
 * What `main` already holds of a topic's Kafka records, the basis of exactly-once: read from the snapshot summaries
 * (`floe.kafka.offsets.<topic>` and `floe.kafka.closed-offsets.<topic>`, see kafka-offsets.ts), confirmed against the
 * rows' own coordinates where the summary only claims (holes the bound closed), and recorded by the next commit.
 */
import type { FileIO } from '../storage/file-io.ts';
import type { Expression } from '../iceberg/expressions.ts';
import { currentSchema } from '../iceberg/metadata.ts';
import { scanBatches } from '../iceberg/scan.ts';
import type { TableMetadata } from '../iceberg/types.ts';
import {
  closedOffsetsSummaryKey,
  closeHoles,
  doubtfulOffsets,
  mergeClosed,
  mergeRanges,
  offsetsSummaryKey,
  parseClosed,
  parseRanges,
  rangesOf,
  serializeClosed,
  serializeRanges,
  subtractRanges,
  type ClosedOffsets,
  type OffsetRanges,
} from './kafka-offsets.ts';
import { Column, LEGACY_PARTITION_COLUMN } from './staging-rows.ts';
import { withCurrentColumnNames } from './table-layout.ts';

/** A topic's offsets on a ref: the ranges published, and below which of them closed holes make them only a claim. */
export interface PublishedOffsets {
  ranges: OffsetRanges;
  closed: ClosedOffsets;
}

/**
 * `main` (or a branch) lost the record of what floe published to a table: the current snapshot's ancestry reaches an
 * expired snapshot before any snapshot recording the topic's offsets, and the table holds floe's rows. Publishing now
 * could add duplicates, so the batch is refused until the history is repaired (a snapshot recording the offsets).
 */
export class OffsetsHistoryLostError extends Error {
  constructor(
    readonly location: string,
    readonly topic: string,
    readonly expiredSnapshotId: bigint,
  ) {
    super(
      `table at ${location}: the published Kafka offsets of topic '${topic}' are not in its history — snapshot ${expiredSnapshotId} ` +
        `was expired before any snapshot recording ${offsetsSummaryKey(topic)} (other engines committed since floe's last commit ` +
        'and their snapshots do not carry it); refusing to publish possible duplicates',
    );
    this.name = 'OffsetsHistoryLostError';
  }
}

/**
 * The Kafka offsets of `topic` recorded for one table: the summary of the nearest snapshot in the current snapshot's
 * ancestry that carries `floe.kafka.offsets.<topic>` (floe's own commits, compactions and manifest rewrites always
 * carry it; another engine's commit — a Spark compaction, a PyIceberg append — usually does not, so it is skipped, as
 * the Iceberg Kafka Connect sink reads its offsets from the ancestry). The closed offsets come from the same snapshot.
 * The rule where no such snapshot is found:
 * - the walk reaches the first snapshot (no parent) or the table has no snapshot: floe never committed, nothing published;
 * - the walk reaches a parent that was expired: if the table's schema has floe's Kafka coordinate columns, floe may
 *   have published to it, so `OffsetsHistoryLostError` (fail closed); otherwise no floe row can be in it.
 */
export function publishedOffsetsOf(metadata: TableMetadata, topic: string): PublishedOffsets {
  const key = offsetsSummaryKey(topic);
  const byId = new Map(metadata.snapshots.map((s) => [s.snapshotId, s]));
  const seen = new Set<bigint>();
  let id = metadata.currentSnapshotId;
  while (id !== undefined && id !== -1n && !seen.has(id)) {
    seen.add(id);
    const snapshot = byId.get(id);
    if (!snapshot) {
      const schema = currentSchema(metadata);
      const has = (name: string) => schema.fields.some((f) => f.name === name);
      // A table an earlier floe wrote (and no floe since) still has the Kafka partition column under its old name.
      const holdsFloeRows = (has(Column.partition) || has(LEGACY_PARTITION_COLUMN)) && has(Column.offset);
      if (holdsFloeRows) throw new OffsetsHistoryLostError(metadata.location, topic, id);
      break;
    }
    const text = snapshot.summary[key];
    if (text !== undefined)
      return { ranges: parseRanges(text), closed: parseClosed(snapshot.summary[closedOffsetsSummaryKey(topic)]) };
    id = snapshot.parentSnapshotId;
  }
  return { ranges: new Map(), closed: new Map() };
}

export function publishedRangesOf(metadata: TableMetadata, topic: string): OffsetRanges {
  return publishedOffsetsOf(metadata, topic).ranges;
}

/** The offsets of `topic` a ref's tables record: the union over the topic's tables (`publishedOffsetsOf` each). */
export function publishedOffsets(tables: (TableMetadata | undefined)[], topic: string): PublishedOffsets {
  let ranges: OffsetRanges = new Map();
  let closed: ClosedOffsets = new Map();
  for (const metadata of tables) {
    if (!metadata) continue;
    const own = publishedOffsetsOf(metadata, topic);
    ranges = mergeRanges(ranges, own.ranges);
    closed = mergeClosed(closed, own.closed);
  }
  return { ranges, closed };
}

/** The Kafka coordinates of `topic` in a table's current rows; with `within`, only those among these offsets. */
export async function rowOffsets(
  io: FileIO,
  metadata: TableMetadata,
  topic: string,
  within?: OffsetRanges,
): Promise<OffsetRanges> {
  // The column metrics of `_offset` prune the files to those that can hold the offsets asked for.
  const filter: Expression | undefined = within && {
    op: 'or',
    args: [...within].map(([p, list]) => ({
      op: 'and' as const,
      args: [
        { op: 'eq' as const, ref: Column.partition, value: p },
        { op: 'gtEq' as const, ref: Column.offset, value: list[0][0] },
        { op: 'ltEq' as const, ref: Column.offset, value: list[list.length - 1][1] },
      ],
    })),
  };
  let ranges: OffsetRanges = new Map();
  // An earlier floe's table is read under the current column names: its Kafka partition column is `_partition`.
  const named = withCurrentColumnNames(metadata);
  const columns = [Column.topic, Column.partition, Column.offset];
  for await (const batch of scanBatches(named, { io, columns, ...(filter ? { filter } : {}) })) {
    const coordinates: { partition: number; offset: bigint }[] = [];
    for (const row of batch) {
      const partition = row[Column.partition];
      const offset = row[Column.offset];
      // Rows another engine inserted have no coordinates (or another topic's): they were never published by floe.
      if (row[Column.topic] !== topic || partition === null || partition === undefined) continue;
      if (offset === null || offset === undefined) continue;
      coordinates.push({ partition: Number(partition), offset: BigInt(offset as bigint | number) });
    }
    ranges = mergeRanges(ranges, rangesOf(coordinates));
  }
  return ranges;
}

/**
 * What the topic's tables on a ref hold of `batch`, exactly: the recorded offsets, less those of `batch` that lie in a
 * closed hole and that no row of the tables has. Reads rows only when `batch` has offsets in a closed hole.
 */
export async function confirmedOffsets(
  io: FileIO,
  tables: (TableMetadata | undefined)[],
  topic: string,
  batch: OffsetRanges,
): Promise<PublishedOffsets> {
  const recorded = publishedOffsets(tables, topic);
  const doubtful = doubtfulOffsets(recorded.ranges, recorded.closed, batch);
  if (!doubtful.size) return recorded;
  let held: OffsetRanges = new Map();
  for (const metadata of tables)
    if (metadata) held = mergeRanges(held, await rowOffsets(io, metadata, topic, doubtful));
  return { ranges: subtractRanges(recorded.ranges, subtractRanges(doubtful, held)), closed: recorded.closed };
}

/** The summary properties of a commit that adds `batch` to what `published` records. */
export function offsetsSummary(
  topic: string,
  published: PublishedOffsets,
  batch: OffsetRanges,
): Record<string, string> {
  const ranges = mergeRanges(published.ranges, batch);
  const closed = closeHoles(published.closed, ranges);
  return {
    [offsetsSummaryKey(topic)]: serializeRanges(ranges),
    ...(closed.size ? { [closedOffsetsSummaryKey(topic)]: serializeClosed(closed) } : {}),
  };
}
