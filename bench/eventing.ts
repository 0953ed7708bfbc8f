/**
 * The local eventing plane's throughput, everything in this process on loopback (real HTTP, real function hosts):
 *
 * 1. broker ingress → one Trigger → a function that answers 204: events/s with 64 senders, for both
 *    acknowledgements (`accepted`, and `delivered` = the answer waits for the delivery);
 * 2. with a reply hop: tagger (replies) → a writer that holds every request until its batch closes (group commit,
 *    LINGER_MS), `floe-ack: delivered`, 512 senders;
 * 3. Kafka → KafkaSource stand-in → broker → tagger → that writer, for an `ordered` and an `unordered` source on one
 *    partition: records/s from the source's start to the last record delivered.
 *
 *   npm run bench -- eventing              (EVENTING_BENCH_EVENTS=20000 for a longer run)
 */
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { createEvent, type CloudEventMessage } from '../shared/events/cloudevent.ts';
import { startHost, type RunningHost } from '../shared/runtime/function-host.ts';
import { startBroker, type RunningBroker } from '../local/broker/index.ts';
import { postEvent } from '../local/delivery/http.ts';
import { startKafkaBroker } from '../local/kafka/index.ts';
import { startKafkaSources } from '../local/kafka-source/index.ts';
import { parseManifests } from '../local/knative/manifests.ts';
import { silentLogger } from './_measure.ts';
import { benchArgs } from './_args.ts';

benchArgs(
  `Usage: npm run bench -- eventing

The local eventing plane's throughput on loopback: broker ingress to one Trigger, a reply hop, and Kafka through a
KafkaSource stand-in to the tagger and a writer. Environment: EVENTING_BENCH_EVENTS (default 20000).

Options:
  -h, --help  this text`,
  {},
);

const EVENTS = Number(process.env.EVENTING_BENCH_EVENTS ?? 10_000);
const SENDERS = 64;
const RECORDS = Number(process.env.EVENTING_BENCH_RECORDS ?? 5_000);
const LINGER_MS = 200;

const service = (name: string) => ({ ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name } });
function trigger(name: string, subscriber: string, type: string, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name, annotations },
    spec: {
      broker: 'default',
      filters: [{ exact: { type } }],
      subscriber: service(subscriber),
      delivery: { retry: 3, backoffDelay: 'PT0.1S', timeout: 'PT30S', deadLetterSink: service('dlq') },
    },
  };
}

async function host(
  name: string,
  handle: (event: CloudEventMessage) => Promise<CloudEventMessage | void>,
): Promise<RunningHost> {
  return startHost({
    fn: { name, handle: (_context, event) => handle(event) },
    logger: silentLogger,
    port: 0,
    host: '127.0.0.1',
  });
}

/** A writer stand-in: every request waits until its batch closes, LINGER_MS after the batch's first request. */
function groupCommit(): (event: CloudEventMessage) => Promise<void> {
  let batch: (() => void)[] = [];
  return () =>
    new Promise<void>((resolve) => {
      if (batch.length === 0) {
        setTimeout(() => {
          const closing = batch;
          batch = [];
          for (const done of closing) done();
        }, LINGER_MS);
      }
      batch.push(resolve);
    });
}

async function send(
  broker: RunningBroker,
  count: number,
  ack: 'accepted' | 'delivered',
  type: string,
  senders = SENDERS,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < count) {
        const event = createEvent({ type, source: '/bench', id: `e-${next++}`, data: { n: next } });
        const response = await postEvent(broker.url, event, { headers: { 'floe-ack': ack } });
        if (response.status !== 202) throw new Error(`broker answered ${response.status}`);
      }
    }),
  );
  await broker.drain();
  return count / ((performance.now() - started) / 1000);
}

