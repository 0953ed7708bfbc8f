/**
 * Prometheus metrics of a function (prom-client): the host's request counters and latency, plus whatever the
 * function registers (batch sizes, commit latency, audit outcomes) through `metrics.registry`.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const EVENT_LOOP_SAMPLE_MS = 200;

export interface FunctionMetrics {
  registry: Registry;
  eventsIn: Counter<'type'>;
  eventsOut: Counter<'type'>;
  errors: Counter<'status'>;
  duration: Histogram<'type'>;
}

export function createFunctionMetrics(
  functionName: string,
  options: { defaultMetrics?: boolean } = {},
): FunctionMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ function: functionName });
  // The event-loop delay histogram samples on a timer: at prom-client's default of every 10 ms that timer alone cost
  // an idle function process ~3.5 ms of CPU a second (several idle processes: a good share of the pipeline's CPU).
  // Five samples a second still give the scrape's percentiles.
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return {
    registry,
    eventsIn: new Counter({
      name: 'floe_events_received_total',
      help: 'CloudEvents received, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    eventsOut: new Counter({
      name: 'floe_events_emitted_total',
      help: 'CloudEvents replied or emitted, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'floe_event_errors_total',
      help: 'Requests answered with an error, by HTTP status',
      labelNames: ['status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'floe_handler_duration_seconds',
      help: 'Time from request to response, by event type',
      labelNames: ['type'],
      registers: [registry],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
  };
}
