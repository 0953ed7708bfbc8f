/**
 * The consumer half of eventing-kafka-broker's dispatcher, shared by the KafkaSource stand-in and the local Broker's
 * Triggers: a kafkajs consumer group whose records are handed to `deliver` with at most `maxPendingPerPartition` of a
 * partition in flight (`unordered`), or one at a time per partition (`ordered`: the next record leaves once the
 * previous one completed or its receiver took it over with `102 Processing`).
 *
 * Offsets are committed only for completed records, per partition up to the first one still in flight (gaps held
 * back): a crash or rebalance redelivers, never skips (at-least-once). Commits are coalesced: at most one per 100 ms
 * and one in flight at a time, taking everything completed meanwhile.
 */
import { setMaxListeners } from 'node:events';
import kafkajs, { type EachBatchPayload, type KafkaMessage, type logCreator } from 'kafkajs';
import type { Logger } from '../../shared/runtime/logger.ts';
import { kafkajsCodecs } from '../kafka/index.ts';
import { createPartitionProgress, type PartitionProgress } from '../kafka-source/progress.ts';

// Producers may compress with any codec; the consumer must read them all.
Object.assign(kafkajs.CompressionCodecs, kafkajsCodecs());

export interface ConsumedRecord {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

export interface ConsumerOptions {
  brokers: string[];
  clientId: string;
  groupId: string;
  topics: string[];
  /** Where a group without a committed offset starts: the earliest record (true) or the next one produced. */
  fromBeginning: boolean;
  ordered: boolean;
  maxPendingPerPartition: number;
  /** On stop, how long records in flight may still complete (and be committed) before they are abandoned. */
  stopGraceMs: number;
  logger: Logger;
  /**
   * Delivers one record; resolves true once it completed (its offset may be committed), false when it was abandoned
   * because the consumer stops (it is read again after a restart). `signal` fires on that stop.
   */
  deliver(record: ConsumedRecord, onAccepted: () => void, signal: AbortSignal): Promise<boolean>;
}

export interface RunningConsumer {
  /** Records behind the newest offset, summed over partitions, as of the last fetch and commit. */
  lag(): number;
  /** Per `topic/partition`: the offset after the completed prefix (what is or will be committed), never decreasing. */
  positions(): ReadonlyMap<string, bigint>;
  /** Stops fetching, lets what is in flight complete (up to the grace time), commits, leaves the group. */
  stop(): Promise<void>;
}

interface PartitionState {
  topic: string;
  partition: number;
  progress: PartitionProgress;
  /** Dispatched records the receiver has not yet taken over. */
  unaccepted: number;
  highWatermark: bigint | undefined;
  committed: bigint | undefined;
  /** The first offset dispatched in this assignment (lag before any commit). */
  firstOffset: bigint | undefined;
  wake: (() => void) | undefined;
}

/** Waits for room at most this long before it heartbeats the group again. */
const HEARTBEAT_WAIT_MS = 1000;
/** Completed offsets are committed at most this often. */
const COMMIT_INTERVAL_MS = 100;

export async function startConsumer(options: ConsumerOptions): Promise<RunningConsumer> {
  const { logger: log, ordered } = options;
  const kafka = new kafkajs.Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: kafkajs.logLevel.WARN,
    logCreator: pinoLogCreator(log),
  });
  const consumer = kafka.consumer({ groupId: options.groupId, maxWaitTimeInMs: 500 });
  let partitions = new Map<string, PartitionState>();
  const positions = new Map<string, bigint>();
  const inFlight = new Set<Promise<void>>();
  const abort = new AbortController();
  // Every delivery in flight listens on this one signal.
  setMaxListeners(0, abort.signal);
  let stopping = false;
  let committing: Promise<void> | undefined;
  let commitAgain = false;
  let commitTimer: NodeJS.Timeout | undefined;
  let closed = false;

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
    const key = `${batch.topic}/${batch.partition}`;
    const state = partitionState(batch.topic, batch.partition);
    state.highWatermark = BigInt(batch.highWatermark);
    for (const message of batch.messages) {
      while (state.progress.pending >= options.maxPendingPerPartition || (ordered && state.unaccepted > 0)) {
        if (stopping || !isRunning() || isStale()) return;
        await changed(state);
        await heartbeat();
      }
      if (stopping || !isRunning() || isStale() || partitions.get(key) !== state) return;
      dispatch(state, key, message);
      resolveOffset(message.offset);
    }
  }

  function dispatch(state: PartitionState, key: string, message: KafkaMessage): void {
    const offset = BigInt(message.offset);
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
    const record = { topic: state.topic, partition: state.partition, message };
    const work = options
      .deliver(record, accept, abort.signal)
      .catch((err) => {
        log.error({ err, topic: state.topic, partition: state.partition, offset: message.offset }, 'delivery failed');
        return false;
      })
      .then((completed) => {
        accept();
        if (!completed) return;
        state.progress.completed(offset);
        const point = state.progress.commitPoint();
        if (point !== undefined && point > (positions.get(key) ?? -1n)) positions.set(key, point);
        wake(state);
        commitSoon();
      });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  function commitSoon(): void {
    if (committing || commitTimer) {
      commitAgain = true;
      return;
    }
    // At most one commit per interval: at a steady few hundred records a second every completion was a commit request
    // of its own. A crash redelivers what completed since the last one, as it redelivers what was in flight.
    commitTimer = setTimeout(() => {
      commitTimer = undefined;
      commitAgain = false;
      if (closed) return;
      committing = commitCompleted().finally(() => {
        committing = undefined;
        if (commitAgain) commitSoon();
      });
    }, COMMIT_INTERVAL_MS);
  }

  async function commitCompleted(): Promise<void> {
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
    }
  }

  const concurrency = await partitionCount(kafka, options.topics, log);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: concurrency,
      eachBatch,
    });
  } catch (err) {
    await consumer.disconnect();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    lag: () => lagOf(partitions.values()),
    positions: () => positions,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        consumer.pause(options.topics.map((topic) => ({ topic })));
        for (const state of partitions.values()) wake(state);
        await settle([...inFlight], options.stopGraceMs);
        abort.abort();
        await Promise.all([...inFlight]);
        clearTimeout(commitTimer);
        commitTimer = undefined;
        await committing;
        await commitCompleted();
        closed = true;
        await consumer.disconnect();
      })();
      return stopped;
    },
  };
}

