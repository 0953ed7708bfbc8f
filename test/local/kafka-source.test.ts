/**
 * The KafkaSource stand-in end to end: the embedded Kafka broker, kafkajs producers, the stand-in's consumer groups,
 * the local broker and real function hosts. Offsets are read back from the group coordinator.
 */
import kafkajs from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaBroker, type KafkaBroker } from '../../local/kafka/index.ts';
import { startKafkaSources, type RunningKafkaSources } from '../../local/kafka-source/index.ts';
import { startBroker } from '../../local/broker/index.ts';
import { parseManifests, type Manifests } from '../../local/knative/manifests.ts';
import { tempDir } from '../helpers/tmp.ts';
import { HandlerError } from '../../shared/runtime/function-host.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { closeAll, event, gate, startFunction, type Handler, type TestFunction } from './helpers.ts';

let kafka: KafkaBroker;
let client: InstanceType<typeof kafkajs.Kafka>;
let cleanup: () => Promise<void>;
let topicCount = 0;

beforeAll(async () => {
  const tmp = await tempDir('floe-kafka-source');
  kafka = await startKafkaBroker({ dataDir: tmp.dir, logger: silentLogger });
  client = new kafkajs.Kafka({ clientId: 'floe-test', brokers: [kafka.brokers], logLevel: kafkajs.logLevel.NOTHING });
  cleanup = async () => {
    await kafka.stop();
    await tmp.cleanup();
  };
});
afterAll(() => cleanup?.());

const running: { close(): Promise<void> }[] = [];
afterEach(() => closeAll(running));

/** A fresh topic (and group name) per test, so the tests share one Kafka broker without seeing each other's records. */
async function freshTopic(partitions: number): Promise<{ topic: string; group: string }> {
  const topic = `parking-${++topicCount}`;
  await kafka.createTopic(topic, partitions);
  return { topic, group: `floe-${topic}` };
}

function kafkaSource(
  name: string,
  topic: string,
  group: string,
  ordering: 'ordered' | 'unordered',
  delivery: object = {},
) {
  return parseManifests([
    {
      apiVersion: 'sources.knative.dev/v1beta1',
      kind: 'KafkaSource',
      metadata: { name },
      spec: {
        bootstrapServers: ['kafka.invalid:9092'],
        topics: [topic],
        consumerGroup: group,
        initialOffset: 'earliest',
        ordering,
        delivery: {
          retry: 2,
          backoffPolicy: 'linear',
          backoffDelay: 'PT0.01S',
          timeout: 'PT5S',
          deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dlq' } },
          ...delivery,
        },
        ceOverrides: { extensions: { floetest: 'yes' } },
        sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } },
      },
    },
  ]);
}

async function produce(
  topic: string,
  records: { key: string; value: string; partition?: number; headers?: Record<string, string> }[],
): Promise<void> {
  const producer = client.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, messages: records });
  await producer.disconnect();
}

async function committed(group: string, topic: string): Promise<Record<number, string>> {
  const admin = client.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return Object.fromEntries(offsets.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

async function sources(
  manifests: Manifests,
  sinkUrl: string,
  dlq: TestFunction,
  extra: { stopGraceMs?: number } = {},
): Promise<RunningKafkaSources> {
  const started = await startKafkaSources({
    manifests,
    brokers: [kafka.brokers],
    sinkUrl,
    deadLetterUrl: dlq.url,
    logger: silentLogger,
    ...extra,
  });
  running.push({ close: () => started.stop() });
  return started;
}

/**
 * A local broker whose one Trigger delivers everything to a function running `handler`; over a topic of `kafka` when
 * given, else in memory.
 */
async function brokerTo(handler: Handler, kafkaTopic?: { brokers: string[]; namespace: string }) {
  const fn = await startFunction('consumer', handler);
  const dlq = await startFunction('dlq');
  running.push(fn, dlq);
  const manifests = parseManifests([
    {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: 'all' },
      spec: {
        broker: 'default',
        subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'consumer' } },
        delivery: {
          retry: 1,
          backoffDelay: 'PT0.01S',
          deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dlq' } },
        },
      },
    },
  ]);
  const broker = await startBroker({
    manifests,
    services: { consumer: fn.url, dlq: dlq.url },
    logger: silentLogger,
    ...(kafkaTopic ? { kafka: kafkaTopic } : {}),
  });
  running.push({ close: () => broker.stop() });
  return { broker, fn, dlq };
}

