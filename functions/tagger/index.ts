/**
 * The tagger function: a KafkaSource event becomes a tagged record (routed to its table, stamped with the ingestion
 * metadata, binaries claim-checked — `tagging.ts`), replied 1:1. An unparsable value is still tagged, as malformed.
 */
import { Counter } from 'prom-client';
import { InvalidEventError } from '../../shared/events/cloudevent.ts';
import { malformedRecord, tagRecord, taggedEvent, UnroutableRecordError } from './tagging.ts';
import { HandlerError, type FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { knativeFunction } from '../knative-function.ts';

export function taggerFunction(runtime: Runtime): FloeFunction {
  const ctx = { config: runtime.env.pipeline, io: runtime.io, warehouse: runtime.env.warehouse };
  const malformed = new Counter({ name: 'floe_records_malformed_total', help: 'Records tagged malformed (kept for _untrusted)', registers: [] });
  return {
    name: 'tagger',
    metricsToRegister: [malformed],
    async handle(_context, event) {
      if (event.attributes.type.startsWith('dev.floe.')) throw new InvalidEventError(`the tagger takes Kafka records, not ${event.attributes.type}`);
      try {
        let record = await tagRecord(ctx, event);
        let reply;
        try {
          reply = taggedEvent(record, event);
        } catch (err) {
          // A payload that cannot be serialised is this record's problem: it is sent on as malformed, not retried.
          record = malformedRecord(record, `could not be tagged: ${(err as Error).message}`);
          reply = taggedEvent(record, event);
        }
        if (record.status === 'malformed') malformed.inc();
        return reply;
      } catch (err) {
        if (err instanceof UnroutableRecordError) throw new HandlerError(422, err.message);
        throw err;
      }
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('tagger', taggerFunction);
