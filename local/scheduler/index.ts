/**
 * The local PingSource adapter: fires every PingSource of the manifests on its cron (croner: five fields, or six with
 * seconds first; `spec.timezone`, default UTC; day-of-month and day-of-week OR-ed like robfig/cron) and POSTs the
 * tick's event (./ping-event.ts) to its sink with PingSource's own small retry (5 retries, exponential from 50 ms),
 * after which the tick is lost, as in Knative — which is why floe's PingSources sink into the Broker, whose Triggers
 * retry and dead-letter. Knative's random 0–500 ms delay per tick is left out.
 *
 * `fire(name)` sends one tick now and waits until the broker delivered it (`floe-ack: delivered`), resolving with the
 * broker's DeliveryReport: `floe maintain` and the tests know when the job ran, or that it was dead-lettered.
 */
import { setMaxListeners } from 'node:events';
import { Cron } from 'croner';
import { createLogger, type Logger } from '../../shared/runtime/logger.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { ACK_HEADER, type DeliveryReport } from '../broker/index.ts';
import type { HttpResponse } from '../delivery/http.ts';
import { AbortedError, sendAttempt, withRetries } from '../delivery/retry.ts';
import type { DeliverySpec, Manifests, PingSource } from '../knative/manifests.ts';
import { pingEvent } from './ping-event.ts';

export { pingEvent, PING_EVENT_TYPE } from './ping-event.ts';

export interface SchedulerOptions {
  manifests: Manifests;
  /** The local broker's ingress: where PingSources that sink into a Broker send. */
  brokerUrl: string;
  /** Knative Service name → URL, for PingSources that sink into a Service. */
  services?: Record<string, string>;
  /** Namespace in the events' `source`. Default `floe`. */
  namespace?: string;
  logger?: Logger;
}

export interface RunningScheduler {
  /** Sends one tick of the named PingSource now; resolves once delivered (with the broker's report, when it sends one). */
  fire(name: string): Promise<DeliveryReport | undefined>;
  stop(): void;
}

/** PingSource's sender: 5 retries, exponential from 50 ms (pkg/adapter/mtping). */
const PING_DELIVERY: DeliverySpec = { retry: 5, backoffPolicy: 'exponential', backoffDelayMs: 50 };
/** Per attempt; for `fire`, only until the broker took the event over. */
const ATTEMPT_TIMEOUT_MS = 10_000;

export class SchedulerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchedulerError';
  }
}

export function startScheduler(options: SchedulerOptions): RunningScheduler {
  const logger = options.logger ?? createLogger({ name: 'scheduler' });
  const namespace = options.namespace ?? 'floe';
  const abort = new AbortController();
  // Every delivery in flight listens on this one signal.
  setMaxListeners(0, abort.signal);
  const sources = new Map(
    options.manifests.pingSources.map((source) => [source.name, { source, sink: sinkUrl(source, options) }]),
  );
  for (const { source } of sources.values()) checkData(source);
  const jobs: Cron[] = [];
  for (const { source, sink } of sources.values()) {
    let job: Cron;
    try {
      job = new Cron(
        source.schedule,
        { timezone: source.timezone ?? 'Etc/UTC', mode: '5-or-6-parts', name: source.name, catch: true },
        () => void tick(source, sink),
      );
    } catch (err) {
      for (const started of jobs) started.stop();
      throw new SchedulerError(
        `PingSource ${source.name}: schedule ${JSON.stringify(source.schedule)}: ${(err as Error).message}`,
      );
    }
    jobs.push(job);
    logger.info(
      { pingSource: source.name, schedule: source.schedule, next: job.nextRun()?.toISOString() },
      'PingSource scheduled',
    );
  }

  async function send(source: PingSource, sink: string, ack: 'accepted' | 'delivered'): Promise<HttpResponse> {
    const event = pingEvent(source, namespace);
    // Waiting for delivery may take as long as the job; the attempt's timeout only covers the broker taking it over.
    const untilAccepted = ack === 'delivered' ? { onAccepted: () => {} } : {};
    const result = await withRetries(
      PING_DELIVERY,
      (signal) =>
        sendAttempt(sink, event, {
          headers: { [ACK_HEADER]: ack },
          timeoutMs: ATTEMPT_TIMEOUT_MS,
          signal,
          ...untilAccepted,
        }),
      { signal: abort.signal },
    );
    if (!result.ok)
      throw new SchedulerError(
        `PingSource ${source.name}: ${sink} did not take the tick after ${result.attempts} attempts: ${result.failure.message}${bodyText(result.failure.body)}`,
      );
    return result.value;
  }

  async function tick(source: PingSource, sink: string): Promise<void> {
    try {
      await send(source, sink, 'accepted');
      logger.debug({ pingSource: source.name }, 'tick sent');
    } catch (err) {
      if (err instanceof AbortedError) return;
      logger.error({ err, pingSource: source.name }, 'tick lost');
    }
  }

  return {
    async fire(name) {
      const entry = sources.get(name);
      if (!entry)
        throw new SchedulerError(`no PingSource ${name} (known: ${[...sources.keys()].join(', ') || 'none'})`);
      const response = await send(entry.source, entry.sink, 'delivered');
      return String(response.headers['content-type'] ?? '').startsWith('application/json')
        ? parseJson<DeliveryReport>(response.body)
        : undefined;
    },
    stop() {
      for (const job of jobs) job.stop();
      abort.abort();
    },
  };
}

function sinkUrl(source: PingSource, options: SchedulerOptions): string {
  const { sink } = source;
  if (sink.kind === 'Broker') return options.brokerUrl;
  if (sink.kind === 'URI') return sink.uri;
  const base = options.services?.[sink.name];
  if (!base) throw new SchedulerError(`PingSource ${source.name}: its sink, service ${sink.name}, has no URL`);
  return sink.path ? new URL(sink.path, base).toString() : base;
}

function checkData(source: PingSource): void {
  const where = `PingSource ${source.name}`;
  if (source.data !== undefined && source.dataBase64 !== undefined)
    throw new SchedulerError(`${where}: data and dataBase64 are mutually exclusive`);
  if (source.dataBase64 !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(source.dataBase64))
    throw new SchedulerError(`${where}: dataBase64 is not base64`);
}

function bodyText(body: Uint8Array | undefined): string {
  return body && body.byteLength > 0 ? ` (${Buffer.from(body).toString().slice(0, 200)})` : '';
}
