/**
 * The local Broker hands Triggers what the Kafka Broker's dispatcher hands them: every event at its own position in
 * the Broker's topic, with `knativekafkapartition`/`knativekafkaoffset` overwritten by that position — whatever a
 * KafkaSource put there — and the `floe-ack=delivered` query for senders that cannot set a header (a function's K_SINK).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createBrokerTopic, startBroker } from '../../local/broker/index.ts';
import { postEvent } from '../../local/delivery/http.ts';
import { parseManifests } from '../../local/knative/manifests.ts';
import { createEmitter } from '../../shared/runtime/event-emitter.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { waitFor } from '../helpers/wait-for.ts';
import {
  closeAll,
  event,
  failing,
  gate,
  replyWith,
  startFunction,
  type Handler,
  type TestFunction,
} from './helpers.ts';

const running: { close(): Promise<void> }[] = [];
afterEach(() => closeAll(running));

const DELIVERY = {
  retry: 2,
  backoffPolicy: 'linear',
  backoffDelay: 'PT0.01S',
  timeout: 'PT5S',
  deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dlq' } },
};

function trigger(name: string, type: string) {
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name },
    spec: {
      broker: 'default',
      filters: [{ exact: { type } }],
      subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name } },
      delivery: DELIVERY,
    },
  };
}

/** A Kafka-class Broker whose topic has `partitions` partitions, as the repository's broker.yaml declares one. */
function kafkaBroker(partitions: number) {
  return [
    {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Broker',
      metadata: { name: 'default', annotations: { 'eventing.knative.dev/broker.class': 'Kafka' } },
      spec: { config: { apiVersion: 'v1', kind: 'ConfigMap', name: 'kafka-broker-config' }, delivery: DELIVERY },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kafka-broker-config' },
      data: { 'bootstrap.servers': 'kafka:9092', 'default.topic.partitions': String(partitions) },
    },
  ];
}

async function functionsFor(handlers: Record<string, Handler>): Promise<Record<string, TestFunction>> {
  const functions: Record<string, TestFunction> = {};
  for (const [name, handler] of Object.entries({ dlq: () => undefined, ...handlers })) {
    functions[name] = await startFunction(name, handler);
    running.push(functions[name]);
  }
  return functions;
}

const urls = (functions: Record<string, TestFunction>) =>
  Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.url]));
const position = (e: { attributes: Record<string, string> }) =>
  `${e.attributes.knativekafkapartition}:${e.attributes.knativekafkaoffset}`;

/** What a KafkaSource sends for record `offset` of partition 0 of `topic`. */
function sourceRecord(topic: string, offset: number, key: string) {
  return event({
    id: `partition:0/offset:${offset}`,
    type: 'dev.knative.kafka.event',
    source: `/apis/v1/namespaces/floe/kafkasources/${topic}#${topic}`,
    extensions: { key, partitionkey: key, knativekafkapartition: 0, knativekafkaoffset: offset, floekafkatopic: topic },
  });
}

describe('the Broker topic', () => {
  it("overwrites knativekafkapartition/offset with the event's position: one per event for every Trigger and retry, a new one per copy", async () => {
    const manifests = parseManifests([
      ...kafkaBroker(3),
      trigger('first', 'dev.knative.kafka.event'),
      trigger('second', 'dev.knative.kafka.event'),
    ]);
    const functions = await functionsFor({ first: () => undefined, second: failing(503, 1) });
    const broker = await startBroker({ manifests, services: urls(functions), logger: silentLogger });
    running.push({ close: () => broker.stop() });

    const keys = ['car-1', 'car-2', 'car-3', 'car-4', 'car-1', 'car-1'];
    for (const [i, key] of keys.entries()) await postEvent(broker.url, sourceRecord('parking-entry', 1000 + i, key));
    await broker.drain();
    // The KafkaSource sends record 1000 again (a redelivery): the Broker topic gets a second copy.
    await postEvent(broker.url, sourceRecord('parking-entry', 1000, 'car-1'));
    await broker.drain();

    const { first, second } = functions;
    expect(first.received).toHaveLength(7);
    // Both Triggers — the second after a retried attempt — see the same position for each event.
    const secondById = new Map<string, string[]>();
    for (const e of second.received)
      secondById.set(e.attributes.id, [...(secondById.get(e.attributes.id) ?? []), position(e)]);
    for (const e of first.received) expect(secondById.get(e.attributes.id)).toContain(position(e));
    // The KafkaSource's coordinates are gone; the id (which no Broker touches) still has them.
    const positions = first.received.map(position);
    expect(new Set(positions).size).toBe(7);
    const ofCar1 = first.received.filter((e) => e.attributes.partitionkey === 'car-1');
    // One key, one partition (murmur2 of the key, as the Kafka producer does).
    expect(ofCar1).toHaveLength(4);
    expect(new Set(ofCar1.map((e) => e.attributes.knativekafkapartition)).size).toBe(1);
    // The redelivered record is the same source record at a different Broker position.
    const copies = first.received.filter((e) => e.attributes.id === 'partition:0/offset:1000');
    expect(copies).toHaveLength(2);
    expect(position(copies[0])).not.toBe(position(copies[1]));
    expect(first.received.every((e) => Number(e.attributes.knativekafkapartition) < 3)).toBe(true);
  });

  it('gives a reply its own position, and keeps counting across a restart that keeps the topic', async () => {
    const manifests = parseManifests([...kafkaBroker(1), trigger('tagger', 't.record'), trigger('writer', 't.tagged')]);
    const functions = await functionsFor({ tagger: replyWith('t.tagged'), writer: () => undefined });
    const topic = createBrokerTopic(1);
    const first = await startBroker({ manifests, services: urls(functions), topic, logger: silentLogger });
    await createEmitter(first.url)(
      event({ id: 'a', type: 't.record', extensions: { knativekafkapartition: 0, knativekafkaoffset: 5 } }),
    );
    await first.drain();
    await first.stop();
    const again = await startBroker({
      manifests,
      services: urls(functions),
      topic,
      port: first.port,
      logger: silentLogger,
    });
    running.push({ close: () => again.stop() });
    // The emitter retries a connection its keep-alive pool still held to the stopped broker.
    await createEmitter(again.url)(event({ id: 'b', type: 't.record' }));
    await again.drain();
    // a at 0, its reply at 1, then b at 2 and its reply at 3: never an offset twice
    expect(functions.tagger.received.map(position)).toEqual(['0:0', '0:2']);
    expect(functions.writer.received.map(position)).toEqual(['0:1', '0:3']);
    expect(topic.ends()).toEqual([4n]);
  });

  it('answers ?floe-ack=delivered like the floe-ack header: 102 once taken over, 202 once delivered', async () => {
    const hold = gate();
    const manifests = parseManifests([...kafkaBroker(1), trigger('writer', 't.tagged')]);
    const functions = await functionsFor({ writer: hold.handler });
    const broker = await startBroker({ manifests, services: urls(functions), logger: silentLogger });
    running.push({ close: () => broker.stop() });
    let accepted = false;
    let done = false;
    const emitted = createEmitter(`${broker.url}/?floe-ack=delivered`)(event({ id: 't1', type: 't.tagged' }), {
      onAccepted: () => (accepted = true),
    }).then(() => (done = true));
    await waitFor(() => functions.writer.received.length === 1, 'the event to reach the writer');
    expect(accepted).toBe(true);
    expect(done).toBe(false);
    hold.open();
    await emitted;
    const refused = await postEvent(`${broker.url}/?floe-ack=later`, event({ id: 't2', type: 't.tagged' }));
    expect(refused.status).toBe(400);
  });
});
