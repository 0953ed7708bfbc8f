/**
 * The batch-stage events of the chain (`batch.written`, `batch.audited`, `batch.published`, `batch.rejected`), keyed
 * (`partitionkey`) by batch so a Kafka Broker keeps a batch's events in order. The writer, auditor and publisher emit
 * them; the janitor re-emits the first two for stalled batches.
 */
import { createEvent, type CloudEventMessage } from '../events/cloudevent.ts';
import { EventType, Extension, type BatchAudited, type BatchWritten } from '../events/contract.ts';

export function batchEvent(
  type: string,
  stage: string,
  batch: { batchId: string; branch?: string; hash: string; table: string; topic: string },
  data: unknown,
): CloudEventMessage {
  return createEvent({
    type,
    source: `/floe/${stage}`,
    id: `${batch.batchId}/${type.slice('dev.floe.'.length)}`,
    subject: batch.table,
    data,
    extensions: {
      [Extension.branch]: batch.branch,
      [Extension.hash]: batch.hash,
      [Extension.batch]: batch.batchId,
      [Extension.table]: batch.table,
      [Extension.topic]: batch.topic,
      [Extension.partitionKey]: batch.batchId,
    },
  });
}

export function batchWrittenEvent(written: BatchWritten): CloudEventMessage {
  return batchEvent(EventType.batchWritten, 'writer', written, written);
}

export function batchAuditedEvent(audited: BatchAudited): CloudEventMessage {
  return batchEvent(EventType.batchAudited, 'auditor', audited, audited);
}
