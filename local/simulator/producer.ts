/**
 * Sends the twin's event stream to Kafka (the embedded broker or a real cluster) at a steady rate, and counts what
 * Kafka acknowledged.
 *
 * Exactness of the report: the producer is idempotent (a retried send is never written twice) and the simulator
 * picks each record's partition itself with kafkajs' default (Java-compatible murmur2) partitioner, so it knows which
 * records share a partition; Kafka gives them consecutive offsets from the `baseOffset` it answers with.
 */
import { setTimeout as delay } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import type { Admin, KafkaConfig, LogEntry, Message, PartitionMetadata, Producer, TopicMessages } from 'kafkajs';
import { createLogger, type Logger } from '../../shared/runtime/logger.ts';
import { createEventSource, type EventSource, type SimRecord, type TopicRole } from './events.ts';
import { randomSeed } from './random.ts';
import {
  countAcknowledged,
  createTally,
  snapshot,
  startClock,
  type SimulationReport,
  type StopReason,
  type Tally,
} from './report.ts';

const { Kafka, Partitioners, CompressionTypes, logLevel } = kafkajs;

export type TopicNames = Record<TopicRole, string>;

export const DEFAULT_TOPICS: TopicNames = { entry: 'parking-entry', exit: 'parking-exit', sensors: 'parking-sensors' };

export interface SimulateOptions {
  /** Bootstrap servers, `host:port`. */
  brokers: string[];
  /** Events per second over all topics. */
  rate: number;
  /** Stop after this long … */
  durationMs?: number;
  /** … or after this many events, whichever comes first; with neither, run until `signal` aborts. */
  count?: number;
  /** Default: a random seed (reported). */
  seed?: number;
  /** Share of bad records, 0–1; default 0. */
  badFraction?: number;
  topics?: Partial<TopicNames>;
  /** Partitions of topics the simulator has to create; default: the broker's default. */
  partitions?: number;
  /** Stops producing; what was acknowledged is still reported. */
  signal?: AbortSignal;
  /** Called after every acknowledged send with the report so far. */
  onProgress?(report: SimulationReport): void;
  /** Event timestamps (ms since the epoch); default Date.now. The pace always follows real time. */
  clock?: () => number;
  logger?: Logger;
  /** More kafkajs client settings for a real cluster: `ssl`, `sasl`, `retry`, `connectionTimeout`, … */
  kafka?: Omit<KafkaConfig, 'brokers' | 'logLevel' | 'logCreator'>;
}

/** The run failed; `report` holds what Kafka acknowledged before it did. */
export class SimulationError extends Error {
  constructor(
    message: string,
    readonly report: SimulationReport,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SimulationError';
  }
}

/** A send stays well below Kafka's default 1 MiB message.max.bytes, which bounds one partition's record batch. */
const MAX_BATCH_BYTES = 512 * 1024;
const MAX_BATCH_RECORDS = 500;

interface Outgoing {
  record: SimRecord;
  topic: string;
  partition: number;
}

interface Run {
  options: SimulateOptions;
  topics: TopicNames;
  source: EventSource;
  producer: Producer;
  partitionOf: (topic: string, key: string) => number;
  tally: Tally;
  logger: Logger;
  failure?: unknown;
}

export async function simulate(options: SimulateOptions): Promise<SimulationReport> {
  validate(options);
  const seed = options.seed ?? randomSeed();
  const topics: TopicNames = { ...DEFAULT_TOPICS, ...options.topics };
  const logger = options.logger ?? createLogger({ name: 'simulator', destination: process.stderr });
  const tally = createTally({ seed, brokers: options.brokers, rate: options.rate }, topics);
  const kafka = new Kafka({
    clientId: 'floe-simulator',
    ...options.kafka,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => logKafka(logger, entry),
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  try {
    const metadata = await prepareTopics(kafka.admin(), Object.values(topics), options.partitions, logger);
    await producer.connect();
    const run: Run = {
      options,
      topics,
      source: createEventSource({ seed, badFraction: options.badFraction, clock: options.clock }),
      producer,
      partitionOf: partitioner(metadata),
      tally,
      logger,
    };
    logger.info({ brokers: options.brokers, topics, seed, rate: options.rate }, 'simulating the parking lot');
    startClock(tally);
    tally.report.stoppedBy = await produce(run);
    return snapshot(tally);
  } catch (err) {
    tally.report.stoppedBy = 'error';
    throw new SimulationError(`simulation failed: ${(err as Error)?.message ?? String(err)}`, snapshot(tally), {
      cause: err,
    });
  } finally {
    await producer.disconnect().catch((err: unknown) => logger.warn({ err }, 'producer disconnect failed'));
  }
}

/** `host:port` as Kafka clients take bootstrap servers (IPv6 hosts in brackets). */
export function isBrokerAddress(text: string): boolean {
  const match = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:,[\]]+):(\d{1,5})$/.exec(text);
  return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65535;
}

