/**
 * Exactly once across a KafkaSource redelivery (a restart after a lost commit, a rebalance): every source record is
 * delivered a second time, and the Kafka Broker gives each copy of everything it carries a new position in its own
 * topic, overwriting `knativekafkapartition`/`knativekafkaoffset` with it. Each record must still be on `main` once.
 *
 * Real parts throughout: the embedded Kafka, the KafkaSource stand-ins, the local Broker over a Kafka topic (which
 * rewrites those extensions as the Kafka Broker does), floe's functions on their HTTP host, Nessie and a warehouse. Two topologies:
 * the repository's (every KafkaSource sinks into the tagger) with plain records and records that are CloudEvents,
 * and the one before it (KafkaSource → Broker → Trigger → tagger), which floe's tagger must survive for plain records.
 */
import kafkajs from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../local/broker/index.ts';
import { startKafkaBroker, type KafkaBroker } from '../../local/kafka/index.ts';
import { startKafkaSources, type RunningKafkaSources } from '../../local/kafka-source/index.ts';
import { loadManifests, parseManifests, type Manifests } from '../../local/knative/manifests.ts';
import { functionSink } from '../../local/stack/function-sink.ts';
import { freePort } from '../../local/stack/processes.ts';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { startHost, type FloeFunction, type RunningHost } from '../../shared/runtime/function-host.ts';
import { createFunctionMetrics } from '../../shared/runtime/prometheus.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { compactorFunction } from '../../functions/compactor/index.ts';
import { deadletterFunction } from '../../functions/deadletter/index.ts';
import { janitorFunction } from '../../functions/janitor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const FACTORIES: Record<string, (runtime: Runtime) => FloeFunction> = {
  tagger: taggerFunction,
  writer: writerFunction,
  auditor: auditorFunction,
  publisher: publisherFunction,
  compactor: (runtime) => compactorFunction(runtime),
  janitor: (runtime) => janitorFunction(runtime),
  deadletter: deadletterFunction,
};

let kafka: KafkaBroker;
let cleanupKafka: () => Promise<void>;
beforeAll(async () => {
  const tmp = await tempDir('floe-redelivery-kafka');
  kafka = await startKafkaBroker({ dataDir: tmp.dir, logger: silentLogger });
  // Every topic a KafkaSource of the manifests reads, before any source asks for it (it would be auto-created).
  for (const topic of ['parking-entry', 'parking-exit', 'parking-sensors']) await kafka.createTopic(topic, 2);
  cleanupKafka = async () => {
    await kafka.stop();
    await tmp.cleanup();
  };
});
afterAll(() => cleanupKafka?.());

const running: (() => Promise<void>)[] = [];
let pipelines = 0;
afterEach(async () => {
  for (const stop of running.reverse()) await stop();
  running.length = 0;
});

interface Pipeline {
  stack: TestStack;
  broker: RunningBroker;
  /** Every event the tagger received. */
  taggerSaw: CloudEventMessage[];
  /** Starts the KafkaSource stand-ins (again). */
  startSources(): Promise<RunningKafkaSources>;
}

