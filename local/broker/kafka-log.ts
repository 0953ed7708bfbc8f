/**
 * The local Broker over a Kafka topic, as eventing-kafka-broker runs a Kafka Broker: the receiver appends every event
 * (from a sender or a subscriber's reply) to the Broker's topic `knative-broker-<namespace>-<name>` and answers 202
 * once the produce is acknowledged; the dispatcher reads the topic, delivers each record to every Trigger whose filters
 * match, and commits its offset once every such delivery completed (2xx, or dead-lettered) and its reply, if any, is
 * in the topic. So an event the receiver acknowledged survives a crash of the Broker and of its subscribers (the
 * record is read again), and a sender never waits for the deliveries behind the Broker.
 *
 * Records are in the Kafka protocol binding's binary mode (`ce_<attribute>` headers, `content-type`, the data as the
 * value), keyed by `partitionkey`. The dispatcher overwrites `knativekafkapartition`/`knativekafkaoffset` with the
 * record's position (./broker-topic.ts says why). At most `max.poll.records` (500, floe's data-plane setting,
 * knative/README.md) records of a partition are in flight; an `ordered` Trigger gets a partition's records one at a
 * time, in offset order; the subscriber's `containerConcurrency` caps a Trigger's deliveries in flight in all (the
 * queue-proxy's limit).
 *
 * One difference, for the local stack's CPU: the cluster gives every Trigger a consumer group of its own, here all
 * Triggers of the Broker share one (`knative-broker-<namespace>-<name>-dispatcher`), so each record is fetched and
 * decoded once rather than once per Trigger (each extra group cost ~80 µs per record in the one local process, and
 * floe has seven Triggers). What that changes: a record is committed once all its Triggers completed it, so after a
 * crash it is delivered again to every matching Trigger, also to those that had completed it — at-least-once either
 * way, and floe's functions take a redelivery. The hop budget `knativebrokerttl` travels in the record, so a reply
 * loop still ends.
 */
import kafkajs, { type KafkaMessage, type Message } from 'kafkajs';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import { fetchGroupOffsets, pinoLogCreator, startConsumer } from '../delivery/consumer.ts';
import { AbortedError } from '../delivery/retry.ts';
import { matchesFilters } from '../knative/filters.ts';
import { brokerPartitioner, OFFSET_EXTENSION, PARTITION_EXTENSION } from './broker-topic.ts';
import { TTL_EXTENSION, withoutTtl, type Dispatcher } from './dispatcher.ts';
import type { Route } from './routes.ts';

/** Records of a partition in flight: floe's `max.poll.records` for the Kafka Broker's dispatcher. */
export const UNORDERED_MAX_IN_FLIGHT = 500;
/** A produce request carries at most this many events, or this many bytes of values; more wait for the next one. */
const MAX_BATCH = 1000;
/** Below Kafka's default `max.message.bytes` (1 MiB per partition's batch) even if every event lands in one partition. */
const MAX_BATCH_BYTES = 768 * 1024;

export interface KafkaLogOptions {
  brokers: string[];
  namespace: string;
  broker: string;
  partitions: number;
  routes: Route[];
  dispatcher: Dispatcher;
  logger: Logger;
}

export interface KafkaLog {
  topic: string;
  /** The dispatcher's consumer group. */
  groupId: string;
  /** Appends the event with its remaining hop budget; resolves once Kafka acknowledged it. */
  append(event: CloudEventMessage, ttl: number): Promise<void>;
  /** Appends waiting for Kafka's acknowledgement. */
  readonly appending: number;
  /** Records of the topic the dispatcher has not completed (after its completed prefix of each partition). */
  pending(): number;
  /** Resolves once `pending()` is 0. */
  drain(): Promise<void>;
  /** Stops the Triggers' consumers (deliveries in flight are abandoned, read again later) and the producer. */
  stop(): Promise<void>;
}

export function brokerTopicName(namespace: string, broker: string): string {
  return `knative-broker-${namespace}-${broker}`;
}

/** The consumer group the dispatcher of the Broker topic commits in. */
export function dispatcherGroupId(topic: string): string {
  return `${topic}-dispatcher`;
}

