/**
 * Stale Write-Audit-Publish branches (`wap/<table>/<batch>`), judged by their head commit: its `floe.stage`, its age,
 * and whether `main` already holds the batch's Kafka offsets (then it is published).
 * - published and passed: the publisher did not get to delete the branch → delete it;
 * - published and failed the audit (its rows went to `_untrusted`): kept for inspection for the rejected retention
 *   (default 7 days), then deleted;
 * - not published, head older than the stall threshold (default 2 minutes): the event that should move it on was
 *   lost → re-emit `batch.written` or `batch.audited` from the payload the stage recorded (every step is idempotent);
 * - no floe commit at all (the writer died between creating the branch and committing): deleted once older than the
 *   threshold — the writer never acknowledged its records, so Kafka delivers them again.
 * A branch that moves while being deleted is left for the next run (deletes are compare-and-swap on its hash).
 */
import { NessieNotFoundError, NessieReferenceConflictError, type NamedReference } from '../catalog/nessie/index.ts';
import { loadTables, type Catalog } from '../catalog/table-catalog.ts';
import { batchAuditedSchema, batchWrittenSchema } from '../events/contract.ts';
import type { Emit } from '../runtime/event-emitter.ts';
import type { Logger } from '../runtime/logger.ts';
import { tableNames, topicConfig, type PipelineConfig } from '../runtime/pipeline-config.ts';
import type { TableMetadata } from '../iceberg/types.ts';
import { parseJson } from '../util/lossless-json.ts';
import { batchIdTime, parseBranchName, property, Property, Stage, WAP_PREFIX } from './batch-branches.ts';
import { batchAuditedEvent, batchWrittenEvent } from './batch-events.ts';
import { coversAll, rangesFromPayload, type OffsetRanges } from './kafka-offsets.ts';
import { confirmedOffsets } from './published-offsets.ts';

export const DEFAULT_STALL_AFTER_MS = 2 * 60_000;
export const DEFAULT_REJECTED_RETENTION_MS = 7 * 86_400_000;

export interface BranchOptions {
  config: PipelineConfig;
  log: Logger;
  now?: () => number;
  dryRun?: boolean;
  stallAfterMs?: number;
  rejectedRetentionMs?: number;
  /** Where re-driven events go; without it stalled batches are only reported. */
  emit?: Emit;
}

export interface BranchAction {
  branch: string;
  /** What was done; `delete`/`redrive` are what a dry run would have done. */
  action: 'deleted' | 'redriven' | 'kept' | 'waiting' | 'stalled' | 'failed' | 'delete' | 'redrive';
  reason: string;
  stage?: string;
  ageMs: number;
}

export interface BranchResult {
  branches: number;
  actions: BranchAction[];
  deleted: number;
  redriven: number;
  errors: string[];
}

type Plan = {
  do: 'delete' | 'redrive' | 'keep' | 'wait' | 'stalled';
  reason: string;
  event?: ReturnType<typeof batchWrittenEvent>;
};