function validate(options: SimulateOptions): void {
  if (!options.brokers.length || !options.brokers.every(isBrokerAddress))
    throw new RangeError(`brokers must be host:port, got ${JSON.stringify(options.brokers)}`);
  if (!(options.rate > 0 && Number.isFinite(options.rate)))
    throw new RangeError(`rate must be a positive number of events per second, got ${options.rate}`);
  if (options.count !== undefined && !(Number.isSafeInteger(options.count) && options.count > 0))
    throw new RangeError(`count must be a positive integer, got ${options.count}`);
  if (options.durationMs !== undefined && !(options.durationMs > 0))
    throw new RangeError(`durationMs must be positive, got ${options.durationMs}`);
  if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0 && options.seed < 2 ** 32))
    throw new RangeError(`seed must be an integer in 0..2^32-1, got ${options.seed}`);
  if (options.partitions !== undefined && !(Number.isInteger(options.partitions) && options.partitions > 0))
    throw new RangeError(`partitions must be a positive integer, got ${options.partitions}`);
  const topics = Object.values({ ...DEFAULT_TOPICS, ...options.topics });
  if (new Set(topics).size !== topics.length)
    throw new RangeError(`the three topics must differ, got ${topics.join(', ')}`);
  if (options.badFraction !== undefined && !(options.badFraction >= 0 && options.badFraction <= 1))
    throw new RangeError(`badFraction must be within 0..1, got ${options.badFraction}`);
}

/** Creates the topics that do not exist yet and returns every topic's partitions. */
async function prepareTopics(
  admin: Admin,
  topics: string[],
  partitions: number | undefined,
  logger: Logger,
): Promise<Map<string, PartitionMetadata[]>> {
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      // -1: the broker's num.partitions / default.replication.factor.
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: partitions ?? -1 })),
        waitForLeaders: true,
      });
      logger.info({ topics: missing, partitions: partitions ?? 'broker default' }, 'created topics');
    }
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
    return new Map(metadata.map((t) => [t.name, t.partitions]));
  } finally {
    await admin.disconnect();
  }
}

function partitioner(metadata: Map<string, PartitionMetadata[]>): (topic: string, key: string) => number {
  const assign = Partitioners.DefaultPartitioner();
  return (topic, key) => {
    const partitionMetadata = metadata.get(topic);
    if (!partitionMetadata?.length) throw new Error(`topic ${topic} has no partitions`);
    return assign({ topic, partitionMetadata, message: { key, value: null } });
  };
}

/**
 * Generates the events that are due and sends them, one send in flight while the next batch is generated. Falls
 * behind gracefully: events that are due but not yet sent go out in the next (larger) batch.
 */
async function produce(run: Run): Promise<StopReason> {
  const { rate, count, durationMs, signal } = run.options;
  const started = performance.now();
  const deadline = durationMs === undefined ? Infinity : started + durationMs;
  let generated = 0;
  let inFlight: Promise<void> = Promise.resolve();
  for (;;) {
    if (run.failure) break;
    if (signal?.aborted) break;
    if (count !== undefined && generated >= count) break;
    const now = performance.now();
    if (now >= deadline) break;
    const due = Math.min(Math.floor(((now - started) * rate) / 1000) + 1, count ?? Infinity) - generated;
    if (due <= 0) {
      const nextDue = started + (generated * 1000) / rate;
      await sleep(Math.min(nextDue, deadline) - now, signal);
      continue;
    }
    const batch = nextBatch(run, due);
    generated += batch.length;
    await inFlight;
    if (run.failure || signal?.aborted) break;
    inFlight = send(run, batch);
  }
  await inFlight;
  if (run.failure) throw run.failure;
  if (signal?.aborted) return 'signal';
  return count !== undefined && generated >= count ? 'count' : 'duration';
}

function nextBatch(run: Run, due: number): Outgoing[] {
  const batch: Outgoing[] = [];
  let bytes = 0;
  while (batch.length < Math.min(due, MAX_BATCH_RECORDS) && bytes < MAX_BATCH_BYTES) {
    const record = run.source.next();
    const topic = run.topics[record.role];
    batch.push({ record, topic, partition: run.partitionOf(topic, record.key) });
    bytes += record.value.length + record.key.length;
  }
  return batch;
}

/** One produce round trip; acknowledged records go into the tally, a failure is kept for the loop to stop on. */
async function send(run: Run, batch: Outgoing[]): Promise<void> {
  const byTopic = new Map<string, Message[]>();
  for (const { record, topic, partition } of batch) {
    const messages = byTopic.get(topic) ?? [];
    if (messages.length === 0) byTopic.set(topic, messages);
    messages.push({ key: record.key, value: record.value, headers: record.headers, partition });
  }
  const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  try {
    const acks = await run.producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
    const nextOffset = new Map<string, bigint>();
    for (const ack of acks)
      if (ack.baseOffset !== undefined) nextOffset.set(`${ack.topicName}/${ack.partition}`, BigInt(ack.baseOffset));
    const unanswered = batch.find(({ topic, partition }) => !nextOffset.has(`${topic}/${partition}`));
    if (unanswered)
      throw new Error(`Kafka acknowledged the send without an offset for ${unanswered.topic}/${unanswered.partition}`);
    for (const { record, topic, partition } of batch) {
      const id = `${topic}/${partition}`;
      const offset = nextOffset.get(id)!;
      nextOffset.set(id, offset + 1n);
      countAcknowledged(run.tally, record.role, partition, offset, record.bad);
    }
  } catch (err) {
    run.failure = err;
    run.tally.report.unconfirmed += batch.length;
    return;
  }
  try {
    run.options.onProgress?.(snapshot(run.tally));
  } catch (err) {
    // A progress display must not stop the run nor lose what was acknowledged.
    run.logger.warn({ err }, 'onProgress failed');
  }
}

/** Waits `ms`, or less if `signal` aborts first. */
async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return;
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

const KAFKA_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

function logKafka(logger: Logger, { namespace, level, log }: LogEntry): void {
  const { message, ...fields } = log;
  logger[KAFKA_LEVELS[level] ?? 'info']({ ...fields, namespace }, `kafkajs: ${message}`);
}
