/** The dead-letter sink: every event Knative could not deliver is kept as a JSON object under `deadletter/`. */
import { Counter } from 'prom-client';
import type { FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { knativeFunction } from '../knative-function.ts';

export function deadletterFunction(runtime: Runtime): FloeFunction {
  const stored = new Counter({
    name: 'floe_deadletter_events_total',
    help: 'Dead-lettered events stored, by failed destination',
    labelNames: ['destination'],
    registers: [],
  });
  return {
    name: 'deadletter',
    metricsToRegister: [stored],
    async handle(context, event) {
      const now = new Date();
      const safeId = event.attributes.id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
      const location = `${runtime.env.warehouse}deadletter/${now.toISOString().slice(0, 10)}/${now.getTime()}-${safeId}.json`;
      await runtime.io.write(
        location,
        stringifyJson(
          {
            attributes: event.attributes,
            data_base64: Buffer.from(event.data).toString('base64'),
            storedAt: now.toISOString(),
          },
          2,
        ),
        { contentType: 'application/json' },
      );
      stored.inc({ destination: event.attributes.knativeerrordest ?? 'unknown' });
      context.log.warn(
        {
          id: event.attributes.id,
          type: event.attributes.type,
          destination: event.attributes.knativeerrordest,
          code: event.attributes.knativeerrorcode,
          location,
        },
        'dead-lettered event stored',
      );
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('deadletter', deadletterFunction);