/**
 * The source coordinates, from the id: behind the broker, knativekafkapartition/offset are the Broker topic's (as behind
 * the Kafka Broker), not the KafkaSource's.
 */
const offsetOf = (fn: TestFunction) =>
  fn.received.map((e) => /^partition:(\d+)\/offset:(\d+)$/.exec(e.attributes.id)!.slice(1).join(':'));

describe('KafkaSource stand-in', () => {
  it('turns records into KafkaSource events through the broker, in partition order, and commits every offset', async () => {
    const { topic, group } = await freshTopic(2);
    const { broker, fn, dlq } = await brokerTo(() => undefined);
    const records = Array.from({ length: 20 }, (_, i) => ({
      key: `car-${i % 4}`,
      value: `{"n":${i}}`,
      partition: i % 2,
      headers: { 'content-type': 'application/json', 'X-Lot': 'north' },
    }));
    await produce(topic, records);
    const started = await sources(kafkaSource('parking', topic, group, 'ordered'), broker.url, dlq);
    await waitFor(() => fn.received.length === 20, 'all 20 records at the function');
    const first = fn.received.find((e) => e.attributes.id === 'partition:0/offset:0')!;
    expect(first.attributes).toMatchObject({
      type: 'dev.knative.kafka.event',
      source: `/apis/v1/namespaces/floe/kafkasources/parking#${topic}`,
      subject: 'partition:0#0',
      key: 'car-0',
      partitionkey: 'car-0',
      kafkaheaderxlot: 'north',
      datacontenttype: 'application/json',
      floetest: 'yes',
    });
    expect(Buffer.from(first.data).toString()).toBe('{"n":0}');
    // The KafkaSource's knativekafkapartition/offset did not survive the broker: each event has its own position there.
    expect(
      new Set(fn.received.map((e) => `${e.attributes.knativekafkapartition}:${e.attributes.knativekafkaoffset}`)).size,
    ).toBe(20);
    for (const partition of ['0', '1']) {
      const offsets = offsetOf(fn)
        .filter((o) => o.startsWith(`${partition}:`))
        .map((o) => Number(o.split(':')[1]));
      expect(offsets).toEqual(Array.from({ length: 10 }, (_, i) => i));
    }
    await waitFor(
      async () => JSON.stringify(await committed(group, topic)) === JSON.stringify({ 0: '10', 1: '10' }),
      'offsets 10/10 committed',
    );
    expect(started.stats().perSource.parking).toEqual({
      consumed: 20,
      delivered: 20,
      deadLettered: 0,
      dropped: 0,
      lag: 0,
    });
    expect(dlq.received).toHaveLength(0);
  });

  it('ordered: dispatches the next record once the broker took the previous one, but commits only what completed', async () => {
    const { topic, group } = await freshTopic(1);
    const hold = gate();
    const { broker, fn, dlq } = await brokerTo((e) =>
      e.attributes.id === 'partition:0/offset:0' ? hold.wait() : undefined,
    );
    await produce(
      topic,
      [0, 1, 2].map((i) => ({ key: 'car-1', value: `${i}` })),
    );
    const started = await sources(kafkaSource('parking', topic, group, 'ordered'), broker.url, dlq);
    await waitFor(() => fn.received.length === 3, 'all three records at the function while the first is held');
    expect(offsetOf(fn)).toEqual(['0:0', '0:1', '0:2']);
    await waitFor(() => started.stats().perSource.parking.delivered === 2, 'records 1 and 2 to complete');
    expect(await committed(group, topic)).toEqual({ 0: '-1' });
    hold.open();
    await waitFor(async () => (await committed(group, topic))[0] === '3', 'offset 3 committed');
  });

  it('unordered: many in flight, gaps held back until the held record completes', async () => {
    const { topic, group } = await freshTopic(1);
    const hold = gate();
    const fn = await startFunction('sink', (e) => (e.attributes.knativekafkaoffset === '1' ? hold.wait() : undefined));
    const dlq = await startFunction('dlq');
    running.push(fn, dlq);
    await produce(
      topic,
      [0, 1, 2, 3, 4].map((i) => ({ key: `car-${i}`, value: `${i}` })),
    );
    const started = await sources(kafkaSource('sensors', topic, group, 'unordered'), fn.url, dlq);
    await waitFor(() => started.stats().perSource.sensors.delivered === 4, 'all records but the held one to complete');
    await waitFor(
      async () => (await committed(group, topic))[0] === '1',
      'offset 1 committed (record 0 done, record 1 held)',
    );
    await waitFor(() => started.stats().perSource.sensors.lag === 4, 'a lag of 4 behind the held record');
    hold.open();
    await waitFor(async () => (await committed(group, topic))[0] === '5', 'offset 5 committed');
    expect(started.stats().perSource.sensors).toMatchObject({ consumed: 5, delivered: 5, lag: 0 });
  });

  it('retries, then dead-letters with the error extensions and commits anyway', async () => {
    const { topic, group } = await freshTopic(1);
    let failures = 0;
    const sink = await startFunction('sink', (e) => {
      const value = Buffer.from(e.data).toString();
      if (value === 'poison') throw new HandlerError(422, 'not a record this sink can take');
      if (value === 'flaky' && failures++ < 2) throw new HandlerError(503, 'busy');
    });
    const dlq = await startFunction('dlq');
    running.push(sink, dlq);
    await produce(
      topic,
      ['flaky', 'poison', 'ok'].map((value, i) => ({ key: `k${i}`, value })),
    );
    const started = await sources(kafkaSource('parking', topic, group, 'ordered'), sink.url, dlq);
    await waitFor(async () => (await committed(group, topic))[0] === '3', 'all offsets committed');
    expect(sink.received.map((e) => Buffer.from(e.data).toString())).toEqual([
      'flaky',
      'flaky',
      'flaky',
      'poison',
      'ok',
    ]);
    expect(dlq.received).toHaveLength(1);
    expect(dlq.received[0].attributes).toMatchObject({
      id: 'partition:0/offset:1',
      knativeerrordest: sink.url,
      knativeerrorcode: '422',
    });
    expect(Buffer.from(dlq.received[0].attributes.knativeerrordata, 'base64').toString()).toContain(
      'not a record this sink can take',
    );
    expect(started.stats().perSource.parking).toMatchObject({ consumed: 3, delivered: 2, deadLettered: 1 });
  });

  it('redelivers after a restart what was in flight when it stopped', async () => {
    const { topic, group } = await freshTopic(1);
    const hold = gate();
    let first = true;
    const sink = await startFunction('sink', (e) => {
      if (e.attributes.knativekafkaoffset === '1' && first) {
        first = false;
        return hold.wait();
      }
    });
    const dlq = await startFunction('dlq');
    running.push(sink, dlq);
    await produce(
      topic,
      [0, 1, 2].map((i) => ({ key: `k${i}`, value: `${i}` })),
    );
    const manifests = kafkaSource('parking', topic, group, 'unordered');
    const before = await startKafkaSources({
      manifests,
      brokers: [kafka.brokers],
      sinkUrl: sink.url,
      deadLetterUrl: dlq.url,
      logger: silentLogger,
      stopGraceMs: 0,
    });
    await waitFor(() => before.stats().perSource.parking.delivered === 2, 'records 0 and 2 delivered, 1 held');
    await before.stop();
    expect(await committed(group, topic)).toEqual({ 0: '1' });
    hold.open();
    const after = await sources(manifests, sink.url, dlq);
    await waitFor(async () => (await committed(group, topic))[0] === '3', 'everything committed after the restart');
    expect(offsetOf(sink).filter((o) => o === '0:1')).toHaveLength(2);
    expect(after.stats().perSource.parking.consumed).toBe(2);
  });

  it('a burst waits in Kafka: the sink answers once its event is in the Broker topic, at most 50 records of a partition in flight', async () => {
    const { topic, group } = await freshTopic(1);
    // The tagger's shape: the KafkaSource's sink emits what it made to the Broker and answers once that was taken.
    const hold = gate();
    const {
      broker,
      fn: consumer,
      dlq,
    } = await brokerTo(hold.handler, { brokers: [kafka.brokers], namespace: `burst-${topic}` });
    let active = 0;
    let mostActive = 0;
    const tagger = await startFunction(
      'tagger',
      async (e, context) => {
        mostActive = Math.max(mostActive, ++active);
        try {
          await context.emit(event({ type: 't.tagged', id: `tagged-${e.attributes.id}` }));
        } finally {
          active--;
        }
      },
      broker.url,
    );
    running.push(tagger);
    const burst = 300;
    await produce(
      topic,
      Array.from({ length: burst }, (_, i) => ({ key: `car-${i}`, value: `${i}` })),
    );
    const started = await sources(kafkaSource('parking', topic, group, 'unordered'), tagger.url, dlq);
    // Every record is committed while the Broker's subscriber still holds each delivery it got.
    await waitFor(async () => (await committed(group, topic))[0] === String(burst), `offset ${burst} committed`);
    expect(started.stats().perSource.parking).toMatchObject({ consumed: burst, delivered: burst, lag: 0 });
    expect(mostActive).toBeLessThanOrEqual(50);
    expect(mostActive).toBeGreaterThan(1);
    expect(broker.stats().inFlight).toBe(burst);
    hold.open();
    await broker.drain();
    expect(new Set(consumer.received.map((e) => e.attributes.id)).size).toBe(burst);
  });

  it('posts to a Service sink at most its containerConcurrency at once, from all sources together', async () => {
    const first = await freshTopic(2);
    const second = await freshTopic(2);
    const releases: (() => void)[] = [];
    let active = 0;
    let mostActive = 0;
    const sink = await startFunction('tagger', async () => {
      mostActive = Math.max(mostActive, ++active);
      await new Promise<void>((resolve) => releases.push(resolve));
      active--;
    });
    const dlq = await startFunction('dlq');
    running.push(sink, dlq);
    const source = (name: string, topic: string, group: string) => ({
      apiVersion: 'sources.knative.dev/v1beta1',
      kind: 'KafkaSource',
      metadata: { name },
      spec: {
        bootstrapServers: ['kafka.invalid:9092'],
        topics: [topic],
        consumerGroup: group,
        initialOffset: 'earliest',
        ordering: 'unordered',
        sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'tagger' } },
      },
    });
    const manifests = parseManifests([
      {
        apiVersion: 'serving.knative.dev/v1',
        kind: 'Service',
        metadata: { name: 'tagger' },
        spec: { template: { spec: { containerConcurrency: 3, containers: [{ image: 'floe' }] } } },
      },
      source('entry', first.topic, first.group),
      source('exit', second.topic, second.group),
    ]);
    for (const { topic } of [first, second])
      await produce(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ key: `car-${i}`, value: `${i}` })),
      );
    const started = await startKafkaSources({
      manifests,
      brokers: [kafka.brokers],
      sinkUrl: 'http://127.0.0.1:1',
      services: { tagger: sink.url },
      logger: silentLogger,
    });
    running.push({ close: () => started.stop() });
    const delivered = () => started.stats().perSource.entry.delivered + started.stats().perSource.exit.delivered;
    while (delivered() < 20) {
      await waitFor(() => releases.length > 0 || delivered() === 20, 'a request at the sink');
      expect(active).toBeLessThanOrEqual(3);
      for (const release of releases.splice(0)) release();
    }
    expect(mostActive).toBe(3);
    expect(sink.received).toHaveLength(20);
  });
});
