/**
 * Why rows are untrusted: the `_reasons` column of a `production.<t>_untrusted` table, counted by category (the text
 * before the first `:` — `type`, `required`, `range`, `duplicate`, `malformed`, `batch` …, each counted once per row,
 * as the auditor counts them) and by full message. Only that column is read, one data file at a time, and each
 * file's counts are memoized by its path and delete files (files never change), so a new publish reads only its files.
 */
import { currentSchema } from '../iceberg/metadata.ts';
import { planScan, readTasks } from '../iceberg/scan.ts';
import type { TableMetadata } from '../iceberg/types.ts';
import { Column } from '../wap/staging-rows.ts';
import { FOREVER, type ReadContext } from './read-context.ts';

export interface ReasonCount {
  reason: string;
  count: number;
}

export const TOP_REASONS = 10;

type Counts = { categories: Map<string, number>; messages: Map<string, number> };

export function reasonCategory(reason: string): string {
  const colon = reason.indexOf(':');
  return colon > 0 ? reason.slice(0, colon) : reason;
}

function top(counts: Map<string, number>): ReasonCount[] {
  return [...counts]
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, TOP_REASONS);
}

function add(into: Map<string, number>, key: string, n = 1): void {
  into.set(key, (into.get(key) ?? 0) + n);
}

export async function reasonCounts(
  ctx: ReadContext,
  metadata: TableMetadata,
): Promise<{ reasons: ReasonCount[]; messages: ReasonCount[] }> {
  if (!currentSchema(metadata).fields.some((f) => f.name === Column.reasons)) return { reasons: [], messages: [] };
  const plan = await planScan(metadata, { io: ctx.io });
  const total: Counts = { categories: new Map(), messages: new Map() };
  for (const task of plan.tasks) {
    const key = `reasons:${task.file.filePath}:${task.deletes.map((d) => d.file.filePath).join(',')}`;
    const counts = await ctx.memo.get(key, FOREVER, async () => {
      const out: Counts = { categories: new Map(), messages: new Map() };
      for await (const batch of readTasks({ ...plan, tasks: [task] }, metadata, {
        io: ctx.io,
        columns: [Column.reasons],
      })) {
        for (const row of batch) {
          const reasons = (row[Column.reasons] as string[] | null) ?? [];
          for (const category of new Set(reasons.map(reasonCategory))) add(out.categories, category);
          for (const reason of reasons) add(out.messages, reason);
        }
      }
      return out;
    });
    for (const [k, n] of counts.categories) add(total.categories, k, n);
    for (const [k, n] of counts.messages) add(total.messages, k, n);
  }
  return { reasons: top(total.categories), messages: top(total.messages) };
}
