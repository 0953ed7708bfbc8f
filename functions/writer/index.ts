/**
 * The writer function: tagged records join group-committed batches (`group-commit.ts`); each batch is written as
 * Parquet on its own WAP branch (`write-batch.ts`), the requests are answered once it is committed, and
 * `batch.written` goes to `K_SINK`.
 */
import { Histogram } from 'prom-client';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import {
  EventType,
  expectType,
  payloadOf,
  taggedRecordSchema,
  type BatchWritten,
  type TaggedRecord,
} from '../../shared/events/contract.ts';
import type { FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { batchWrittenEvent } from '../../shared/wap/batch-events.ts';
import { wapContext } from '../../shared/wap/wap-context.ts';
import { createBatcher } from './group-commit.ts';
import { writeBatch } from './write-batch.ts';
import { knativeFunction } from '../knative-function.ts';

export function writerFunction(runtime: Runtime): FloeFunction {
  const ctx = wapContext(runtime);
  const { batch } = runtime.env.pipeline;
  const batchRows = new Histogram({
    name: 'floe_batch_rows',
    help: 'Rows per written batch',
    buckets: [1, 10, 100, 1000, 5000, 10000, 50000],
    registers: [],
  });
  const commitSeconds = new Histogram({
    name: 'floe_batch_commit_seconds',
    help: 'Time to write and commit a batch to its WAP branch',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [],
  });
  let emit: ((event: CloudEventMessage) => Promise<void>) | undefined;
  const batcher = createBatcher<TaggedRecord, BatchWritten>({
    maxRows: batch.maxRows,
    maxBytes: batch.maxBytes,
    lingerMs: batch.linger,
    async flush(topic, records) {
      const stop = commitSeconds.startTimer();
      const written = await writeBatch(ctx, topic, records);
      stop();
      batchRows.observe(written.rows);
      ctx.log.info({ batchId: written.batchId, rows: written.rows, branch: written.branch }, 'batch written');
      // The branch, not this event, is the source of truth: a lost event is re-driven by the janitor.
      await emit?.(batchWrittenEvent(written)).catch((err) =>
        ctx.log.error({ err, batchId: written.batchId }, 'could not emit batch.written; the janitor will re-drive it'),
      );
      return written;
    },
  });
  return {
    name: 'writer',
    metricsToRegister: [batchRows, commitSeconds],
    async handle(context, event) {
      expectType(event, EventType.recordTagged);
      const record = payloadOf(event, taggedRecordSchema);
      emit ??= context.emit;
      await batcher.add(record.topic, record, event.data.byteLength);
    },
    async shutdown() {
      await batcher.drain();
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('writer', writerFunction);
