/**
 * The local Broker: the Knative Broker `default` of `knative/` on one machine. Its ingress takes binary or structured
 * CloudEvents on `POST /` (or `/<namespace>/<broker>`, the cluster's ingress path); the Triggers come from the same
 * manifests as the cluster's and are delivered by ./dispatcher.ts to the functions' URLs.
 *
 * With `kafka` (what the local stack runs) it is a Kafka Broker (./kafka-log.ts): the ingress answers 202 once the
 * event is in the Broker's Kafka topic, and the dispatcher's consumer group delivers from there and commits a record
 * once every matching Trigger completed it. A sender never waits for the deliveries behind the Broker, and what the Broker acknowledged survives its
 * crash and its subscribers'. `floe-ack` is accepted and means nothing there: every answer already is a durable one.
 * Backpressure: beyond `maxInFlight` events waiting for Kafka's acknowledgement the ingress answers 503 with
 * Retry-After; 503 too when Kafka does not take the event.
 *
 * Without `kafka` it keeps events in memory, for tests of routing and delivery. An early acknowledgement would then let
 * a KafkaSource commit the offset of an event that a crash loses, so a sender may send `floe-ack: delivered` (or the
 * query `?floe-ack=delivered`) and gets its final answer only when the event's whole delivery tree completed: every
 * matching Trigger delivered it (2xx) or dead-lettered it, and so did every reply it led to. The broker sends
 * `102 Processing` the moment it has taken the event over (an `ordered` source dispatches its next record then).
 * Final answers to `floe-ack: delivered`: 202 with the DeliveryReport (all delivered or dead-lettered); 502 when a
 * delivery was neither (no dead-letter sink, or it failed too); 503 when the broker is full or stopping. Every tree
 * ends: each delivery is bounded by its Trigger's retries and timeouts, and every reply hop spends one unit of
 * `knativebrokerttl`. Without the header the answer is 202 once the event is accepted. At most `maxInFlight` ingress
 * events are held (beyond: 503 with Retry-After); replies are never refused (refusing them would deadlock a full
 * broker). A POST of an event already in flight (same source and id) joins it instead of delivering it twice.
 *
 * Either way, what reaches a Trigger is what the Kafka Broker's dispatcher sends (./broker-topic.ts): each event gets
 * its position in the Broker's topic, and `knativekafkapartition`/`knativekafkaoffset` are overwritten with it — a
 * KafkaSource's values for the source topic do not survive the Broker.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromHttp, InvalidEventError, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { createLogger, type Logger } from '../../shared/runtime/logger.ts';
import type { Manifests } from '../knative/manifests.ts';
import { brokerTopicPartitions, createBrokerTopic, type BrokerTopic } from './broker-topic.ts';
import {
  createDispatcher,
  DEFAULT_TTL,
  TTL_EXTENSION,
  withoutTtl,
  type BrokerStats,
  type DeliveryReport,
} from './dispatcher.ts';
import { startKafkaLog, type KafkaLog } from './kafka-log.ts';
import { brokerName, resolveRoutes } from './routes.ts';

export type { BrokerStats, DeliveryReport, TriggerStats } from './dispatcher.ts';
export { brokerTopicPartitions, createBrokerTopic, type BrokerTopic } from './broker-topic.ts';
export { BrokerConfigError } from './routes.ts';
export { brokerTopicName, dispatcherGroupId } from './kafka-log.ts';

/** Request header asking for the final answer only once the event's delivery tree completed. */
export const ACK_HEADER = 'floe-ack';
export type AckMode = 'accepted' | 'delivered';

export interface BrokerOptions {
  manifests: Manifests;
  /** Knative Service name → base URL of the running function. Every subscriber and dead-letter sink must be here. */
  services: Record<string, string>;
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger?: Logger;
  /** Which Broker of the manifests to run; default its only one, or `default`. */
  broker?: string;
  /** Ingress events held in memory before the ingress answers 503. Default 10 000. */
  maxInFlight?: number;
  /** Hop budget of an ingress event without `knativebrokerttl`. Default 255. */
  ttl?: number;
  /** Largest accepted event. Default 16 MiB. */
  bodyLimitBytes?: number;
  /**
   * The in-memory Broker's topic positions. Default: a new topic with the partitions of the Broker's ConfigMap. Pass
   * the same one to a restarted broker so that positions keep growing, as in a Kafka topic.
   */
  topic?: BrokerTopic;
  /**
   * Run over a Kafka topic (`knative-broker-<namespace>-<broker>`, created with the partitions of the Broker's
   * ConfigMap when absent): the bootstrap servers. A Broker started again on the same Kafka goes on where its
   * dispatcher's consumer group committed.
   */
  kafka?: { brokers: string[]; namespace?: string };
}

