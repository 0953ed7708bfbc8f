/**
 * The tables on a reference as the dashboard shows them, read from Iceberg metadata only (no data scan): rows, files
 * and bytes from the snapshot summaries' running totals, rows over time from the snapshot history, the last publish
 * (the newest snapshot carrying a batch id), the data files' size distribution from the manifests, and — for a
 * topic's table pair `production.<t>` / `production.<t>_untrusted` — trusted vs untrusted counts with the top reasons.
 */
import { keyName, loadTables, readMetadata } from '../catalog/table-catalog.ts';
import { ancestors, currentSchema, currentSnapshot, defaultSpec } from '../iceberg/metadata.ts';
import { isList, isMap, isPrimitive } from '../iceberg/schema.ts';
import type { IcebergType, TableMetadata } from '../iceberg/types.ts';
import { Property } from '../wap/batch-branches.ts';
import { notFound } from './read-errors.ts';
import { fileStats, type FileStats } from './file-stats.ts';
import { FOREVER, pinRef, summaryNumber, type ReadContext } from './read-context.ts';
import { reasonCounts, type ReasonCount } from './quality-stats.ts';

export type TableKind = 'trusted' | 'untrusted' | 'other';

export interface TableSummary {
  name: string;
  kind: TableKind;
  /** The other table of the topic's pair (`production.<t>` ↔ `production.<t>_untrusted`), when it exists. */
  sibling: string | null;
  rows: number | null;
  files: number | null;
  bytes: number | null;
  snapshots: number;
  currentSnapshotId: bigint | null;
  lastUpdated: string | null;
  lastPublish: { at: string; batchId: string; snapshotId: bigint } | null;
  /** Why the table's metadata could not be read (the other fields are then empty); null when it could. */
  error: string | null;
}

export interface HistoryPoint {
  at: string;
  snapshotId: bigint;
  operation: string;
  totalRecords: number | null;
  addedRecords: number | null;
  deletedRecords: number | null;
  totalDataFiles: number | null;
  batchId: string | null;
}

export interface TableDetail extends TableSummary {
  ref: string;
  hash: string;
  metadataLocation: string;
  formatVersion: number;
  schema: { id: number; name: string; type: string; required: boolean }[];
  partitionSpec: { name: string; transform: string; source: string }[];
  /** Oldest first, at most HISTORY_POINTS of the current snapshot's ancestry. */
  history: HistoryPoint[];
  fileStats: FileStats;
  /** The topic's table pair on the same ref (for production tables; both null otherwise). */
  quality: {
    trusted: { table: string; rows: number | null; history: HistoryPoint[] } | null;
    untrusted: {
      table: string;
      rows: number | null;
      history: HistoryPoint[];
      reasons: ReasonCount[];
      messages: ReasonCount[];
    } | null;
  };
}

export const HISTORY_POINTS = 500;
const UNTRUSTED_SUFFIX = '_untrusted';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function typeName(type: IcebergType): string {
  if (isPrimitive(type)) return type;
  if (isList(type)) return `list<${typeName(type.element)}>`;
  if (isMap(type)) return `map<${typeName(type.key)}, ${typeName(type.value)}>`;
  return `struct<${type.fields.map((f) => `${f.name}: ${typeName(f.type)}`).join(', ')}>`;
}

function kindOf(ctx: ReadContext, name: string): TableKind {
  if (!name.startsWith(`${ctx.config.namespaces.production}.`)) return 'other';
  return name.endsWith(UNTRUSTED_SUFFIX) ? 'untrusted' : 'trusted';
}

/** The topic pair of a production table: its trusted and untrusted names. */
function pairOf(ctx: ReadContext, name: string): { trusted: string; untrusted: string } | undefined {
  const kind = kindOf(ctx, name);
  if (kind === 'other') return undefined;
  const trusted = kind === 'untrusted' ? name.slice(0, -UNTRUSTED_SUFFIX.length) : name;
  return { trusted, untrusted: `${trusted}${UNTRUSTED_SUFFIX}` };
}

/** Rows of the current snapshot: 0 for a table without one, null when its summary has no running total. */
function rowCount(metadata: TableMetadata): number | null {
  const current = currentSnapshot(metadata);
  return current ? summaryNumber(current.summary, 'total-records') : 0;
}

