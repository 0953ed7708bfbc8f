/**
 * One KafkaSource: a kafkajs consumer group (`consumerGroup`, `initialOffset`, topics) whose records become the
 * CloudEvents KafkaSource sends (./record-event.ts), POSTed to the sink under the source's delivery spec
 * (`kafkaSourceDelivery`: retries with backoff and a per-attempt timeout, then the dead-letter sink, then the offset is
 * committed anyway, as Knative does, so a poison record cannot block its partition).
 *
 * Offsets are committed only for completed records, per partition up to the first one still in flight (gaps held
 * back): a crash or rebalance redelivers, never skips (at-least-once). Commits are coalesced: one in flight at a time,
 * taking everything completed meanwhile.
 *
 * Every request asks for `floe-ack: delivered` (see local/broker/index.ts). The local broker's final answer comes when
 * the event's whole delivery tree completed, so the commit follows real delivery; its interim `102 Processing` says
 * it has taken the event over. floe's sink is the tagger, which hands its tagged record to the local broker the same
 * way and relays the 102 and the final answer. `ordered` dispatches a partition's next record only once the previous
 * one was taken over (or completed, when the sink sends no 102), so the events leave in partition order, as in the
 * cluster; `unordered` dispatches without waiting. Both keep at most `maxPendingPerPartition` records of a partition
 * in flight. The per-attempt timeout covers the wait until the sink took the event over; after that the broker's own
 * delivery specs bound the wait.
 */
import { setMaxListeners } from 'node:events';
import kafkajs, { type EachBatchPayload, type KafkaMessage, type logCreator } from 'kafkajs';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import { ACK_HEADER } from '../broker/index.ts';
import { AbortedError, deadLetterEvent, sendAttempt, withRetries } from '../delivery/retry.ts';
import { kafkajsCodecs } from '../kafka/index.ts';
import { kafkaSourceDelivery, type KafkaSource } from '../knative/manifests.ts';
import { createPartitionProgress, type PartitionProgress } from './progress.ts';
import { recordToEvent, type SourceIdentity } from './record-event.ts';

// Producers may compress with any codec; the consumer must read them all.
Object.assign(kafkajs.CompressionCodecs, kafkajsCodecs());

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
}

export interface RunningSource {
  name: string;
  stats(): SourceStats;
  stop(): Promise<void>;
}

interface PartitionState {
  topic: string;
  partition: number;
  progress: PartitionProgress;
  /** Dispatched records the sink has not yet taken over. */
  unaccepted: number;
  highWatermark: bigint | undefined;
  committed: bigint | undefined;
  /** The first offset dispatched in this assignment (lag before any commit). */
  firstOffset: bigint | undefined;
  wake: (() => void) | undefined;
}

