/**
 * The simulator end to end against the embedded Kafka broker: what a kafkajs consumer reads back is exactly what the
 * report says was acknowledged — counts, coordinates, keys, headers and the very bytes the generator makes for the
 * seed — also when the run is stopped through its AbortSignal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acknowledgedCoordinates,
  BAD_KINDS,
  generateEvents,
  simulate,
  SimulationError,
  TOPIC_ROLES,
  type SimulationReport,
  type TopicNames,
} from '../../local/simulator/index.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestBroker, type TestBroker } from '../kafka/helpers/broker.ts';
import { consumeAll, type Consumed } from './helpers.ts';

const NOW = Date.parse('2026-05-01T08:00:00.000Z');
const logger = createLogger({ name: 'simulator', level: 'warn', format: 'json', destination: process.stderr });

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker({ defaultPartitions: 3 });
});

afterAll(async () => {
  await t?.cleanup();
});

const topicsFor = (prefix: string): TopicNames => ({
  entry: `${prefix}-entry`,
  exit: `${prefix}-exit`,
  sensors: `${prefix}-sensors`,
});

const coordinate = (c: { topic: string; partition: number; offset: bigint }) => `${c.topic}/${c.partition}/${c.offset}`;

function expectReportMatches(report: SimulationReport, consumed: Consumed[]): void {
  expect(consumed).toHaveLength(report.sent);
  expect(consumed.map(coordinate).sort()).toEqual(acknowledgedCoordinates(report).map(coordinate).sort());
  for (const role of TOPIC_ROLES) {
    const { topic, sent } = report.topics[role];
    expect(
      consumed.filter((c) => c.topic === topic),
      topic,
    ).toHaveLength(sent);
  }
  for (const c of consumed) expect(c.headers).toEqual({ 'content-type': 'application/json' });
}

describe('simulate against the embedded broker', () => {
  it('produces exactly the seed’s events, and the report holds every acknowledged coordinate and nothing else', async () => {
    const topics = topicsFor('full');
    const progress: number[] = [];
    const report = await simulate({
      brokers: [t.broker.brokers],
      rate: 5000,
      count: 600,
      seed: 11,
      badFraction: 0.1,
      topics,
      clock: () => NOW,
      logger,
      onProgress: (r) => progress.push(r.sent),
    });
    expect(report).toMatchObject({
      seed: 11,
      sent: 600,
      unconfirmed: 0,
      stoppedBy: 'count',
      brokers: [t.broker.brokers],
    });
    expect(progress.at(-1)).toBe(600);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    // The topics were created with the broker's default partition count.
    const admin = t.kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: Object.values(topics) });
    await admin.disconnect();
    for (const topic of metadata.topics) expect(topic.partitions).toHaveLength(3);

    const consumed = await consumeAll(t.kafka, Object.values(topics), 600);
    expectReportMatches(report, consumed);

    // Record for record the generator's stream for the seed: per partition in offset order, same keys and bytes.
    const expected = generateEvents(11, 600, { badFraction: 0.1, clock: () => NOW });
    const partitionOfKey = new Map(consumed.map((c) => [`${c.topic}/${c.key}`, c.partition]));
    const key = (topic: string, partition: number) => `${topic}/${partition}`;
    const expectedByPartition = new Map<string, string[]>();
    for (const record of expected) {
      const topic = topics[record.role];
      const id = key(topic, partitionOfKey.get(`${topic}/${record.key}`)!);
      expectedByPartition.set(id, [
        ...(expectedByPartition.get(id) ?? []),
        `${record.key}|${record.value.toString('base64')}`,
      ]);
    }
    const consumedByPartition = new Map<string, string[]>();
    for (const c of [...consumed].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))) {
      const id = key(c.topic, c.partition);
      consumedByPartition.set(id, [...(consumedByPartition.get(id) ?? []), `${c.key}|${c.value.toString('base64')}`]);
    }
    expect(consumedByPartition).toEqual(expectedByPartition);

    // Fresh topics: every partition's offsets start at 0 and are one contiguous range.
    for (const role of TOPIC_ROLES) {
      for (const { ranges } of report.topics[role].partitions) {
        expect(ranges).toHaveLength(1);
        expect(ranges[0][0]).toBe(0n);
      }
      // Bad counts by kind are the generator's, per topic.
      const generated = expected.filter((r) => r.role === role);
      for (const kind of BAD_KINDS)
        expect(report.topics[role].bad.byKind[kind], `${role} ${kind}`).toBe(
          generated.filter((r) => r.bad === kind).length,
        );
      expect(report.topics[role].bad.total).toBe(generated.filter((r) => r.bad).length);
    }
    expect(report.bad).toBe(expected.filter((r) => r.bad).length);
  });

  it('stops on abort, reporting what was acknowledged up to then, into topics it creates with --partitions', async () => {
    const topics = topicsFor('aborted');
    const controller = new AbortController();
    const report = await simulate({
      brokers: [t.broker.brokers],
      rate: 400,
      partitions: 2,
      topics,
      badFraction: 0.05,
      logger,
      signal: controller.signal,
      onProgress: (r) => {
        if (r.sent >= 60) controller.abort();
      },
    });
    expect(report.stoppedBy).toBe('signal');
    expect(report.sent).toBeGreaterThanOrEqual(60);
    expect(report.seed).toBeGreaterThanOrEqual(0);
    const consumed = await consumeAll(t.kafka, Object.values(topics), report.sent);
    expectReportMatches(report, consumed);
    expect(new Set(consumed.map((c) => c.partition))).toEqual(new Set([0, 1]));
  });

  it('stops after the duration, near the requested rate', async () => {
    const report = await simulate({
      brokers: [t.broker.brokers],
      rate: 100,
      durationMs: 600,
      topics: topicsFor('timed'),
      logger,
    });
    expect(report.stoppedBy).toBe('duration');
    // 100/s for 0.6 s is about 60 events; never more than the schedule allows.
    expect(report.sent).toBeGreaterThan(0);
    expect(report.sent).toBeLessThanOrEqual(61);
  });

  it('rejects bad options before connecting', async () => {
    const base = { brokers: [t.broker.brokers], rate: 10, count: 1, logger };
    await expect(simulate({ ...base, brokers: ['no-port'] })).rejects.toThrow(/host:port/);
    await expect(simulate({ ...base, rate: 0 })).rejects.toThrow(/rate/);
    await expect(simulate({ ...base, count: 1.5 })).rejects.toThrow(/count/);
    await expect(simulate({ ...base, seed: -1 })).rejects.toThrow(/seed/);
    await expect(simulate({ ...base, badFraction: 2 })).rejects.toThrow(/badFraction/);
    await expect(simulate({ ...base, topics: { entry: 'same', exit: 'same' } })).rejects.toThrow(/differ/);
  });
});

describe('simulate when Kafka goes away', () => {
  it('fails with a SimulationError whose report still holds everything Kafka acknowledged', async () => {
    const own = await startTestBroker({ defaultPartitions: 1 });
    let restarted: TestBroker | undefined;
    try {
      const topics = topicsFor('lost');
      let stopping: Promise<void> | undefined;
      const run = simulate({
        brokers: [own.broker.brokers],
        rate: 300,
        topics,
        // kafkajs logs every refused connection: expected here.
        logger: silentLogger,
        kafka: { retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 }, connectionTimeout: 500 },
        onProgress: (r) => {
          if (r.sent >= 30) stopping ??= own.stop();
        },
      });
      const error = await run.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(SimulationError);
      const { report } = error as SimulationError;
      expect(report.stoppedBy).toBe('error');
      expect(report.sent).toBeGreaterThanOrEqual(30);
      expect(report.unconfirmed).toBeGreaterThan(0);
      await stopping;
      // Everything the report counts is in the log; the unconfirmed send may or may not be.
      restarted = await own.restart();
      const consumed = await consumeAll(restarted.kafka, Object.values(topics), report.sent);
      const inLog = new Set(consumed.map(coordinate));
      for (const c of acknowledgedCoordinates(report)) expect(inLog.has(coordinate(c))).toBe(true);
      expect(consumed.length).toBeLessThanOrEqual(report.sent + report.unconfirmed);
    } finally {
      await (restarted ?? own).cleanup();
    }
  });
});