function summarize(ctx: ReadContext, name: string, metadata: TableMetadata, existing: Set<string>): TableSummary {
  const current = currentSnapshot(metadata);
  const published = ancestors(metadata, metadata.currentSnapshotId).find((s) => s.summary[Property.batchId]);
  const pair = pairOf(ctx, name);
  const sibling = pair ? (pair.trusted === name ? pair.untrusted : pair.trusted) : undefined;
  return {
    name,
    kind: kindOf(ctx, name),
    sibling: sibling && existing.has(sibling) ? sibling : null,
    rows: rowCount(metadata),
    files: current ? summaryNumber(current.summary, 'total-data-files') : 0,
    bytes: current ? summaryNumber(current.summary, 'total-files-size') : 0,
    snapshots: metadata.snapshots.length,
    currentSnapshotId: current?.snapshotId ?? null,
    lastUpdated: iso(metadata.lastUpdatedMs),
    lastPublish: published
      ? {
          at: iso(published.timestampMs),
          batchId: published.summary[Property.batchId],
          snapshotId: published.snapshotId,
        }
      : null,
    error: null,
  };
}

/** A table whose metadata cannot be read still shows up, with the reason, instead of failing the whole list. */
function unreadable(ctx: ReadContext, name: string, err: unknown): TableSummary {
  return {
    name,
    kind: kindOf(ctx, name),
    sibling: null,
    rows: null,
    files: null,
    bytes: null,
    snapshots: 0,
    currentSnapshotId: null,
    lastUpdated: null,
    lastPublish: null,
    error: (err as Error)?.message ?? String(err),
  };
}

/** Every Iceberg table on a reference (default `main`), by name. */
export async function listTables(
  ctx: ReadContext,
  ref = 'main',
): Promise<{ ref: string; hash: string; tables: TableSummary[] }> {
  const { pinned, hash } = await pinRef(ctx, ref);
  return ctx.memo.get(`tables:${pinned}`, FOREVER, async () => {
    const { value: entries } = await ctx.catalog.client.listEntries(pinned, { content: true });
    const located = entries.flatMap((e) =>
      e.content?.type === 'ICEBERG_TABLE' ? [{ name: keyName(e.name), location: e.content.metadataLocation }] : [],
    );
    const names = new Set(located.map((t) => t.name));
    const tables = await Promise.all(
      located.map((t) =>
        readMetadata(ctx.io, t.location).then(
          (metadata) => summarize(ctx, t.name, metadata, names),
          (err: unknown) => unreadable(ctx, t.name, err),
        ),
      ),
    );
    return { ref, hash, tables: tables.sort((a, b) => a.name.localeCompare(b.name)) };
  });
}

function history(metadata: TableMetadata): HistoryPoint[] {
  return ancestors(metadata, metadata.currentSnapshotId)
    .slice(0, HISTORY_POINTS)
    .reverse()
    .map((s) => ({
      at: iso(s.timestampMs),
      snapshotId: s.snapshotId,
      operation: s.summary.operation,
      totalRecords: summaryNumber(s.summary, 'total-records'),
      addedRecords: summaryNumber(s.summary, 'added-records'),
      deletedRecords: summaryNumber(s.summary, 'deleted-records'),
      totalDataFiles: summaryNumber(s.summary, 'total-data-files'),
      batchId: s.summary[Property.batchId] ?? null,
    }));
}

/** One table on a reference (any branch, tag or `name@hash`); 404 when the reference or the table does not exist. */
export async function tableDetail(ctx: ReadContext, name: string, ref: string): Promise<TableDetail> {
  const { pinned, hash } = await pinRef(ctx, ref);
  return ctx.memo.get(`table:${pinned}:${name}`, FOREVER, async () => {
    const pair = pairOf(ctx, name);
    const { tables } = await loadTables(ctx.catalog, pinned, pair ? [pair.trusted, pair.untrusted] : [name]);
    const table = tables.get(name);
    if (!table) throw notFound(`table '${name}' does not exist on ${ref}`);
    const { metadata } = table;
    const schema = currentSchema(metadata);
    const trusted = pair && tables.get(pair.trusted);
    const untrusted = pair && tables.get(pair.untrusted);
    const untrustedReasons = untrusted ? await reasonCounts(ctx, untrusted.metadata) : undefined;
    return {
      ...summarize(ctx, name, metadata, new Set(tables.keys())),
      ref,
      hash,
      metadataLocation: table.metadataLocation,
      formatVersion: metadata.formatVersion,
      schema: schema.fields.map((f) => ({ id: f.id, name: f.name, type: typeName(f.type), required: f.required })),
      partitionSpec: defaultSpec(metadata).fields.map((f) => ({
        name: f.name,
        transform: f.transform,
        source: schema.fields.find((s) => s.id === f.sourceId)?.name ?? String(f.sourceId),
      })),
      history: history(metadata),
      fileStats: await fileStats(ctx, metadata),
      quality: {
        trusted: trusted
          ? { table: pair.trusted, rows: rowCount(trusted.metadata), history: history(trusted.metadata) }
          : null,
        untrusted:
          untrusted && untrustedReasons
            ? {
                table: pair.untrusted,
                rows: rowCount(untrusted.metadata),
                history: history(untrusted.metadata),
                ...untrustedReasons,
              }
            : null,
      },
    };
  });
}