/** Waits for room at most this long before it heartbeats the group again. */
const HEARTBEAT_WAIT_MS = 1000;
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
  const ordered = source.ordering === 'ordered';
  const log = options.logger.child({ kafkaSource: source.name });
  // Knative defaults the group to a random name once, at creation; a stable name is the local equivalent.
  const groupId = source.consumerGroup ?? `knative-kafka-source-${source.name}`;
  const kafka = new kafkajs.Kafka({
    clientId: `floe-kafka-source-${source.name}`,
    brokers: options.brokers,
    logLevel: kafkajs.logLevel.WARN,
    logCreator: pinoLogCreator(log),
  });
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
  const stats = { consumed: 0, delivered: 0, deadLettered: 0, dropped: 0 };
  let partitions = new Map<string, PartitionState>();
  const inFlight = new Set<Promise<void>>();
  const abort = new AbortController();
  // Every delivery in flight listens on this one signal.
  setMaxListeners(0, abort.signal);
  let stopping = false;
  let committing: Promise<void> | undefined;
  let commitAgain = false;

  // A (re)join resets the fetch positions to the committed offsets: start tracking afresh. Records of the previous
  // assignment still in flight complete without committing; their partitions' records are read again.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const state of partitions.values()) wake(state);
    partitions = new Map();
  });

  function partitionState(topic: string, partition: number): PartitionState {
    const key = `${topic}/${partition}`;
    let state = partitions.get(key);
    if (!state) {
      state = {
        topic,
        partition,
        progress: createPartitionProgress(),
        unaccepted: 0,
        highWatermark: undefined,
        committed: undefined,
        firstOffset: undefined,
        wake: undefined,
      };
      partitions.set(key, state);
    }
    return state;
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const state = partitionState(batch.topic, batch.partition);
    state.highWatermark = BigInt(batch.highWatermark);
    for (const message of batch.messages) {
      while (state.progress.pending >= options.maxPendingPerPartition || (ordered && state.unaccepted > 0)) {
        if (stopping || !isRunning() || isStale()) return;
        await changed(state);
        await heartbeat();
      }
      if (stopping || !isRunning() || isStale() || partitions.get(`${batch.topic}/${batch.partition}`) !== state)
        return;
      dispatch(state, message);
      resolveOffset(message.offset);
    }
  }

  function dispatch(state: PartitionState, message: KafkaMessage): void {
    const offset = BigInt(message.offset);
    const event = recordToEvent(
      {
        topic: state.topic,
        partition: state.partition,
        offset: message.offset,
        timestamp: message.timestamp,
        key: message.key,
        value: message.value,
        headers: message.headers,
      },
      identity,
    );
    stats.consumed++;
    state.firstOffset ??= offset;
    state.progress.dispatched(offset);
    state.unaccepted++;
    let accepted = false;
    const accept = () => {
      if (accepted) return;
      accepted = true;
      state.unaccepted--;
      wake(state);
    };
    const work = deliver(event, accept).then((completed) => {
      accept();
      if (!completed) return;
      state.progress.completed(offset);
      wake(state);
      commitSoon();
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  /** True when the record completed (delivered, dead-lettered or dropped); false when abandoned at stop. */
  async function deliver(event: CloudEventMessage, onAccepted: () => void): Promise<boolean> {
    const ids = { id: event.attributes.id, type: event.attributes.type };
    try {
      const result = await withRetries(
        delivery,
        (signal) =>
          sendAttempt(sinkUrl, event, { headers: sinkHeaders, timeoutMs: delivery.timeoutMs, signal, onAccepted }),
        {
          signal: abort.signal,
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
        (signal) => sendAttempt(deadLetterUrl, dead, { timeoutMs: delivery.timeoutMs, signal }),
        { signal: abort.signal },
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

  function commitSoon(): void {
    if (committing) {
      commitAgain = true;
      return;
    }
    committing = commitCompleted().finally(() => (committing = undefined));
  }

  async function commitCompleted(): Promise<void> {
    do {
      commitAgain = false;
      const due = [...partitions.values()].flatMap((state) => {
        const point = state.progress.commitPoint();
        return point !== undefined && (state.committed === undefined || point > state.committed)
          ? [{ state, point }]
          : [];
      });
      if (due.length === 0) return;
      try {
        await consumer.commitOffsets(
          due.map(({ state, point }) => ({ topic: state.topic, partition: state.partition, offset: point.toString() })),
        );
        for (const { state, point } of due) state.committed = point;
      } catch (err) {
        log.warn({ err }, 'committing offsets failed; the next completion commits them, or the records are read again');
        return;
      }
    } while (commitAgain);
  }

  await consumer.connect();
  try {
    await consumer.subscribe({ topics: source.topics, fromBeginning: source.initialOffset === 'earliest' });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 64,
      eachBatch,
    });
  } catch (err) {
    await consumer.disconnect();
    throw err;
  }
  log.info({ groupId, topics: source.topics, ordering: source.ordering, sink: sinkUrl }, 'KafkaSource consuming');

  let stopped: Promise<void> | undefined;
  return {
    name: source.name,
    stats: () => ({ ...stats, lag: lagOf(partitions.values()) }),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        consumer.pause(source.topics.map((topic) => ({ topic })));
        for (const state of partitions.values()) wake(state);
        await settle([...inFlight], options.stopGraceMs);
        abort.abort();
        await Promise.all([...inFlight]);
        await committing;
        await commitCompleted();
        await consumer.disconnect();
        log.info('KafkaSource stopped');
      })();
      return stopped;
    },
  };
}

/** Resolves when the partition's in-flight state changes, or after a while (the caller heartbeats then). */
function changed(state: PartitionState): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, HEARTBEAT_WAIT_MS);
    state.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

function wake(state: PartitionState): void {
  const waiting = state.wake;
  state.wake = undefined;
  waiting?.();
}

function lagOf(states: Iterable<PartitionState>): number {
  let lag = 0n;
  for (const state of states) {
    const from = state.committed ?? state.firstOffset;
    if (state.highWatermark !== undefined && from !== undefined && state.highWatermark > from)
      lag += state.highWatermark - from;
  }
  return Number(lag);
}

function settle(work: Promise<void>[], graceMs: number): Promise<void> {
  if (work.length === 0) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
  return Promise.race([Promise.all(work).then(() => undefined), grace]).finally(() => clearTimeout(timer));
}

/** kafkajs log lines into the source's pino logger. */
function pinoLogCreator(log: Logger): logCreator {
  return () =>
    ({ level, log: entry, namespace }) => {
      const { message, timestamp: _timestamp, ...extra } = entry;
      const fields = { ...extra, kafkajs: namespace };
      if (level === kafkajs.logLevel.ERROR) log.error(fields, message);
      else if (level === kafkajs.logLevel.WARN) log.warn(fields, message);
      else if (level === kafkajs.logLevel.INFO) log.info(fields, message);
      else log.debug(fields, message);
    };
}
