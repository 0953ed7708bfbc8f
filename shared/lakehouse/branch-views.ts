/**
 * The pipeline's Write-Audit-Publish state from Nessie alone: the open WAP branches (`wap/<table>/<batch>`) by stage —
 * `writing` (created, batch not committed yet), `written`, `audited`, or `rejected` (a failed batch keeps its
 * branch) — with their age, and the batches published or rejected recently, read from the commit log of `main`
 * (newest first, at most LOG_WINDOW commits).
 *
 * Publish latency is the publish commit's `commitTime` minus the time in the batch id (`newBatchId` stamps when the
 * writer closed the batch). Both are on the publish commit of `main` itself, so it works for merged, rebased and
 * rejected batches alike, after the branch is deleted, and without scanning rows. It mixes two clocks (the writer's
 * and Nessie's); a negative difference (clock skew) is left out rather than shown as zero.
 */
import type { CommitMeta } from '../catalog/nessie/index.ts';
import { parseJson } from '../util/lossless-json.ts';
import { batchIdTime, parseBranchName, property, Property } from '../wap/batch-branches.ts';
import { FOREVER, pinRef, SHORT_TTL_MS, type ReadContext } from './read-context.ts';

export type OpenStage = 'writing' | 'written' | 'audited' | 'rejected';

export interface WapBranch {
  branch: string;
  table: string;
  batchId: string;
  stage: OpenStage;
  hash: string;
  /** When the branch's head commit was made (its creation for `writing`, from the batch id). */
  since: string | null;
  ageMs: number | null;
  rows: number | null;
  verdict: string | null;
  reason: string | null;
  trusted: number | null;
  untrusted: number | null;
  reasons: Record<string, number> | null;
}

export interface PublishRecord {
  batchId: string;
  table: string | null;
  topic: string | null;
  outcome: 'published' | 'rejected';
  hash: string | null;
  at: string | null;
  latencyMs: number | null;
  message: string;
}

export interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface BranchesView {
  generatedAt: string;
  mainHash: string;
  references: { name: string; type: string; hash: string }[];
  branches: WapBranch[];
  stages: Record<OpenStage | 'published', number>;
  /** Newest first. */
  recent: PublishRecord[];
  latency: Latency | null;
  /** How much of `main`'s history `recent`, the published/rejected counts and the latency cover. */
  window: { commits: number; oldest: string | null };
}

export const LOG_WINDOW = 500;
export const RECENT = 50;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function latencyOf(values: number[]): Latency | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
  };
}

function timeOf(meta: CommitMeta | undefined): number | undefined {
  const text = meta?.commitTime;
  const ms = text ? Date.parse(text) : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** The `floe.result` a stage recorded, or an empty object when it is missing or not JSON. */
function recordedResult(meta: CommitMeta | undefined): Record<string, unknown> {
  const text = property(meta, Property.result);
  if (!text) return {};
  try {
    const value = parseJson(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const numberOr = (value: unknown): number | null =>
  typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : null;
const stringOr = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The publish and reject commits among `main`'s newest LOG_WINDOW commits. */
async function publishLog(
  ctx: ReadContext,
  pinnedMain: string,
): Promise<{ records: PublishRecord[]; commits: number; oldest: string | null }> {
  return ctx.memo.get(`log:${pinnedMain}`, FOREVER, async () => {
    const records: PublishRecord[] = [];
    let commits = 0;
    let oldest: string | null = null;
    for await (const entry of ctx.catalog.client.commitLog(pinnedMain, { maxRecords: 100 })) {
      if (++commits > LOG_WINDOW) {
        commits = LOG_WINDOW;
        break;
      }
      const meta = entry.commitMeta;
      oldest = meta.commitTime ?? oldest;
      const stage = property(meta, Property.stage);
      const batchId = property(meta, Property.batchId);
      if ((stage !== 'published' && stage !== 'rejected') || !batchId) continue;
      const at = timeOf(meta);
      const created = batchIdTime(batchId);
      const latency = at !== undefined && created !== undefined ? at - created : undefined;
      records.push({
        batchId,
        table: property(meta, Property.table) ?? null,
        topic: property(meta, Property.topic) ?? null,
        outcome: stage,
        hash: meta.hash ?? null,
        at: meta.commitTime ?? null,
        latencyMs: latency !== undefined && latency >= 0 ? latency : null,
        message: meta.message,
      });
    }
    return { records, commits, oldest };
  });
}

function openBranch(
  name: string,
  hash: string,
  meta: CommitMeta | undefined,
  rejected: Set<string>,
  now: number,
): WapBranch | undefined {
  const parsed = parseBranchName(name);
  if (!parsed) return undefined;
  // A branch just cut from main points at main's head, whose commit belongs to another batch.
  const own = property(meta, Property.batchId) === parsed.batchId;
  const recorded = own ? property(meta, Property.stage) : undefined;
  const stage: OpenStage = rejected.has(parsed.batchId)
    ? 'rejected'
    : recorded === 'audited'
      ? 'audited'
      : recorded === 'written'
        ? 'written'
        : 'writing';
  const since = own ? timeOf(meta) : batchIdTime(parsed.batchId);
  const result = own ? recordedResult(meta) : {};
  return {
    branch: name,
    table: parsed.table,
    batchId: parsed.batchId,
    stage,
    hash,
    since: since === undefined ? null : new Date(since).toISOString(),
    ageMs: since === undefined ? null : Math.max(0, now - since),
    rows: numberOr(result.rows),
    verdict: stringOr(result.verdict),
    reason: stringOr(result.reason),
    trusted: numberOr(result.trusted),
    untrusted: numberOr(result.untrusted),
    reasons: result.reasons && typeof result.reasons === 'object' ? (result.reasons as Record<string, number>) : null,
  };
}

export async function branchesView(ctx: ReadContext): Promise<BranchesView> {
  const main = await pinRef(ctx, 'main');
  const references = await ctx.memo.get('references', SHORT_TTL_MS, () =>
    ctx.catalog.client.listReferences({ fetch: 'ALL' }),
  );
  const log = await publishLog(ctx, main.pinned);
  const rejected = new Set(log.records.filter((r) => r.outcome === 'rejected').map((r) => r.batchId));
  const now = ctx.now().getTime();
  const branches = references
    .flatMap((r) => openBranch(r.name, r.hash, r.metadata?.commitMetaOfHEAD, rejected, now) ?? [])
    .sort((a, b) => (b.ageMs ?? 0) - (a.ageMs ?? 0));
  const stages: BranchesView['stages'] = { writing: 0, written: 0, audited: 0, rejected: 0, published: 0 };
  for (const branch of branches) if (branch.stage !== 'rejected') stages[branch.stage]++;
  stages.published = new Set(log.records.filter((r) => r.outcome === 'published').map((r) => r.batchId)).size;
  stages.rejected = new Set([
    ...rejected,
    ...branches.filter((b) => b.stage === 'rejected').map((b) => b.batchId),
  ]).size;
  return {
    generatedAt: ctx.now().toISOString(),
    mainHash: main.hash,
    references: references
      .map((r) => ({ name: r.name, type: r.type, hash: r.hash }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    branches,
    stages,
    recent: log.records.slice(0, RECENT),
    latency: latencyOf(
      log.records.filter((r) => r.outcome === 'published' && r.latencyMs !== null).map((r) => r.latencyMs!),
    ),
    window: { commits: log.commits, oldest: log.oldest },
  };
}
