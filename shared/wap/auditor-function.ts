/** The auditor function: `batch.written` → audit on the branch (`audit.ts`) → `batch.audited`. */
import { Counter } from 'prom-client';
import { batchWrittenSchema, EventType, expectType, payloadOf, type BatchWritten } from '../events/contract.ts';
import { loadTables } from '../catalog/tables.ts';
import { HandlerError, type FloeFunction } from '../runtime/host.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { tableNames, topicConfig } from '../runtime/pipeline-config.ts';
import { auditBatch, BatchGoneError } from './audit.ts';
import { batchAuditedEvent } from './batch-events.ts';
import { wapContext, type WapContext } from './context.ts';
import { coversAll, rangesFromPayload } from './offsets.ts';
import { publishedRanges } from './tables.ts';

/** Whether `main` already holds every Kafka coordinate of a batch. */
async function alreadyPublished(ctx: WapContext, topic: string, offsets: BatchWritten['offsets']): Promise<boolean> {
  const config = topicConfig(ctx.config, topic);
  if (!config) return false;
  const names = tableNames(ctx.config, config);
  const { tables } = await loadTables(ctx.catalog, 'main', [names.production, names.untrusted]);
  return coversAll(publishedRanges([...tables.values()].map((t) => t.metadata), topic), rangesFromPayload(offsets));
}

export function auditorFunction(runtime: Runtime): FloeFunction {
  const ctx = wapContext(runtime);
  const outcomes = new Counter({ name: 'floe_audit_batches_total', help: 'Audited batches by verdict', labelNames: ['verdict'], registers: [] });
  const rows = new Counter({ name: 'floe_audit_rows_total', help: 'Audited rows by outcome', labelNames: ['outcome'], registers: [] });
  return {
    name: 'auditor',
    metricsToRegister: [outcomes, rows],
    async handle(context, event) {
      expectType(event, EventType.batchWritten);
      const written = payloadOf(event, batchWrittenSchema);
      try {
        const audited = await auditBatch(ctx, written);
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