/** Nessie, a warehouse, every function of the manifests on its host, and the local Broker routing between them. */
async function startPipeline(manifests: Manifests): Promise<Pipeline> {
  const stack = await startTestStack({ FLOE_BATCH_LINGER_MS: '100' });
  running.push(() => stack.stop());
  const brokerUrl = `http://127.0.0.1:${await freePort()}`;
  const taggerSaw: CloudEventMessage[] = [];
  const hosts: Record<string, RunningHost> = {};
  for (const service of manifests.services) {
    const make = service.function ? FACTORIES[service.function] : undefined;
    if (!make) continue;
    let fn = make(stack.runtime);
    if (service.function === 'tagger') {
      const tagger = fn;
      fn = { ...tagger, handle: (context, event) => (taggerSaw.push(event), tagger.handle(context, event)) };
    }
    const sink = functionSink(manifests, service.name, brokerUrl);
    hosts[service.name] = await startHost({
      fn,
      logger: silentLogger,
      port: 0,
      host: '127.0.0.1',
      metrics: createFunctionMetrics(service.name, { defaultMetrics: false }),
      ...(sink ? { sink } : {}),
    });
    running.push(() => hosts[service.name].close());
  }
  const services = Object.fromEntries(Object.entries(hosts).map(([name, host]) => [name, host.url]));
  // Over the embedded Kafka, as the local stack runs it; a namespace per pipeline keeps their Broker topics apart.
  const broker = await startBroker({
    manifests,
    services,
    port: Number(new URL(brokerUrl).port),
    logger: silentLogger,
    kafka: { brokers: [kafka.brokers], namespace: `redelivery${++pipelines}` },
  });
  running.push(() => broker.stop());
  return {
    stack,
    broker,
    taggerSaw,
    async startSources() {
      const sources = await startKafkaSources({
        manifests,
        brokers: [kafka.brokers],
        sinkUrl: broker.url,
        services,
        deadLetterUrl: services.deadletter,
        logger: silentLogger,
        stopGraceMs: 5000,
      });
      running.push(() => sources.stop());
      return sources;
    },
  };
}

/** The manifests as they were before the fix: the KafkaSources feed the Broker, a Trigger delivers their events to the tagger. */
function throughTheBroker(manifests: Manifests): Manifests {
  const [tagger] = parseManifests([
    {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: 'tagger' },
      spec: {
        broker: 'default',
        filters: [
          {
            any: manifests.kafkaSources.map((source) => ({
              exact: { floekafkatopic: source.extensions.floekafkatopic },
            })),
          },
        ],
        subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'tagger' } },
        delivery: {
          retry: 5,
          backoffPolicy: 'exponential',
          backoffDelay: 'PT0.5S',
          timeout: 'PT30S',
          deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'deadletter' } },
        },
      },
    },
  ]).triggers;
  return {
    ...manifests,
    kafkaSources: manifests.kafkaSources.map((source) => ({ ...source, sink: { kind: 'Broker', name: 'default' } })),
    triggers: [tagger, ...manifests.triggers.filter((trigger) => trigger.subscriber !== 'tagger')],
  };
}

interface Produced {
  /** `partition:offset` of every record, sorted. */
  coordinates: string[];
}

