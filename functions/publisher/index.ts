/**
 * The publisher function: `batch.audited` → one atomic publish to `main` across the batch's tables
 * (`publish-batch.ts`) → `batch.published` or `batch.rejected`.
 */
import { Counter, Histogram } from 'prom-client';
import { batchAuditedSchema, EventType, expectType, payloadOf } from '../../shared/events/contract.ts';
import { HandlerError, type FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { BatchGoneError } from '../../shared/wap/batch-branches.ts';
import { batchEvent } from '../../shared/wap/batch-events.ts';
import { withOffsetsHistory } from '../../shared/wap/offsets-repair.ts';
import { wapContext } from '../../shared/wap/wap-context.ts';
import { publishBatch } from './publish-batch.ts';
import { knativeFunction } from '../knative-function.ts';

export function publisherFunction(runtime: Runtime): FloeFunction {
  const ctx = wapContext(runtime);
  const outcomes = new Counter({
    name: 'floe_publish_batches_total',
    help: 'Batches published or rejected, by method',
    labelNames: ['outcome', 'method'],
    registers: [],
  });
  const latency = new Histogram({
    name: 'floe_publish_seconds',
    help: 'Time to publish a batch to main',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [],
  });
  return {
    name: 'publisher',
    metricsToRegister: [outcomes, latency],
    async handle(_context, event) {
      expectType(event, EventType.batchAudited);
      const audited = payloadOf(event, batchAuditedSchema);
      const stop = latency.startTimer();
      try {
        // Another engine may have expired the snapshots recording what was published: recovered, then published again.
        const outcome = await withOffsetsHistory(ctx, audited.topic, () => publishBatch(ctx, audited));
        if (outcome.kind === 'published') {
          outcomes.inc({ outcome: 'published', method: outcome.event.method });
          return batchEvent(
            EventType.batchPublished,
            'publisher',
            { ...outcome.event, branch: audited.branch },
            outcome.event,
          );
        }
        outcomes.inc({ outcome: 'rejected', method: 'untrusted' });
        return batchEvent(EventType.batchRejected, 'publisher', outcome.event, outcome.event);
      } catch (err) {
        if (err instanceof BatchGoneError) throw new HandlerError(422, err.message);
        throw err;
      } finally {
        stop();
      }
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('publisher', publisherFunction);
