/**
 * Write-Audit-Publish branches: one Nessie branch per batch, `wap/<table>/<batch id>`, and the stage each commit
 * on it records in its commit properties (`floe.stage`: written, audited), which is what the janitor reads to find
 * stalled batches and what makes every step idempotent.
 */
import { randomBytes } from 'node:crypto';
import type { CommitMeta, NessieClient } from '../catalog/nessie/index.ts';
import { NessieNotFoundError } from '../catalog/nessie/index.ts';

export const WAP_PREFIX = 'wap/';

export const Stage = { written: 'written', audited: 'audited' } as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** Commit property names floe writes on WAP commits. */
export const Property = {
  batchId: 'floe.batch-id',
  stage: 'floe.stage',
  topic: 'floe.topic',
  table: 'floe.table',
  /** JSON of the stage's event payload, so a redelivered event can be answered without redoing the work. */
  result: 'floe.result',
} as const;

/** A batch id that sorts by creation time: `20261122t101500123z-<8 hex>`. */
export function newBatchId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '').toLowerCase();
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/** When a batch id (`20261122t101500123z-…`) was made, or undefined for another shape. */
export function batchIdTime(batchId: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})(\d{3})z-/.exec(batchId);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]) : undefined;
}

export function branchName(table: string, batchId: string): string {
  return `${WAP_PREFIX}${table}/${batchId}`;
}

export function parseBranchName(name: string): { table: string; batchId: string } | undefined {
  const match = /^wap\/([^/]+)\/([^/]+)$/.exec(name);
  return match ? { table: match[1], batchId: match[2] } : undefined;
}

/** One-valued commit property (Nessie v2 reports properties as lists). */
export function property(meta: CommitMeta | undefined, name: string): string | undefined {
  const value = meta?.allProperties?.[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface BranchHead {
  hash: string;
  meta?: CommitMeta;
}

/** The head of a branch and its commit metadata, or undefined when the branch does not exist. */
export async function branchHead(client: NessieClient, branch: string): Promise<BranchHead | undefined> {
  try {
    const ref = await client.getReference(branch, { fetch: 'ALL' });
    return { hash: ref.hash, meta: ref.metadata?.commitMetaOfHEAD };
  } catch (err) {
    if (err instanceof NessieNotFoundError) return undefined;
    throw err;
  }
}

/** The batch's branch (or what it should hold) is gone: it was published or cleaned up meanwhile. */
export class BatchGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchGoneError';
  }
}