export async function startKafkaLog(options: KafkaLogOptions): Promise<KafkaLog> {
  const { routes, dispatcher, logger } = options;
  const { stats } = dispatcher;
  const topic = brokerTopicName(options.namespace, options.broker);
  const kafka = new kafkajs.Kafka({
    clientId: `floe-broker-${options.broker}`,
    brokers: options.brokers,
    logLevel: kafkajs.logLevel.WARN,
    logCreator: pinoLogCreator(logger),
  });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
  let stopConsumer: (() => Promise<void>) | undefined;
  try {
    // False, not an error, when it exists: a restarted Broker goes on where its Triggers' groups committed.
    await admin.createTopics({
      topics: [{ topic, numPartitions: options.partitions }],
      waitForLeaders: true,
    });
    const offsets = await admin.fetchTopicOffsets(topic);
    const partitions = offsets.length;
    const ends = Array.from({ length: partitions }, () => 0n);
    const starts = Array.from({ length: partitions }, () => 0n);
    for (const { partition, high, low } of offsets) {
      ends[partition] = BigInt(high);
      starts[partition] = BigInt(low);
    }
    // Where the dispatcher's group stands now: what `pending` counts from until it completes more.
    const groupId = dispatcherGroupId(topic);
    const committed = [...starts];
    for (const group of await fetchGroupOffsets(admin, groupId, [topic]))
      for (const { partition, offset } of group.partitions)
        if (BigInt(offset) >= 0n && partition < partitions) committed[partition] = BigInt(offset);
    await producer.connect();

    const partitionOf = brokerPartitioner(partitions);
    let queue: { message: Message; resolve(): void; reject(err: unknown): void }[] = [];
    let sending: Promise<void> | undefined;
    let drainers: (() => void)[] = [];
    let appending = 0;

    // One produce request at a time, carrying every event that arrived while the previous one was under way: a
    // burst costs a few requests instead of one per event, and events of one partition keep their order.
    function flush(): void {
      if (sending || queue.length === 0) return;
      let count = 0;
      let bytes = 0;
      while (count < queue.length && count < MAX_BATCH) {
        bytes += (queue[count].message.value as Buffer).byteLength;
        // The first event goes whatever its size: alone, a too large one fails by itself.
        if (count > 0 && bytes > MAX_BATCH_BYTES) break;
        count++;
      }
      const batch = queue.slice(0, count);
      queue = queue.slice(count);
      sending = producer
        .send({ topic, acks: -1, messages: batch.map((entry) => entry.message) })
        .then(
          (metadata) => {
            for (const { partition, baseOffset } of metadata) {
              const count = batch.filter((entry) => entry.message.partition === partition).length;
              const end = BigInt(baseOffset ?? '-1') + BigInt(count);
              if (end > ends[partition]) ends[partition] = end;
            }
            for (const entry of batch) entry.resolve();
          },
          (err: unknown) => {
            for (const entry of batch) entry.reject(err);
          },
        )
        .finally(() => {
          sending = undefined;
          flush();
        });
    }

    function append(event: CloudEventMessage, ttl: number): Promise<void> {
      const message = toRecord(event, ttl);
      message.partition = partitionOf(event);
      if (!routes.some((route) => matchesFilters(route.trigger.filters, event.attributes))) stats.unrouted++;
      appending++;
      return new Promise<void>((resolve, reject) => {
        queue.push({ message, resolve, reject });
        if (!sending) setImmediate(flush);
      }).finally(() => appending--);
    }

    let positions: () => ReadonlyMap<string, bigint> = () => new Map();
    function pending(): number {
      let total = 0n;
      const done = positions();
      for (let p = 0; p < partitions; p++) {
        const position = done.get(`${topic}/${p}`);
        const from = position !== undefined && position > committed[p] ? position : committed[p];
        if (ends[p] > from) total += ends[p] - from;
      }
      return Number(total);
    }

    function completed(): void {
      if (drainers.length === 0) return;
      // After the consumer has moved its position past the record just completed.
      setImmediate(() => {
        if (drainers.length === 0 || pending() > 0) return;
        for (const wake of drainers) wake();
        drainers = [];
      });
    }

    /** Per ordered Trigger and partition: the delivery the next record of the partition waits for. */
    const orderedTails = new Map<string, Promise<unknown>>();

    /** Delivers the record to every Trigger it matches; true once all completed, false when one was abandoned. */
    async function deliverRecord(message: KafkaMessage, partition: number): Promise<boolean> {
      const { event, ttl } = fromRecord(message, partition);
      const matched = routes.filter((route) => matchesFilters(route.trigger.filters, event.attributes));
      const results = await Promise.all(
        matched.map((route) => {
          if (!route.ordered) return deliverTo(route, event, ttl);
          // Records are dispatched in offset order: chaining them keeps the Trigger's order within the partition.
          const key = `${route.trigger.name}\n${partition}`;
          const run = (orderedTails.get(key) ?? Promise.resolve()).then(() => deliverTo(route, event, ttl));
          const tail = run.catch(() => undefined);
          orderedTails.set(key, tail);
          void tail.then(() => {
            if (orderedTails.get(key) === tail) orderedTails.delete(key);
          });
          return run;
        }),
      );
      return results.every(Boolean);
    }

    async function deliverTo(route: Route, event: CloudEventMessage, ttl: number): Promise<boolean> {
      let outcome;
      try {
        outcome = await dispatcher.deliver(route, event);
      } catch (err) {
        if (err instanceof AbortedError) return false;
        throw err;
      }
      if (outcome.kind !== 'delivered' || !outcome.reply) return true;
      const reply = outcome.reply;
      if (ttl <= 1) {
        stats.ttlExpired++;
        logger.warn(
          { trigger: route.trigger.name, type: reply.attributes.type, id: reply.attributes.id },
          `reply dropped: ${TTL_EXTENSION} exhausted (an event loop?)`,
        );
        return true;
      }
      stats.replies++;
      await append(withoutTtl(reply), ttl - 1);
      return true;
    }

    const consumer = await startConsumer({
      brokers: options.brokers,
      clientId: `floe-broker-${options.broker}-dispatcher`,
      groupId,
      topics: [topic],
      fromBeginning: true,
      ordered: false,
      maxPendingPerPartition: UNORDERED_MAX_IN_FLIGHT,
      // The Broker stops at once: what is in flight is read again by the next one.
      stopGraceMs: 0,
      logger,
      deliver: ({ message, partition }) =>
        deliverRecord(message, partition).then((done) => {
          if (done) completed();
          return done;
        }),
    });
    stopConsumer = () => consumer.stop();
    positions = () => consumer.positions();

    return {
      topic,
      groupId,
      append,
      get appending() {
        return appending;
      },
      pending,
      drain: () => (pending() === 0 ? Promise.resolve() : new Promise<void>((resolve) => drainers.push(resolve))),
      async stop() {
        dispatcher.abort();
        await consumer.stop();
        while (sending) await sending;
        await producer.disconnect();
        await admin.disconnect();
      },
    };
  } catch (err) {
    await stopConsumer?.();
    await producer.disconnect();
    await admin.disconnect();
    throw err;
  }
}

