/**
 * One KafkaSource: a kafkajs consumer group (`consumerGroup`, `initialOffset`, topics) whose records become the
 * CloudEvents KafkaSource sends (./record-event.ts), POSTed to the sink under the source's delivery spec
 * (`kafkaSourceDelivery`: retries with backoff and a per-attempt timeout, then the dead-letter sink, then the offset is
 * committed anyway, as Knative does, so a poison record cannot block its partition).
 *
 * The consumer (../delivery/consumer.ts) commits a record's offset once its sink answered 2xx (or it was
 * dead-lettered), per partition up to the first record still in flight: a crash or rebalance redelivers, never skips.
 * `ordered` dispatches a partition's next record only once the previous one completed (or the sink took it over with
 * `102 Processing`), so the events leave in partition order, as in the cluster; `unordered` keeps at most
 * `maxPendingPerPartition` records of a partition in flight (Knative's source data plane: `max.poll.records`, 50).
 * floe's sink is the tagger, which answers once the Broker has its tagged record in the Broker's Kafka topic; a sink
 * that is a Broker answers the same way. So the sink's answer comes when the event is durable, not when it was
 * delivered on, and a burst waits in Kafka rather than in the sink. Every request still asks for `floe-ack:
 * delivered`, which only the in-memory Broker (no Kafka under it, local/broker/index.ts) reads: it answers once the
 * event's delivery tree completed.
 */
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import { ACK_HEADER } from '../broker/index.ts';
import type { Lane } from '../broker/lane.ts';
import { startConsumer } from '../delivery/consumer.ts';
import { AbortedError, deadLetterEvent, sendAttempt, withRetries } from '../delivery/retry.ts';
import { kafkaSourceDelivery, type KafkaSource } from '../knative/manifests.ts';
import { recordToEvent, type SourceIdentity } from './record-event.ts';

export interface SourceStats {
  /** Records read and dispatched. */
  consumed: number;
  /** Accepted by the sink with 2xx. */
  delivered: number;
  deadLettered: number;
  /** Neither delivered nor dead-lettered (no dead-letter sink, or it failed too): dropped, like Knative, and logged. */
  dropped: number;
  /** Records behind the newest offset, summed over partitions, as of the last fetch and commit. */
  lag: number;
}

export interface SourceOptions {
  brokers: string[];
  sinkUrl: string;
  /** Required when the source's delivery names a dead-letter sink. */
  deadLetterUrl: string | undefined;
  namespace: string;
  logger: Logger;
  maxPendingPerPartition: number;
  /** On stop, how long records in flight may still complete (and be committed) before they are abandoned. */
  stopGraceMs: number;
  /**
   * For a Knative Service sink: its queue-proxy's limit, `containerConcurrency` requests in the container at once,
   * shared by every source posting to it; the others wait here, in the source, not in the function.
   */
  sinkLimit?: Lane;
}

export interface RunningSource {
  name: string;
  stats(): SourceStats;
  stop(): Promise<void>;
}

const EXTENSION_NAME = /^[a-z0-9]+$/;
const CORE_ATTRIBUTES = new Set([
  'id',
  'source',
  'specversion',
  'type',
  'datacontenttype',
  'dataschema',
  'subject',
  'time',
  'data',
]);