/** Most partitions consumed at once (kafkajs workers); a consumer with more shares them. */
const MAX_CONCURRENT_PARTITIONS = 64;

/**
 * How many partitions the consumer may be handed (all of its topics'), between 1 and MAX_CONCURRENT_PARTITIONS: every
 * partition's batch is then handled at once, so a partition waiting for room never holds back another. Not simply the
 * maximum: kafkajs starts every one of its workers on each fetch response, and at one record per fetch 64 workers
 * for 3 partitions were a tenth of the consumer's CPU.
 */
async function partitionCount(kafka: kafkajs.Kafka, topics: string[], log: Logger): Promise<number> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { topics: found } = await admin.fetchTopicMetadata({ topics });
    const count = found.reduce((sum, topic) => sum + topic.partitions.length, 0);
    return Math.min(MAX_CONCURRENT_PARTITIONS, Math.max(1, count));
  } catch (err) {
    log.debug({ err, topics }, 'partition count unknown; consuming up to the maximum of partitions at once');
    return MAX_CONCURRENT_PARTITIONS;
  } finally {
    await admin.disconnect();
  }
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

/** kafkajs log lines into a pino logger. */
export function pinoLogCreator(log: Logger): logCreator {
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

/**
 * A group's committed offsets. Right after a Kafka broker starts (or its group coordinator moves), OffsetFetch answers
 * COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR for a while, and kafkajs's admin throws those instead of retrying
 * them as its consumers do: they are retried here, with backoff, for up to `timeoutMs`.
 */
export async function fetchGroupOffsets(
  admin: kafkajs.Admin,
  groupId: string,
  topics: string[],
  timeoutMs = 30_000,
): ReturnType<kafkajs.Admin['fetchOffsets']> {
  const deadline = Date.now() + timeoutMs;
  for (let waitMs = 50; ; waitMs = Math.min(waitMs * 2, 1_000)) {
    try {
      return await admin.fetchOffsets({ groupId, topics });
    } catch (err) {
      if (!(err as { retriable?: boolean }).retriable || Date.now() + waitMs > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
