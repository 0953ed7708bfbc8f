/**
 * The chain's functions as host-independent objects (`FloeFunction`): what each does with an event, its metrics, and
 * how it drains on shutdown. `functions/<name>/index.ts` only builds one of these from the environment.
 */
import { Counter, Histogram } from 'prom-client';
import { createEvent, InvalidEventError, type CloudEventMessage } from '../events/cloudevent.ts';
import {
  batchAuditedSchema, batchWrittenSchema, EventType, expectType, Extension, payloadOf, taggedRecordSchema,
  type BatchAudited, type BatchWritten, type TaggedRecord,
} from '../events/contract.ts';
import { tagRecord, taggedEvent, UnroutableRecordError } from '../events/tagging.ts';
import { loadTables } from '../catalog/tables.ts';
import { HandlerError, type FloeFunction } from '../runtime/host.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { tableNames, topicConfig } from '../runtime/pipeline-config.ts';
import { stringifyJson } from '../util/json.ts';
import { auditBatch, BatchGoneError } from './audit.ts';
import type { WapContext } from './context.ts';
import { createBatcher } from './group-commit.ts';
import { coversAll, rangesFromPayload } from './offsets.ts';
import { publishBatch } from './publish.ts';
import { publishedRanges } from './tables.ts';
import { writeBatch } from './write.ts';

function wapContext(runtime: Runtime): WapContext {
  return { catalog: runtime.catalog, config: runtime.env.pipeline, log: runtime.log };
}

/** A batch-stage event, keyed (partitionkey) by batch so a Kafka Broker keeps a batch's events in order. */
function batchEvent(type: string, stage: string, batch: { batchId: string; branch?: string; hash: string; table: string; topic: string }, data: unknown): CloudEventMessage {
  return createEvent({
    type, source: `/floe/${stage}`, id: `${batch.batchId}/${type.slice('dev.floe.'.length)}`, subject: batch.table, data,
    extensions: {
      [Extension.branch]: batch.branch, [Extension.hash]: batch.hash, [Extension.batch]: batch.batchId,
      [Extension.table]: batch.table, [Extension.topic]: batch.topic, [Extension.partitionKey]: batch.batchId,
    },
  });
}

export function batchWrittenEvent(written: BatchWritten): CloudEventMessage {
  return batchEvent(EventType.batchWritten, 'writer', written, written);
}

export function batchAuditedEvent(audited: BatchAudited): CloudEventMessage {
  return batchEvent(EventType.batchAudited, 'auditor', audited, audited);
}

/** Whether `main` already holds every Kafka coordinate of a batch. */
async function alreadyPublished(ctx: WapContext, topic: string, offsets: BatchWritten['offsets']): Promise<boolean> {
  const config = topicConfig(ctx.config, topic);
  if (!config) return false;
  const names = tableNames(ctx.config, config);
  const { tables } = await loadTables(ctx.catalog, 'main', [names.production, names.untrusted]);
  return coversAll(publishedRanges([...tables.values()].map((t) => t.metadata), topic), rangesFromPayload(offsets));
}

export function taggerFunction(runtime: Runtime): FloeFunction {
  const ctx = { config: runtime.env.pipeline, io: runtime.io, warehouse: runtime.env.warehouse };
  const malformed = new Counter({ name: 'floe_records_malformed_total', help: 'Records tagged malformed (kept for _untrusted)', registers: [] });
  return {
    name: 'tagger',
    metricsToRegister: [malformed],
    async handle(_context, event) {
      if (event.attributes.type.startsWith('dev.floe.')) throw new InvalidEventError(`the tagger takes Kafka records, not ${event.attributes.type}`);
      try {
        const record = await tagRecord(ctx, event);
        if (record.status === 'malformed') malformed.inc();
        return taggedEvent(record, event);
      } catch (err) {
        if (err instanceof UnroutableRecordError) throw new HandlerError(422, err.message);
        throw err;
      }
    },
  };
}

export function writerFunction(runtime: Runtime): FloeFunction {
  const ctx = wapContext(runtime);
  const { batch } = runtime.env.pipeline;
  const batchRows = new Histogram({ name: 'floe_batch_rows', help: 'Rows per written batch', buckets: [1, 10, 100, 1000, 5000, 10000, 50000], registers: [] });
  const commitSeconds = new Histogram({ name: 'floe_batch_commit_seconds', help: 'Time to write and commit a batch to its WAP branch', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers: [] });
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
      await emit?.(batchWrittenEvent(written)).catch((err) => ctx.log.error({ err, batchId: written.batchId }, 'could not emit batch.written; the janitor will re-drive it'));
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

export function publisherFunction(runtime: Runtime): FloeFunction {
  const ctx = wapContext(runtime);
  const outcomes = new Counter({ name: 'floe_publish_batches_total', help: 'Batches published or rejected, by method', labelNames: ['outcome', 'method'], registers: [] });
  const latency = new Histogram({ name: 'floe_publish_seconds', help: 'Time to publish a batch to main', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [] });
  return {
    name: 'publisher',
    metricsToRegister: [outcomes, latency],
    async handle(_context, event) {
      expectType(event, EventType.batchAudited);
      const audited = payloadOf(event, batchAuditedSchema);
      const stop = latency.startTimer();
      try {
        const outcome = await publishBatch(ctx, audited);
        if (outcome.kind === 'published') {
          outcomes.inc({ outcome: 'published', method: outcome.event.method });
          return batchEvent(EventType.batchPublished, 'publisher', { ...outcome.event, branch: audited.branch }, outcome.event);
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

/** The dead-letter sink: every event Knative could not deliver is kept as a JSON object under `deadletter/`. */
export function deadletterFunction(runtime: Runtime): FloeFunction {
  const stored = new Counter({ name: 'floe_deadletter_events_total', help: 'Dead-lettered events stored, by failed destination', labelNames: ['destination'], registers: [] });
  return {
    name: 'deadletter',
    metricsToRegister: [stored],
    async handle(context, event) {
      const now = new Date();
      const safeId = event.attributes.id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
      const location = `${runtime.env.warehouse}deadletter/${now.toISOString().slice(0, 10)}/${now.getTime()}-${safeId}.json`;
      await runtime.io.write(location, stringifyJson({
        attributes: event.attributes, data_base64: Buffer.from(event.data).toString('base64'), storedAt: now.toISOString(),
      }, 2), { contentType: 'application/json' });
      stored.inc({ destination: event.attributes.knativeerrordest ?? 'unknown' });
      context.log.warn({ id: event.attributes.id, type: event.attributes.type, destination: event.attributes.knativeerrordest, code: event.attributes.knativeerrorcode, location }, 'dead-lettered event stored');
    },
  };
}