const rows: string[] = [];
const dlq = await host('dlq', async () => {});
const sink = await host('sink', async () => {});
const tagger = await host('tagger', async (event) =>
  createEvent({ type: 'bench.tagged', source: '/tagger', extensions: { partitionkey: event.attributes.partitionkey } }),
);
const writer = await host('writer', groupCommit());
const manifests = parseManifests([
  trigger('sink', 'sink', 'bench.plain'),
  trigger('tagger', 'tagger', 'bench.record'),
  trigger('tagger-kafka', 'tagger', 'dev.knative.kafka.event'),
  trigger('writer', 'writer', 'bench.tagged', { 'kafka.eventing.knative.dev/delivery.order': 'unordered' }),
]);
const broker = await startBroker({
  manifests,
  services: { dlq: dlq.url, sink: sink.url, tagger: tagger.url, writer: writer.url },
  logger: silentLogger,
});

try {
  rows.push(
    `| ingress → sink (204), floe-ack accepted | ${SENDERS} senders | ${Math.round(await send(broker, EVENTS, 'accepted', 'bench.plain')).toLocaleString('en')} events/s |`,
  );
  rows.push(
    `| ingress → sink (204), floe-ack delivered | ${SENDERS} senders | ${Math.round(await send(broker, EVENTS, 'delivered', 'bench.plain')).toLocaleString('en')} events/s |`,
  );
  // Each sender waits out the writer's linger: throughput needs many senders (as the KafkaSource's many in flight).
  rows.push(
    `| ingress → tagger (reply) → writer (group commit ${LINGER_MS} ms), delivered | 512 senders | ${Math.round(await send(broker, EVENTS, 'delivered', 'bench.record', 512)).toLocaleString('en')} events/s |`,
  );

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-eventing-bench-'));
  const kafka = await startKafkaBroker({ dataDir, logger: silentLogger });
  try {
    const client = new kafkajs.Kafka({
      clientId: 'bench',
      brokers: [kafka.brokers],
      logLevel: kafkajs.logLevel.NOTHING,
    });
    for (const ordering of ['ordered', 'unordered'] as const) {
      const topic = `bench-${ordering}`;
      await kafka.createTopic(topic, 1);
      const producer = client.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
      await producer.connect();
      for (let from = 0; from < RECORDS; from += 500) {
        await producer.send({
          topic,
          messages: Array.from({ length: Math.min(500, RECORDS - from) }, (_, i) => ({
            key: `car-${(from + i) % 50}`,
            value: `{"n":${from + i}}`,
            headers: { 'content-type': 'application/json' },
          })),
        });
      }
      await producer.disconnect();
      const source = parseManifests([
        {
          apiVersion: 'sources.knative.dev/v1beta1',
          kind: 'KafkaSource',
          metadata: { name: topic },
          spec: {
            bootstrapServers: ['x:9092'],
            topics: [topic],
            consumerGroup: topic,
            initialOffset: 'earliest',
            ordering,
            delivery: { retry: 3, backoffDelay: 'PT0.1S', timeout: 'PT30S' },
            sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } },
          },
        },
      ]);
      const started = performance.now();
      const sources = await startKafkaSources({
        manifests: source,
        brokers: [kafka.brokers],
        sinkUrl: broker.url,
        logger: silentLogger,
      });
      while (sources.stats().perSource[topic].delivered < RECORDS)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const seconds = (performance.now() - started) / 1000;
      await sources.stop();
      rows.push(
        `| Kafka → KafkaSource (${ordering}, 1 partition) → tagger → writer (group commit ${LINGER_MS} ms) | ${RECORDS.toLocaleString('en')} records | ${Math.round(RECORDS / seconds).toLocaleString('en')} records/s |`,
      );
    }
  } finally {
    await kafka.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
} finally {
  await broker.stop();
  await Promise.all([dlq, sink, tagger, writer].map((h) => h.close()));
}

console.log(
  `\nLocal eventing plane, one process, loopback, ${os.cpus().length} CPUs (${EVENTS.toLocaleString('en')} events per ingress row)\n`,
);
console.log('| path | load | throughput |');
console.log('|---|---|---|');
for (const row of rows) console.log(row);