/** Produces `records` to `topic` (two partitions, used by one test only), alternating partitions. */
async function produce(
  topic: string,
  records: { key: string; value: string; headers?: Record<string, string> }[],
): Promise<Produced> {
  const client = new kafkajs.Kafka({
    clientId: 'floe-redelivery',
    brokers: [kafka.brokers],
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const producer = client.producer();
  await producer.connect();
  try {
    const messages = records.map((record, i) => ({ ...record, partition: i % 2 }));
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
  // An empty topic: each partition's records got offsets 0, 1, … in the order sent.
  const next = [0, 0];
  return { coordinates: records.map((_, i) => `${i % 2}:${next[i % 2]++}`).sort() };
}

/** Every source record is read again: the group forgets what it committed, as after a lost commit. */
async function forgetCommittedOffsets(manifests: Manifests, topic: string): Promise<void> {
  const source = manifests.kafkaSources.find((s) => s.topics.includes(topic))!;
  const admin = new kafkajs.Kafka({
    clientId: 'floe-redelivery-admin',
    brokers: [kafka.brokers],
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.resetOffsets({ groupId: source.consumerGroup!, topic, earliest: true });
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the sources handed over `records` records and every batch they led to left its WAP branch. */
async function published(pipeline: Pipeline, sources: RunningKafkaSources, records: number): Promise<void> {
  await waitFor(
    async () => {
      const handled = Object.values(sources.stats().perSource).reduce(
        (n, s) => n + s.delivered + s.deadLettered + s.dropped,
        0,
      );
      if (handled < records || pipeline.broker.stats().inFlight > 0) return false;
      const refs = await pipeline.stack.catalog.client.listReferences();
      return !refs.some((ref) => ref.name.startsWith('wap/'));
    },
    `${records} records to be published`,
    60_000,
  );
  expect(Object.values(sources.stats().perSource).reduce((n, s) => n + s.deadLettered + s.dropped, 0)).toBe(0);
}

async function coordinatesOnMain(pipeline: Pipeline, table: string): Promise<string[]> {
  const { trusted, untrusted } = await pipeline.stack.mainRows(table);
  return [...trusted, ...untrusted].map((row) => `${row[Column.partition]}:${row[Column.offset]}`).sort();
}

function entry(i: number): string {
  return JSON.stringify({
    event_id: `ev-${i}`,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    car_id: `B-${i}`,
    slot: `A-${String(i).padStart(3, '0')}`,
    latitude: 52.5205,
    longitude: 13.405,
  });
}

const PLAIN: Record<string, string> = { 'content-type': 'application/json' };

/** Kafka binary-mode CloudEvent headers. */
function cloudEvent(i: number): Record<string, string> {
  return {
    ce_specversion: '1.0',
    ce_id: `exit-${i}`,
    ce_source: '/lots/LOT-1/gates/2',
    ce_type: 'com.example.parking.exit',
    'content-type': 'application/json',
  };
}

const brokerPosition = (event: CloudEventMessage) =>
  `${event.attributes.knativekafkapartition}:${event.attributes.knativekafkaoffset}`;

/**
 * Delivers every record of `topic`, then every record again (after the group forgot its offsets), and checks that
 * main holds each record once, under the record's own coordinates in the source topic.
 */
async function deliverTwiceLandOnce(
  pipeline: Pipeline,
  manifests: Manifests,
  topic: string,
  table: string,
  produced: Produced,
): Promise<void> {
  const records = produced.coordinates.length;
  const first = await pipeline.startSources();
  await published(pipeline, first, records);
  const afterFirst = await coordinatesOnMain(pipeline, table);
  await first.stop();
  await forgetCommittedOffsets(manifests, topic);
  const second = await pipeline.startSources();
  await published(pipeline, second, records);
  const afterSecond = await coordinatesOnMain(pipeline, table);
  expect(afterSecond, 'rows on main after the redelivery').toHaveLength(records);
  expect(afterSecond).toEqual(produced.coordinates);
  expect(afterFirst).toEqual(produced.coordinates);
}

describe('a source record delivered again', () => {
  it('lands on main once behind a Broker that gives the copy a new position (plain records, the topology before)', async () => {
    const manifests = throughTheBroker(await loadManifests());
    const pipeline = await startPipeline(manifests);
    const produced = await produce(
      'parking-entry',
      Array.from({ length: 12 }, (_, i) => ({ key: `car-${i}`, value: entry(i), headers: PLAIN })),
    );
    await deliverTwiceLandOnce(pipeline, manifests, 'parking-entry', 'parking_entry', produced);
    // The Broker really did hand the tagger each copy at another position: its knativekafka* differ between the two.
    expect(pipeline.taggerSaw).toHaveLength(24);
    const positions = new Map<string, Set<string>>();
    for (const event of pipeline.taggerSaw)
      positions.set(event.attributes.id, (positions.get(event.attributes.id) ?? new Set()).add(brokerPosition(event)));
    expect([...positions.values()].map((seen) => seen.size)).toEqual(Array(12).fill(2));
  }, 120_000);

  it("lands on main once when the KafkaSource feeds the tagger itself, plain and CloudEvent records alike (the repository's topology)", async () => {
    const manifests = await loadManifests();
    const pipeline = await startPipeline(manifests);
    const produced = await produce(
      'parking-exit',
      Array.from({ length: 12 }, (_, i) => ({
        key: `car-${i}`,
        value: entry(100 + i),
        // Every other record is a CloudEvent in Kafka's binary mode: its own id and source, no coordinates of its own.
        headers: i % 2 === 0 ? PLAIN : cloudEvent(i),
      })),
    );
    await deliverTwiceLandOnce(pipeline, manifests, 'parking-exit', 'parking_exit', produced);
    expect(pipeline.taggerSaw).toHaveLength(24);
    expect(pipeline.taggerSaw.filter((event) => event.attributes.type !== 'dev.knative.kafka.event')).toHaveLength(12);
  }, 120_000);
});
