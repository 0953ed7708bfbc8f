/**
 * The table browser: the newest rows of a table on any reference, through the same scan code as `floe scan` (deletes
 * applied, the `where` filter with `floe scan`'s syntax, values shown by `displayRow`). "Newest" means the data files
 * added last (highest data sequence number) first, rows later in a file before earlier ones, then by `_ingested_at`
 * when the table has it. Whole data files are read, newest first, until `limit` rows are found.
 */
import { loadTable } from '../shared/catalog/table-catalog.ts';
import { displayRow } from '../shared/iceberg/display.ts';
import { bind, type Expression } from '../shared/iceberg/expressions.ts';
import { currentSchema } from '../shared/iceberg/metadata.ts';
import { IcebergFormatError, isStruct } from '../shared/iceberg/schema.ts';
import { planScan, readTasks } from '../shared/iceberg/scan.ts';
import type { IcebergType } from '../shared/iceberg/types.ts';
import { stringifyJson } from '../shared/util/lossless-json.ts';
import { Column } from '../shared/wap/staging-rows.ts';
import { badRequest, notFound } from '../shared/lakehouse/read-errors.ts';
import { FOREVER, pinRef, type ReadContext } from '../shared/lakehouse/read-context.ts';
import { typeName } from '../shared/lakehouse/table-summaries.ts';

export interface RowsView {
  table: string;
  ref: string;
  hash: string;
  snapshotId: bigint | null;
  columns: { name: string; type: string }[];
  /** Columns holding claim-check references (`{uri, size_bytes, content_type, sha256, inline}`). */
  fileColumns: string[];
  rows: Record<string, unknown>[];
  limit: number;
  /** Whether more rows matched than `limit`. */
  more: boolean;
  filesRead: number;
}

function isFileRef(type: IcebergType): boolean {
  return (
    isStruct(type) &&
    ['uri', 'size_bytes', 'content_type', 'sha256'].every((name) => type.fields.some((f) => f.name === name))
  );
}

function newestFirst(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const x = a[Column.ingestedAt];
  const y = b[Column.ingestedAt];
  if (typeof x !== 'bigint' || typeof y !== 'bigint' || x === y) return 0;
  return x > y ? -1 : 1;
}

/** Memoized per pinned commit, table, limit and filter: what a commit holds never changes. */
export async function newestRows(
  ctx: ReadContext,
  name: string,
  ref: string,
  options: { limit: number; where?: Expression },
): Promise<RowsView> {
  const pin = await pinRef(ctx, ref);
  const key = `rows:${pin.pinned}:${name}:${options.limit}:${options.where ? stringifyJson(options.where) : ''}`;
  return ctx.memo.get(key, FOREVER, () => readNewest(ctx, name, ref, pin, options));
}

async function readNewest(
  ctx: ReadContext,
  name: string,
  ref: string,
  { pinned, hash }: { pinned: string; hash: string },
  options: { limit: number; where?: Expression },
): Promise<RowsView> {
  const table = await loadTable(ctx.catalog, pinned, name);
  if (!table) throw notFound(`table '${name}' does not exist on ${ref}`);
  const { metadata } = table;
  const schema = currentSchema(metadata);
  if (options.where) {
    try {
      bind(options.where, schema);
    } catch (err) {
      if (err instanceof IcebergFormatError) throw badRequest(`where: ${err.message}`);
      throw err;
    }
  }
  const plan = await planScan(metadata, { io: ctx.io, ...(options.where ? { filter: options.where } : {}) });
  const tasks = [...plan.tasks].sort(
    (a, b) => b.sequenceNumber - a.sequenceNumber || b.file.filePath.localeCompare(a.file.filePath),
  );
  const found: Record<string, unknown>[] = [];
  let filesRead = 0;
  for (const task of tasks) {
    if (found.length > options.limit) break;
    const fileRows: Record<string, unknown>[] = [];
    for await (const batch of readTasks({ ...plan, tasks: [task] }, metadata, { io: ctx.io })) fileRows.push(...batch);
    filesRead++;
    found.push(...fileRows.reverse());
  }
  const rows = found.sort(newestFirst);
  return {
    table: name,
    ref,
    hash,
    snapshotId: plan.snapshot?.snapshotId ?? null,
    columns: schema.fields.map((f) => ({ name: f.name, type: typeName(f.type) })),
    fileColumns: schema.fields.filter((f) => isFileRef(f.type)).map((f) => f.name),
    rows: rows.slice(0, options.limit).map((row) => displayRow(schema, row)),
    limit: options.limit,
    more: rows.length > options.limit,
    filesRead,
  };
}
