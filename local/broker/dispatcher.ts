/**
 * The broker's data plane: routes an event to every Trigger whose filters match, delivers it in binary mode with
 * `Prefer: reply` under the Trigger's delivery spec (retries with backoff, per-attempt timeout, then the dead-letter
 * sink), and routes a subscriber's reply event again — with one hop less to live (`knativebrokerttl`, like the
 * channel-based broker: a reply that matches its own Trigger stops after that many hops instead of looping forever).
 *
 * `dispatch` resolves when the event's whole delivery tree has completed: every matching Trigger either delivered it
 * (2xx) or dead-lettered it, and the same for every reply it led to. The ingress builds its guarantee on that.
 *
 * Every event dispatched — from the ingress or a reply — first gets its position in the Broker's topic, which
 * overwrites `knativekafkapartition`/`knativekafkaoffset` as the Kafka Broker's dispatcher does (./broker-topic.ts).
 */
import { setMaxListeners } from 'node:events';
import { fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import { postEvent, type HttpResponse } from '../delivery/http.ts';
import {
  AbortedError,
  deadLetterEvent,
  networkFailure,
  sendAttempt,
  statusResult,
  withRetries,
  type AttemptResult,
} from '../delivery/retry.ts';
import { matchesFilters } from '../knative/filters.ts';
import type { BrokerTopic } from './broker-topic.ts';
import type { Route } from './routes.ts';

/** What became of an event and everything it led to, counted in Trigger deliveries. */
export interface DeliveryReport {
  delivered: number;
  deadLettered: number;
  /** Neither delivered nor dead-lettered (no dead-letter sink, or it failed too): the event is lost here. */
  failed: number;
  /** The broker stopped before the tree completed. */
  aborted: boolean;
}

export interface TriggerStats {
  matched: number;
  delivered: number;
  retried: number;
  deadLettered: number;
  failed: number;
  /** Deliveries running now / waiting for a slot or their key. */
  active: number;
  queued: number;
}

export interface BrokerStats {
  /** Events accepted at the ingress (duplicates of an event in flight not counted). */
  received: number;
  /** Ingress requests for an event that was already in flight: joined, not delivered twice. */
  duplicates: number;
  /** Refused with 503 because the broker was full. */
  rejected: number;
  /** Refused with 4xx: not a CloudEvent, or too large. */
  invalid: number;
  /** Reply events routed again. */
  replies: number;
  /** Events dropped because their `knativebrokerttl` ran out. */
  ttlExpired: number;
  /** Events no Trigger matched. */
  unrouted: number;
  /** Accepted ingress events whose delivery tree has not completed (over Kafka: records not yet completed). */
  inFlight: number;
  triggers: Record<string, TriggerStats>;
}

export const TTL_EXTENSION = 'knativebrokerttl';
/** The channel-based broker's default hop budget. */
export const DEFAULT_TTL = 255;

const EMPTY: DeliveryReport = { delivered: 0, deadLettered: 0, failed: 0, aborted: false };

export interface Dispatcher {
  dispatch(event: CloudEventMessage, ttl: number): Promise<DeliveryReport>;
  /**
   * One delivery of an event to one Trigger's subscriber (in its lane, with its retries and dead-letter sink), without
   * routing the reply: the Kafka-backed Broker appends that to its topic itself.
   */
  deliver(route: Route, event: CloudEventMessage): Promise<Outcome>;
  stats: BrokerStats;
  /** Fails every delivery in flight or waiting (shutdown): their trees complete as aborted. */
  abort(): void;
}

export type Outcome =
  { kind: 'delivered'; reply: CloudEventMessage | undefined } | { kind: 'deadLettered' } | { kind: 'failed' };

export function createDispatcher(routes: Route[], topic: BrokerTopic, logger: Logger): Dispatcher {
  const controller = new AbortController();
  // Every delivery in flight listens on this one signal.
  setMaxListeners(0, controller.signal);
  const triggers: Record<string, TriggerStats> = {};
  for (const route of routes) {
    triggers[route.trigger.name] = {
      matched: 0,
      delivered: 0,
      retried: 0,
      deadLettered: 0,
      failed: 0,
      active: 0,
      queued: 0,
    };
  }
  const stats: BrokerStats = {
    received: 0,
    duplicates: 0,
    rejected: 0,
    invalid: 0,
    replies: 0,
    ttlExpired: 0,
    unrouted: 0,
    inFlight: 0,
    triggers,
  };

  async function dispatch(ingress: CloudEventMessage, ttl: number): Promise<DeliveryReport> {
    // The Kafka Broker's mutator runs before the Trigger's filter: filters see the Broker's position too.
    const event = topic.append(ingress);
    const matched = routes.filter((route) => matchesFilters(route.trigger.filters, event.attributes));
    if (matched.length === 0) {
      stats.unrouted++;
      logger.debug({ type: event.attributes.type, id: event.attributes.id }, 'no Trigger matches the event');
    }
    const reports = await Promise.all(matched.map((route) => deliverVia(route, event, ttl)));
    return reports.reduce(sum, EMPTY);
  }

  async function deliverVia(route: Route, event: CloudEventMessage, ttl: number): Promise<DeliveryReport> {
    const counters = triggers[route.trigger.name];
    counters.matched++;
    let outcome: Outcome;
    try {
      // The lane's slot is held for the delivery (and dead-lettering) only, not while the reply is routed: a
      // Trigger at its limit must not wait on deliveries its own replies need.
      outcome = await route.lane.run(route.ordered ? event.attributes.partitionkey : undefined, () =>
        deliverOnce(route, event, counters),
      );
    } catch (err) {
      if (err instanceof AbortedError) return { ...EMPTY, failed: 1, aborted: true };
      throw err;
    }
    if (outcome.kind === 'deadLettered') return { ...EMPTY, deadLettered: 1 };
    if (outcome.kind === 'failed') return { ...EMPTY, failed: 1 };
    const delivered = { ...EMPTY, delivered: 1 };
    return outcome.reply ? sum(delivered, await routeReply(route, outcome.reply, ttl)) : delivered;
  }

  async function deliverOnce(route: Route, event: CloudEventMessage, counters: TriggerStats): Promise<Outcome> {
    const { delivery } = route;
    // Made only when there is something to log: most deliveries succeed at once.
    const log = () =>
      logger.child({ trigger: route.trigger.name, type: event.attributes.type, id: event.attributes.id });
    const result = await withRetries(
      delivery,
      (signal) => attemptDelivery(route.url, event, delivery.timeoutMs, signal),
      {
        signal: controller.signal,
        onRetry: (failure, attempt) => {
          counters.retried++;
          log().debug({ attempt, status: failure.status, reason: failure.message }, 'delivery failed; retrying');
        },
      },
    );
    if (result.ok) {
      counters.delivered++;
      return { kind: 'delivered', reply: result.value };
    }
    const reason = { status: result.failure.status, reason: result.failure.message, attempts: result.attempts };
    if (!route.deadLetterUrl) {
      counters.failed++;
      log().error(reason, 'delivery failed and the Trigger has no dead-letter sink: not delivered');
      return { kind: 'failed' };
    }
    const dead = deadLetterEvent(event, route.url, result.failure);
    const deadLetterUrl = route.deadLetterUrl;
    const sent = await withRetries(
      delivery,
      (signal) => sendAttempt(deadLetterUrl, dead, { timeoutMs: delivery.timeoutMs, signal }),
      { signal: controller.signal },
    );
    if (sent.ok) {
      counters.deadLettered++;
      log().warn(reason, 'delivery failed; event sent to the dead-letter sink');
      return { kind: 'deadLettered' };
    }
    counters.failed++;
    log().error(
      { ...reason, deadLetter: sent.failure.message },
      'delivery failed and so did the dead-letter sink: not delivered',
    );
    return { kind: 'failed' };
  }

  function routeReply(route: Route, reply: CloudEventMessage, ttl: number): Promise<DeliveryReport> {
    if (ttl <= 1) {
      stats.ttlExpired++;
      logger.warn(
        { trigger: route.trigger.name, type: reply.attributes.type, id: reply.attributes.id },
        `reply dropped: ${TTL_EXTENSION} exhausted (an event loop?)`,
      );
      return Promise.resolve(EMPTY);
    }
    stats.replies++;
    return dispatch(withoutTtl(reply), ttl - 1);
  }

  function deliver(route: Route, event: CloudEventMessage): Promise<Outcome> {
    const counters = triggers[route.trigger.name];
    counters.matched++;
    return route.lane.run(undefined, () => deliverOnce(route, event, counters));
  }

  return { dispatch, deliver, stats, abort: () => controller.abort() };
}

/** The subscriber's answer: 2xx with nothing or a CloudEvent succeeds; any other 2xx body is a failure (NOTES §2.3). */
async function attemptDelivery(
  url: string,
  event: CloudEventMessage,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<AttemptResult<CloudEventMessage | undefined>> {
  let response: HttpResponse;
  try {
    response = await postEvent(url, event, { headers: { prefer: 'reply' }, timeoutMs, signal });
  } catch (err) {
    return networkFailure(err);
  }
  const failure = { body: response.body, headers: response.headers };
  if (response.status < 200 || response.status >= 300)
    return statusResult(response.status, undefined, { ...failure, message: `${url} answered ${response.status}` });
  // 202 is an acknowledgement, never a reply.
  if (response.status === 202 || (response.body.byteLength === 0 && !carriesCloudEvent(response)))
    return { ok: true, value: undefined };
  if (!carriesCloudEvent(response)) {
    return {
      ok: false,
      retryable: false,
      failure: {
        ...failure,
        status: response.status,
        message: `${url} answered ${response.status} with a body that is not a CloudEvent; the answer must be empty or a CloudEvent`,
      },
    };
  }
  try {
    return { ok: true, value: fromHttp(response.headers, response.body) };
  } catch (err) {
    return {
      ok: false,
      retryable: false,
      failure: {
        ...failure,
        status: response.status,
        message: `${url} replied with an invalid CloudEvent: ${(err as Error).message}`,
      },
    };
  }
}

function carriesCloudEvent(response: HttpResponse): boolean {
  return (
    response.headers['ce-specversion'] !== undefined ||
    String(response.headers['content-type'] ?? '')
      .toLowerCase()
      .startsWith('application/cloudevents')
  );
}

export function withoutTtl(event: CloudEventMessage): CloudEventMessage {
  if (!(TTL_EXTENSION in event.attributes)) return event;
  const { [TTL_EXTENSION]: _ttl, ...attributes } = event.attributes;
  return { attributes, data: event.data };
}

function sum(a: DeliveryReport, b: DeliveryReport): DeliveryReport {
  return {
    delivered: a.delivered + b.delivered,
    deadLettered: a.deadLettered + b.deadLettered,
    failed: a.failed + b.failed,
    aborted: a.aborted || b.aborted,
  };
}
