/** The auditor function: `batch.written` → the rules applied on the batch's branch (`audit-step.ts`) → `batch.audited`. */
import { Counter } from 'prom-client';
import {
  batchWrittenSchema,
  EventType,
  expectType,
  payloadOf,
  type BatchWritten,
} from '../../shared/events/contract.ts';
import { loadTables } from '../../shared/catalog/table-catalog.ts';
import { HandlerError, type FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { tableNames, topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { auditBatch } from './audit-step.ts';
import { bloomFilterCache } from './published-keys.ts';
import { BatchGoneError } from '../../shared/wap/batch-branches.ts';
import { batchAuditedEvent } from '../../shared/wap/batch-events.ts';
import { wapContext, type WapContext } from '../../shared/wap/wap-context.ts';
import { coversAll, rangesFromPayload } from '../../shared/wap/kafka-offsets.ts';
import { withOffsetsHistory } from '../../shared/wap/offsets-repair.ts';
import { confirmedOffsets } from '../../shared/wap/published-offsets.ts';
import { knativeFunction } from '../knative-function.ts';

/** Whether `main` already holds every Kafka coordinate of a batch. */
async function alreadyPublished(ctx: WapContext, topic: string, offsets: BatchWritten['offsets']): Promise<boolean> {
  const config = topicConfig(ctx.config, topic);
  if (!config) return false;
  const names = tableNames(ctx.config, config);
  const { tables } = await loadTables(ctx.catalog, 'main', [names.production, names.untrusted]);
  const batch = rangesFromPayload(offsets);
  const held = await confirmedOffsets(
    ctx.catalog.io,
    [...tables.values()].map((t) => t.metadata),
    topic,
    batch,
  );
  return coversAll(held.ranges, batch);
}

export function auditorFunction(runtime: Runtime): FloeFunction {
  const ctx = wapContext(runtime);
  bloomFilterCache.resize(runtime.env.auditBloomCacheBytes);
  const outcomes = new Counter({
    name: 'floe_audit_batches_total',
    help: 'Audited batches by verdict',
    labelNames: ['verdict'],
    registers: [],
  });
  const rows = new Counter({
    name: 'floe_audit_rows_total',
    help: 'Audited rows by outcome',
    labelNames: ['outcome'],
    registers: [],
  });
  return {
    name: 'auditor',
    metricsToRegister: [outcomes, rows],
    async handle(context, event) {
      expectType(event, EventType.batchWritten);
      const written = payloadOf(event, batchWrittenSchema);
      try {
        // Another engine may have expired the snapshots recording what was published: recovered, then audited again.
        const audited = await withOffsetsHistory(ctx, written.topic, () => auditBatch(ctx, written), [
          'main',
          written.branch,
        ]);
        outcomes.inc({ verdict: audited.verdict });
        rows.inc({ outcome: 'trusted' }, audited.trusted);
        rows.inc({ outcome: 'untrusted' }, audited.untrusted);
        return batchAuditedEvent(audited);
      } catch (err) {
        if (!(err instanceof BatchGoneError)) throw err;
        if (await alreadyPublished(ctx, written.topic, written.offsets)) {
          context.log.info({ batchId: written.batchId }, 'batch already published; redelivered event ignored');
          return;
        }
        throw new HandlerError(422, err.message);
      }
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('auditor', auditorFunction);