export async function startKafkaSource(source: KafkaSource, options: SourceOptions): Promise<RunningSource> {
  const delivery = kafkaSourceDelivery(source);
  const { sinkUrl } = options;
  const where = `KafkaSource ${source.name}`;
  if (delivery.deadLetterSink && !options.deadLetterUrl)
    throw new Error(`${where}: its dead-letter sink ${delivery.deadLetterSink} has no URL (deadLetterUrl)`);
  for (const name of Object.keys(source.extensions)) {
    if (!EXTENSION_NAME.test(name) || CORE_ATTRIBUTES.has(name))
      throw new Error(`${where}: ceOverrides extension name ${JSON.stringify(name)} is not a valid extension name`);
  }
  const deadLetterUrl = delivery.deadLetterSink ? options.deadLetterUrl : undefined;
  const identity: SourceIdentity = { name: source.name, namespace: options.namespace, extensions: source.extensions };
  const sinkHeaders = { [ACK_HEADER]: 'delivered', prefer: 'reply', 'kn-namespace': options.namespace };
  const log = options.logger.child({ kafkaSource: source.name });
  const stats = { consumed: 0, delivered: 0, deadLettered: 0, dropped: 0 };

  /** True when the record completed (delivered, dead-lettered or dropped); false when abandoned at stop. */
  async function deliver(event: CloudEventMessage, onAccepted: () => void, signal: AbortSignal): Promise<boolean> {
    const ids = { id: event.attributes.id, type: event.attributes.type };
    try {
      const result = await withRetries(
        delivery,
        (attemptSignal) => {
          const attempt = () =>
            sendAttempt(sinkUrl, event, {
              headers: sinkHeaders,
              timeoutMs: delivery.timeoutMs,
              signal: attemptSignal,
              onAccepted,
            });
          return options.sinkLimit ? options.sinkLimit.run(undefined, attempt) : attempt();
        },
        {
          signal,
          onRetry: (failure, attempt) =>
            log.debug(
              { ...ids, attempt, status: failure.status, reason: failure.message },
              'sink refused the event; retrying',
            ),
        },
      );
      if (result.ok) {
        stats.delivered++;
        return true;
      }
      const reason = {
        ...ids,
        status: result.failure.status,
        reason: result.failure.message,
        attempts: result.attempts,
      };
      if (!deadLetterUrl) {
        stats.dropped++;
        log.error(reason, 'the sink did not take the event and there is no dead-letter sink: dropped');
        return true;
      }
      const dead = deadLetterEvent(event, sinkUrl, result.failure);
      const sent = await withRetries(
        delivery,
        (attemptSignal) => sendAttempt(deadLetterUrl, dead, { timeoutMs: delivery.timeoutMs, signal: attemptSignal }),
        { signal },
      );
      if (sent.ok) {
        stats.deadLettered++;
        log.warn(reason, 'the sink did not take the event: sent to the dead-letter sink');
      } else {
        stats.dropped++;
        log.error(
          { ...reason, deadLetter: sent.failure.message },
          'the sink did not take the event and neither did the dead-letter sink: dropped',
        );
      }
      return true;
    } catch (err) {
      if (!(err instanceof AbortedError))
        log.error({ err, ...ids }, 'delivering the record failed; it is read again after a restart');
      return false;
    }
  }

  // Knative defaults the group to a random name once, at creation; a stable name is the local equivalent.
  const groupId = source.consumerGroup ?? `knative-kafka-source-${source.name}`;
  const consumer = await startConsumer({
    brokers: options.brokers,
    clientId: `floe-kafka-source-${source.name}`,
    groupId,
    topics: source.topics,
    fromBeginning: source.initialOffset === 'earliest',
    ordered: source.ordering === 'ordered',
    maxPendingPerPartition: options.maxPendingPerPartition,
    stopGraceMs: options.stopGraceMs,
    logger: log,
    deliver({ topic, partition, message }, onAccepted, signal) {
      const event = recordToEvent(
        {
          topic,
          partition,
          offset: message.offset,
          timestamp: message.timestamp,
          key: message.key,
          value: message.value,
          headers: message.headers,
        },
        identity,
      );
      stats.consumed++;
      return deliver(event, onAccepted, signal);
    },
  });
  log.info({ groupId, topics: source.topics, ordering: source.ordering, sink: sinkUrl }, 'KafkaSource consuming');

  return {
    name: source.name,
    stats: () => ({ ...stats, lag: consumer.lag() }),
    async stop() {
      await consumer.stop();
      log.info('KafkaSource stopped');
    },
  };
}
