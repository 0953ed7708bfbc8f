/**
 * What every dashboard view reads from: the catalog (Nessie + storage), the warehouse root, the functions' base URLs,
 * the pipeline config (namespaces, claim-check prefix), a clock and the shared memo.
 */
import type { Catalog } from '../catalog/table-catalog.ts';
import type { PipelineConfig } from '../runtime/pipeline-config.ts';
import type { FileIO } from '../storage/file-io.ts';
import type { Memo } from './memo.ts';

export interface ReadContext {
  catalog: Catalog;
  io: FileIO;
  /** Warehouse root, ending with `/`. */
  warehouse: string;
  /** Function name → base URL whose `/metrics` is read. */
  functions: Record<string, string>;
  config: PipelineConfig;
  now: () => Date;
  memo: Memo;
}

/** How long a branch head, a listing or a metrics page is reused: the page polls every few seconds. */
export const SHORT_TTL_MS = 2_000;
/** Inputs addressed by a commit hash or an immutable file never change. */
export const FOREVER = Number.POSITIVE_INFINITY;

/** A reference pinned to its current commit (`main` → `main@<hash>`), so what is read from it can be memoized by hash. */
export async function pinRef(ctx: ReadContext, ref: string): Promise<{ ref: string; pinned: string; hash: string }> {
  const at = ref.indexOf('@');
  if (at >= 0) return { ref, pinned: ref, hash: ref.slice(at + 1) };
  const head = await ctx.memo.get(`head:${ref}`, SHORT_TTL_MS, () => ctx.catalog.client.getReference(ref));
  return { ref, pinned: `${ref}@${head.hash}`, hash: head.hash };
}

/** A count or size from a snapshot summary (they fit a JS number), null when absent or not a number. */
export function summaryNumber(summary: Record<string, string> | undefined, key: string): number | null {
  const text = summary?.[key];
  if (text === undefined || !/^-?\d+$/.test(text)) return null;
  return Number(text);
}
