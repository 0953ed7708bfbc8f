/**
 * The tagger function: a KafkaSource event becomes a tagged record (routed to its table, stamped with the ingestion
 * metadata, binaries claim-checked — `tagging.ts`). An unparsable value is still tagged, as malformed.
 *
 * The tagger is the KafkaSources' sink itself, not a Trigger subscriber: only the KafkaSource's own delivery carries
 * the source coordinates of a record that is a CloudEvent (`kafka-record.ts`). A KafkaSource discards its sink's reply,
 * so the tagged record goes to `K_SINK` (the Broker), and the tagger answers 2xx only once the Broker accepted it: a
 * failed emit is a 5xx, the KafkaSource retries, and the record's offset is committed only after the hand-over.
 */
import { Counter } from 'prom-client';
import { InvalidEventError } from '../../shared/events/cloudevent.ts';
import { malformedRecord, tagRecord, taggedEvent, UnroutableRecordError } from './tagging.ts';
import { HandlerError, type FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { knativeFunction } from '../knative-function.ts';

export function taggerFunction(runtime: Runtime): FloeFunction {
  const ctx = { config: runtime.env.pipeline, io: runtime.io, warehouse: runtime.env.warehouse };
  const malformed = new Counter({
    name: 'floe_records_malformed_total',
    help: 'Records tagged malformed (kept for _untrusted)',
    registers: [],
  });
  return {
    name: 'tagger',
    metricsToRegister: [malformed],
    async handle(context, event) {
      if (event.attributes.type.startsWith('dev.floe.'))
        throw new InvalidEventError(`the tagger takes Kafka records, not ${event.attributes.type}`);
      try {
        let record = await tagRecord(ctx, event);
        let reply;
        try {
          reply = taggedEvent(record);
        } catch (err) {
          // A payload that cannot be serialised is this record's problem: it is sent on as malformed, not retried.
          record = malformedRecord(record, `could not be tagged: ${(err as Error).message}`);
          reply = taggedEvent(record);
        }
        if (record.status === 'malformed') malformed.inc();
        await context.emit(reply);
      } catch (err) {
        if (err instanceof UnroutableRecordError) throw new HandlerError(422, err.message);
        throw err;
      }
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('tagger', taggerFunction);
