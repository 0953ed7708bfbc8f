/** The tagger function: KafkaSource events → tagged records (`shared/events/tagging.ts`), replied 1:1. */
import { Counter } from 'prom-client';
import { InvalidEventError } from './cloudevent.ts';
import { tagRecord, taggedEvent, UnroutableRecordError } from './tagging.ts';
import { HandlerError, type FloeFunction } from '../runtime/host.ts';
import type { Runtime } from '../runtime/runtime.ts';

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