export async function cleanWapBranches(catalog: Catalog, options: BranchOptions): Promise<BranchResult> {
  const now = (options.now ?? Date.now)();
  const stallAfter = options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
  const retention = options.rejectedRetentionMs ?? DEFAULT_REJECTED_RETENTION_MS;
  const result: BranchResult = { branches: 0, actions: [], deleted: 0, redriven: 0, errors: [] };
  const tablesOnMain = new Map<string, Promise<(TableMetadata | undefined)[]>>();
  /** Whether main holds every record of a batch (its rows confirm what a closed hole only claims). */
  const onMain = async (topic: string, offsets: OffsetRanges) => {
    let tables = tablesOnMain.get(topic);
    if (!tables) {
      const cfg = topicConfig(options.config, topic);
      if (!cfg) throw new Error(`topic '${topic}' is not configured`);
      const names = tableNames(options.config, cfg);
      tables = loadTables(catalog, 'main', [names.production, names.untrusted]).then(({ tables: loaded }) =>
        [...loaded.values()].map((t) => t.metadata),
      );
      tablesOnMain.set(topic, tables);
    }
    return coversAll((await confirmedOffsets(catalog.io, await tables, topic, offsets)).ranges, offsets);
  };

  const judge = async (
    ref: NamedReference,
    batchId: string,
  ): Promise<{ plan: Plan; stage?: string; ageMs: number }> => {
    const meta = ref.metadata?.commitMetaOfHEAD;
    const stage = property(meta, Property.stage);
    const headTime = Date.parse(meta?.commitTime ?? '');
    if (property(meta, Property.batchId) !== batchId || (stage !== Stage.written && stage !== Stage.audited)) {
      // The head is still main's commit the branch was cut from: its age says nothing; the batch id says when.
      const ageMs = now - (batchIdTime(batchId) ?? (Number.isFinite(headTime) ? headTime : now));
      return ageMs > stallAfter
        ? {
            plan: { do: 'delete', reason: 'the writer never committed the batch (Kafka redelivers its records)' },
            ageMs,
          }
        : { plan: { do: 'wait', reason: 'the writer may still commit' }, ageMs };
    }
    const ageMs = now - (Number.isFinite(headTime) ? headTime : now);
    const text = property(meta, Property.result);
    if (!text) throw new Error(`head commit has no ${Property.result}`);
    const payload = { ...parseJson<Record<string, unknown>>(text), hash: ref.hash };
    const parsed = stage === Stage.written ? batchWrittenSchema.parse(payload) : batchAuditedSchema.parse(payload);
    const failed = stage === Stage.audited && (parsed as { verdict?: string }).verdict === 'failed';
    if (await onMain(parsed.topic, rangesFromPayload(parsed.offsets))) {
      if (!failed) return { plan: { do: 'delete', reason: 'published; its branch was left behind' }, stage, ageMs };
      return ageMs > retention
        ? { plan: { do: 'delete', reason: 'rejected batch past its retention' }, stage, ageMs }
        : {
            plan: {
              do: 'keep',
              reason: `rejected batch kept for inspection until ${new Date(now - ageMs + retention).toISOString()}`,
            },
            stage,
            ageMs,
          };
    }
    if (ageMs <= stallAfter)
      return { plan: { do: 'wait', reason: `${stage}; the next step may still be under way` }, stage, ageMs };
    const event =
      stage === Stage.written
        ? batchWrittenEvent(batchWrittenSchema.parse(payload))
        : batchAuditedEvent(batchAuditedSchema.parse(payload));
    return options.emit
      ? {
          plan: { do: 'redrive', reason: `stalled after ${stage}: re-emitting ${event.attributes.type}`, event },
          stage,
          ageMs,
        }
      : {
          plan: { do: 'stalled', reason: `stalled after ${stage}; no sink to re-emit ${event.attributes.type} to` },
          stage,
          ageMs,
        };
  };

  const references = await catalog.client.listReferences({ fetch: 'ALL' });
  for (const ref of references) {
    if (ref.type !== 'BRANCH' || !ref.name.startsWith(WAP_PREFIX)) continue;
    const parsed = parseBranchName(ref.name);
    if (!parsed) continue;
    result.branches++;
    let judged: Awaited<ReturnType<typeof judge>>;
    try {
      judged = await judge(ref, parsed.batchId);
    } catch (err) {
      const reason = `cannot judge: ${(err as Error).message}`;
      result.errors.push(`${ref.name}: ${reason}`);
      result.actions.push({ branch: ref.name, action: 'failed', reason, ageMs: 0 });
      continue;
    }
    const { plan, stage, ageMs } = judged;
    const record = (action: BranchAction['action'], reason = plan.reason) => {
      result.actions.push({ branch: ref.name, action, reason, ...(stage ? { stage } : {}), ageMs });
      options.log.info({ branch: ref.name, action, reason, dryRun: options.dryRun ?? false }, 'wap branch');
    };
    if (plan.do === 'wait') record('waiting');
    else if (plan.do === 'keep') record('kept');
    else if (plan.do === 'stalled') record('stalled');
    else if (options.dryRun) record(plan.do);
    else if (plan.do === 'redrive') {
      try {
        await options.emit!(plan.event!);
        result.redriven++;
        record('redriven');
      } catch (err) {
        result.errors.push(`${ref.name}: re-emit failed: ${(err as Error).message}`);
        record('failed', `re-emit failed: ${(err as Error).message}`);
      }
    } else {
      try {
        await catalog.client.deleteReference(ref.name, 'BRANCH', ref.hash);
        result.deleted++;
        record('deleted');
      } catch (err) {
        if (err instanceof NessieNotFoundError) record('deleted', `${plan.reason} (already gone)`);
        else if (err instanceof NessieReferenceConflictError)
          record('waiting', 'the branch moved meanwhile; judged again next run');
        else {
          result.errors.push(`${ref.name}: delete failed: ${(err as Error).message}`);
          record('failed', `delete failed: ${(err as Error).message}`);
        }
      }
    }
  }
  return result;
}