/** The event as a record in the Kafka protocol binding's binary mode, with its hop budget. */
export function toRecord(event: CloudEventMessage, ttl: number): Message {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.attributes)) {
    if (name === 'datacontenttype') headers['content-type'] = value;
    else if (name !== TTL_EXTENSION) headers[`ce_${name}`] = value;
  }
  headers[`ce_${TTL_EXTENSION}`] = String(ttl);
  const key = event.attributes.partitionkey;
  // A view, not a copy: the event's bytes are not changed afterwards.
  const value = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength);
  return { key: key === undefined ? null : key, value, headers };
}

/** A record of the Broker topic as a Trigger receives it: at its position, without the hop budget. */
export function fromRecord(message: KafkaMessage, partition: number): { event: CloudEventMessage; ttl: number } {
  const attributes: Record<string, string> = {};
  let ttl = 0;
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const text = Array.isArray(value) ? value[value.length - 1] : value;
    if (text === undefined) continue;
    const string = Buffer.isBuffer(text) ? text.toString('utf8') : String(text);
    if (name === 'content-type') attributes.datacontenttype = string;
    else if (name === `ce_${TTL_EXTENSION}`) ttl = Number(string);
    else if (name.startsWith('ce_')) attributes[name.slice(3)] = string;
  }
  attributes[PARTITION_EXTENSION] = String(partition);
  attributes[OFFSET_EXTENSION] = message.offset;
  return { event: { attributes, data: message.value ?? new Uint8Array(0) }, ttl };
}
