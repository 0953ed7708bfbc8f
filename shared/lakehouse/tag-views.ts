/**
 * Dataset tags as the CLI (`floe tag list|show`) and the dashboard show them: when a tag was taken, and per
 * production table the snapshot it holds, its row count, and what that snapshot contains — the WAP batches in its
 * retained ancestry (`floe.batch-id` of each publish) and the Kafka offset ranges per topic
 * (`floe.kafka.offsets.<topic>`, read from the nearest snapshot that records them, as publishing does).
 */
import { keyName, readMetadata } from '../catalog/table-catalog.ts';
import { NessieNotFoundError, type NamedReference } from '../catalog/nessie/index.ts';
import { TagProperty } from '../catalog/dataset-tags.ts';
import { ancestors, snapshotById } from '../iceberg/metadata.ts';
import type { Snapshot, TableMetadata } from '../iceberg/types.ts';
import { OFFSETS_SUMMARY_PREFIX, parseRanges, rangesToPayload } from '../wap/kafka-offsets.ts';
import { Property } from '../wap/batch-branches.ts';
import { FOREVER, SHORT_TTL_MS, summaryNumber, type ReadContext } from './read-context.ts';
import { notFound } from './read-errors.ts';

export interface TagTable {
  table: string;
  /** The table's snapshot in the tag: its Iceberg tag ref when it has one, else the current snapshot at the tag. */
  snapshotId: bigint | null;
  /** Whether the table's metadata carries the Iceberg tag (engines reading only that table find it). */
  icebergRef: boolean;
  /** `max-ref-age-ms` of the Iceberg tag, null when it never expires. */
  maxRefAgeMs: number | null;
  rows: number | null;
}

export interface TagSummary {
  name: string;
  hash: string;
  /** When the tagged commit was made (the tag's creation when floe made it), ISO-8601. */
  createdAt: string | null;
  message: string | null;
  /** The branch it was taken of, when floe made it. */
  branch: string | null;
  retentionMs: number | null;
  tables: TagTable[];
}

export interface TagTableDetail extends TagTable {
  /** Batch ids published into the tagged snapshot's ancestry, oldest first. */
  batches: string[];
  /** False when expiry cut the ancestry: older batches are in the data but no longer listed. */
  batchesComplete: boolean;
  /** Topic → partition → [[first, last]] offsets (decimal strings) the tagged snapshot records as published. */
  offsets: Record<string, Record<string, [string, string][]>>;
}

export interface TagDetail extends Omit<TagSummary, 'tables'> {
  tables: TagTableDetail[];
}

function tagSnapshot(
  metadata: TableMetadata,
  name: string,
): { snapshot: Snapshot | undefined; icebergRef: boolean; maxRefAgeMs: number | null } {
  const ref = metadata.refs[name];
  if (ref?.type === 'tag')
    return { snapshot: snapshotById(metadata, ref.snapshotId), icebergRef: true, maxRefAgeMs: ref.maxRefAgeMs ?? null };
  const current =
    metadata.currentSnapshotId === undefined ? undefined : snapshotById(metadata, metadata.currentSnapshotId);
  return { snapshot: current, icebergRef: false, maxRefAgeMs: null };
}

function describeReference(ref: NamedReference): Omit<TagSummary, 'tables'> {
  const meta = ref.metadata?.commitMetaOfHEAD;
  const property = (key: string) => meta?.allProperties?.[key]?.[0] ?? null;
  const retention = property(TagProperty.retentionMs);
  return {
    name: ref.name,
    hash: ref.hash,
    createdAt: meta?.commitTime ?? null,
    message: property(TagProperty.message),
    branch: property(TagProperty.branch),
    retentionMs: retention !== null && /^\d+$/.test(retention) ? Number(retention) : null,
  };
}

async function tablesAt(ctx: ReadContext, hash: string): Promise<{ table: string; metadata: TableMetadata }[]> {
  const { value } = await ctx.catalog.client.listEntries(`@${hash}`, { content: true });
  const prefix = `${ctx.config.namespaces.production}.`;
  const located = value.flatMap((e) =>
    e.content?.type === 'ICEBERG_TABLE' && keyName(e.name).startsWith(prefix)
      ? [{ table: keyName(e.name), location: e.content.metadataLocation }]
      : [],
  );
  const tables = await Promise.all(
    located.map(async (t) => ({ table: t.table, metadata: await readMetadata(ctx.io, t.location) })),
  );
  return tables.sort((a, b) => a.table.localeCompare(b.table));
}

function tableSummary(table: string, metadata: TableMetadata, name: string): TagTable {
  const { snapshot, icebergRef, maxRefAgeMs } = tagSnapshot(metadata, name);
  return {
    table,
    snapshotId: snapshot?.snapshotId ?? null,
    icebergRef,
    maxRefAgeMs,
    rows: snapshot ? summaryNumber(snapshot.summary, 'total-records') : 0,
  };
}

/** Every Nessie tag, newest first, with rows per production table. */
export async function listTagsView(ctx: ReadContext): Promise<{ tags: TagSummary[] }> {
  const references = await ctx.memo.get('tags:list', SHORT_TTL_MS, () =>
    ctx.catalog.client.listReferences({ fetch: 'ALL' }),
  );
  const tags = await Promise.all(
    references
      .filter((r) => r.type === 'TAG')
      .map((ref) =>
        ctx.memo.get(`tag:${ref.name}@${ref.hash}`, FOREVER, async () => ({
          ...describeReference(ref),
          tables: (await tablesAt(ctx, ref.hash)).map(({ table, metadata }) => tableSummary(table, metadata, ref.name)),
        })),
      ),
  );
  return {
    tags: tags.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.name.localeCompare(b.name)),
  };
}

/** One tag in full: per production table its snapshot, rows, batches and Kafka offsets. 404 when there is no such tag. */
export async function tagDetailView(ctx: ReadContext, name: string): Promise<TagDetail> {
  let ref: NamedReference;
  try {
    ref = await ctx.catalog.client.getReference(name, { fetch: 'ALL' });
  } catch (err) {
    if (err instanceof NessieNotFoundError) throw notFound(`no tag '${name}'`);
    throw err;
  }
  if (ref.type !== 'TAG') throw notFound(`'${name}' is a branch, not a tag`);
  const tables = (await tablesAt(ctx, ref.hash)).map(({ table, metadata }): TagTableDetail => {
    const summary = tableSummary(table, metadata, name);
    const chain = ancestors(metadata, summary.snapshotId ?? undefined);
    const oldest = chain[chain.length - 1];
    const offsets: TagTableDetail['offsets'] = {};
    for (const snapshot of chain) {
      for (const [key, text] of Object.entries(snapshot.summary)) {
        const topic = key.startsWith(OFFSETS_SUMMARY_PREFIX) ? key.slice(OFFSETS_SUMMARY_PREFIX.length) : undefined;
        if (topic && !(topic in offsets)) offsets[topic] = rangesToPayload(parseRanges(text));
      }
    }
    return {
      ...summary,
      batches: chain.flatMap((s) => (s.summary[Property.batchId] ? [s.summary[Property.batchId]] : [])).reverse(),
      batchesComplete: oldest === undefined || oldest.parentSnapshotId === undefined,
      offsets,
    };
  });
  return { ...describeReference(ref), tables };
}