export interface RunningBroker {
  /** The ingress URL (what `K_SINK` and the sources' sinks point at). */
  url: string;
  port: number;
  /** Over Kafka: the Broker's topic and the consumer group its dispatcher commits in. */
  kafka?: { topic: string; groupId: string };
  stats(): BrokerStats;
  /** Resolves when no ingress event is in flight (over Kafka: every record of the topic is completed). */
  drain(): Promise<void>;
  /** Stops accepting, aborts what is in flight (senders waiting for delivery get 503), closes the listener. */
  stop(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const logger = options.logger ?? createLogger({ name: 'broker' });
  const name = brokerName(options.manifests, options.broker);
  const routes = resolveRoutes(options.manifests, name, options.services);
  const topic =
    options.topic ??
    createBrokerTopic(
      brokerTopicPartitions(
        options.manifests,
        options.manifests.brokers.find((b) => b.name === name),
      ),
    );
  const dispatcher = createDispatcher(routes, topic, logger);
  const { stats } = dispatcher;
  const log: KafkaLog | undefined = options.kafka
    ? await startKafkaLog({
        brokers: options.kafka.brokers,
        namespace: options.kafka.namespace ?? 'floe',
        broker: name,
        partitions: topic.partitions,
        routes,
        dispatcher,
        logger,
      })
    : undefined;
  const maxInFlight = options.maxInFlight ?? 10_000;
  const defaultTtl = options.ttl ?? DEFAULT_TTL;
  const bodyLimit = options.bodyLimitBytes ?? 16 * 1024 * 1024;
  const inFlight = new Map<string, Promise<DeliveryReport>>();
  let drainers: (() => void)[] = [];
  let stopping = false;
  let handlers = 0;
  let handlersDone: (() => void) | undefined;

  /** Starts the event's delivery tree, or joins the one in flight; undefined when the broker is full. */
  function admit(event: CloudEventMessage): Promise<DeliveryReport> | undefined {
    const key = `${event.attributes.source}\n${event.attributes.id}`;
    const existing = inFlight.get(key);
    if (existing) {
      stats.duplicates++;
      return existing;
    }
    if (stats.inFlight >= maxInFlight) return undefined;
    stats.received++;
    stats.inFlight++;
    const tree = deliverTree(event).finally(() => {
      inFlight.delete(key);
      stats.inFlight--;
      if (stats.inFlight === 0) {
        for (const wake of drainers) wake();
        drainers = [];
      }
    });
    inFlight.set(key, tree);
    return tree;
  }

  /** The event's remaining hops, or undefined (counted and logged) when it has none left and is dropped. */
  function remainingTtl(event: CloudEventMessage): number | undefined {
    const ttl = ttlOf(event, defaultTtl);
    if (ttl > 0) return ttl;
    stats.ttlExpired++;
    logger.warn({ type: event.attributes.type, id: event.attributes.id }, `event dropped: ${TTL_EXTENSION} exhausted`);
    return undefined;
  }

  async function deliverTree(event: CloudEventMessage): Promise<DeliveryReport> {
    const ttl = remainingTtl(event);
    if (ttl === undefined) return { delivered: 0, deadLettered: 0, failed: 0, aborted: false };
    try {
      return await dispatcher.dispatch(withoutTtl(event), ttl);
    } catch (err) {
      logger.error({ err, type: event.attributes.type, id: event.attributes.id }, 'routing the event failed');
      return { delivered: 0, deadLettered: 0, failed: 1, aborted: false };
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/health/readiness' || path === '/health/liveness'))
      return send(res, stopping ? 503 : 200, stopping ? 'stopping' : 'OK');
    if (req.method === 'GET' && path === '/stats')
      return send(res, 200, JSON.stringify(snapshot()), 'application/json');
    if (req.method !== 'POST' || !isIngressPath(path, name)) return send(res, 404, 'not found');
    if (stopping) return send(res, 503, 'the broker is stopping');
    const ack = ackMode(req.headers[ACK_HEADER] ?? ackQuery(req.url));
    if (!ack) return send(res, 400, `${ACK_HEADER} (header or query) must be accepted or delivered`);
    let event: CloudEventMessage;
    try {
      event = fromHttp(req.headers, await readBody(req, bodyLimit));
    } catch (err) {
      stats.invalid++;
      const status = err instanceof BodyTooLargeError ? 413 : err instanceof InvalidEventError ? 400 : 500;
      return send(res, status, (err as Error).message);
    }
    if (log) return appendToLog(log, event, res);
    const tree = admit(event);
    if (!tree) {
      stats.rejected++;
      res.setHeader('retry-after', '1');
      return send(res, 503, `the broker holds ${maxInFlight} events in flight; retry later`);
    }
    if (ack === 'accepted') return send(res, 202, '');
    res.writeProcessing();
    const report = await tree;
    send(res, report.aborted ? 503 : report.failed > 0 ? 502 : 202, JSON.stringify(report), 'application/json');
  }

  async function appendToLog(kafkaLog: KafkaLog, event: CloudEventMessage, res: http.ServerResponse): Promise<void> {
    const ttl = remainingTtl(event);
    if (ttl === undefined) return send(res, 202, '');
    if (kafkaLog.appending >= maxInFlight) {
      stats.rejected++;
      res.setHeader('retry-after', '1');
      return send(res, 503, `the broker has ${maxInFlight} events waiting for Kafka; retry later`);
    }
    stats.received++;
    try {
      await kafkaLog.append(withoutTtl(event), ttl);
    } catch (err) {
      logger.error({ err, type: event.attributes.type, id: event.attributes.id }, 'Kafka did not take the event');
      res.setHeader('retry-after', '1');
      return send(res, 503, `Kafka did not take the event: ${(err as Error).message}`);
    }
    send(res, 202, '');
  }

  const server = http.createServer((req, res) => {
    handlers++;
    handle(req, res)
      .catch((err) => {
        logger.error({ err }, 'broker ingress failed');
        if (!res.headersSent) send(res, 500, (err as Error).message);
      })
      .finally(() => {
        handlers--;
        if (handlers === 0) handlersDone?.();
      });
  });
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await log?.stop();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  logger.info({ port, broker: name, triggers: routes.map((route) => route.trigger.name) }, 'local broker listening');

  function snapshot(): BrokerStats {
    if (log) stats.inFlight = log.pending();
    const triggers = Object.fromEntries(
      routes.map((route) => [
        route.trigger.name,
        { ...stats.triggers[route.trigger.name], active: route.lane.active, queued: route.lane.queued },
      ]),
    );
    return { ...stats, triggers };
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    ...(log ? { kafka: { topic: log.topic, groupId: log.groupId } } : {}),
    stats: snapshot,
    drain: () =>
      log
        ? log.drain()
        : stats.inFlight === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => drainers.push(resolve)),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        dispatcher.abort();
        await Promise.all(inFlight.values());
        if (handlers > 0) await new Promise<void>((resolve) => (handlersDone = resolve));
        await log?.stop();
        server.closeAllConnections();
        await closed;
        logger.info({ broker: name }, 'local broker stopped');
      })();
      return stopped;
    },
  };
}

function isIngressPath(path: string, broker: string): boolean {
  if (path === '/') return true;
  const parts = path.split('/');
  return parts.length === 3 && parts[1] !== '' && parts[2] === broker;
}

/** `floe-ack` from the query; most requests have none, and parsing their URL showed in the ingress's profile. */
function ackQuery(url: string | undefined): string | undefined {
  if (!url?.includes('?')) return undefined;
  return new URL(url, 'http://broker').searchParams.get(ACK_HEADER) ?? undefined;
}

function ackMode(value: string | string[] | undefined): AckMode | undefined {
  if (value === undefined) return 'accepted';
  return value === 'accepted' || value === 'delivered' ? value : undefined;
}

/** The hops an ingress event may still take: its own `knativebrokerttl` when it carries a valid one. */
function ttlOf(event: CloudEventMessage, fallback: number): number {
  const value = event.attributes[TTL_EXTENSION];
  return value !== undefined && /^-?\d+$/.test(value) ? Number(value) : fallback;
}

class BodyTooLargeError extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return reject(new BodyTooLargeError(`the event exceeds the limit of ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () =>
      size > limit
        ? reject(new BodyTooLargeError(`the event exceeds the limit of ${limit} bytes`))
        : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
