/**
 * The local broker over real HTTP: Triggers from manifests route to real function hosts; retries, dead-lettering,
 * reply re-ingestion, loop protection, backpressure, ordered Triggers and the delivered acknowledgement — in memory,
 * and over a topic of the embedded Kafka (as the local stack runs it): acknowledged once in the topic, redelivered by
 * a restarted Broker, ordered per partition.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { startBroker, brokerTopicName, BrokerConfigError, type RunningBroker } from '../../local/broker/index.ts';
import { createBrokerTopic } from '../../local/broker/broker-topic.ts';
import { createDispatcher } from '../../local/broker/dispatcher.ts';
import { startKafkaLog } from '../../local/broker/kafka-log.ts';
import { postEvent } from '../../local/delivery/http.ts';
import { createEmitter } from '../../shared/runtime/event-emitter.ts';
import { loadManifests, parseManifests, type Manifests } from '../../local/knative/manifests.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { startTestBroker, type TestBroker } from '../kafka/helpers/broker.ts';
import {
  closeAll,
  event,
  failing,
  gate,
  manifestsFrom,
  replyWith,
  startFunction,
  type Handler,
  type TestFunction,
} from './helpers.ts';

const running: { close(): Promise<void> }[] = [];
afterEach(() => closeAll(running));

const FAST = { retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.01S', timeout: 'PT5S' };
const DLQ = { deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dlq' } } };

function trigger(
  name: string,
  subscriber: string,
  filters: unknown[],
  extra: { delivery?: object; annotations?: Record<string, string> } = {},
) {
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      broker: 'default',
      filters,
      subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: subscriber } },
      delivery: extra.delivery ?? { ...FAST, ...DLQ },
    },
  };
}

const brokerDoc = {
  apiVersion: 'eventing.knative.dev/v1',
  kind: 'Broker',
  metadata: { name: 'default' },
  spec: { delivery: { ...FAST, ...DLQ } },
};

/** Starts the functions (plus a recording `dlq`) and a broker over them. */
async function setup(
  manifests: Manifests,
  handlers: Record<string, Handler>,
  options: { maxInFlight?: number; ttl?: number; kafka?: { brokers: string[]; namespace: string } } = {},
) {
  const functions: Record<string, TestFunction> = {};
  for (const [name, handler] of Object.entries({ dlq: () => undefined, ...handlers })) {
    functions[name] = await startFunction(name, handler);
    running.push(functions[name]);
  }
  const services = Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.url]));
  const broker = await startBroker({ manifests, services, logger: silentLogger, ...options });
  running.push({ close: () => broker.stop() });
  return { broker, functions };
}

async function send(broker: RunningBroker, message: CloudEventMessage, ack?: 'delivered') {
  const response = await postEvent(broker.url, message, ack ? { headers: { 'floe-ack': ack } } : {});
  return { status: response.status, body: Buffer.from(response.body).toString(), headers: response.headers };
}

const ids = (fn: TestFunction) => fn.received.map((e) => e.attributes.id).sort();

describe('routing', () => {
  it('delivers to exactly the Triggers whose exact/prefix/suffix/all/any/not filters match', async () => {
    const manifests = manifestsFrom(`
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
spec:
  delivery: {retry: 0, deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dlq}}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: exact}
spec:
  broker: default
  filters: [{exact: {type: t.exact}}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: exact}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: prefix}
spec:
  broker: default
  filters: [{prefix: {source: /orders/}}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: prefix}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: suffix}
spec:
  broker: default
  filters: [{suffix: {subject: .jpg}}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: suffix}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: all}
spec:
  broker: default
  filters: [{all: [{exact: {type: t.all}}, {exact: {region: eu}}]}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: all}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: any}
spec:
  broker: default
  filters: [{exact: {type: t.any}}, {any: [{exact: {region: eu}}, {exact: {region: us}}]}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: any}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: not}
spec:
  broker: default
  filters: [{exact: {type: t.not}}, {not: {exact: {region: eu}}}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: not}}
`);
    const { broker, functions } = await setup(manifests, {
      exact: () => undefined,
      prefix: () => undefined,
      suffix: () => undefined,
      all: () => undefined,
      any: () => undefined,
      not: () => undefined,
    });
    const events = [
      event({ id: 'e1', type: 't.exact' }),
      event({ id: 'e2', type: 't.exactly' }),
      event({ id: 'p1', type: 'x', source: '/orders/eu' }),
      event({ id: 'p2', type: 'x', source: '/order' }),
      event({ id: 's1', type: 'x', subject: 'cars/a.jpg' }),
      event({ id: 's2', type: 'x', subject: 'cars/a.jpeg' }),
      event({ id: 'a1', type: 't.all', extensions: { region: 'eu' } }),
      event({ id: 'a2', type: 't.all', extensions: { region: 'us' } }),
      event({ id: 'a3', type: 't.all' }),
      event({ id: 'y1', type: 't.any', extensions: { region: 'us' } }),
      event({ id: 'y2', type: 't.any', extensions: { region: 'apac' } }),
      event({ id: 'n1', type: 't.not', extensions: { region: 'us' } }),
      event({ id: 'n2', type: 't.not', extensions: { region: 'eu' } }),
      event({ id: 'n3', type: 't.not' }),
    ];
    for (const e of events) expect((await send(broker, e)).status).toBe(202);
    await broker.drain();
    expect(ids(functions.exact)).toEqual(['e1']);
    expect(ids(functions.prefix)).toEqual(['p1']);
    expect(ids(functions.suffix)).toEqual(['s1']);
    expect(ids(functions.all)).toEqual(['a1']);
    expect(ids(functions.any)).toEqual(['y1']);
    // `not` of a filter on a missing attribute passes: the event lacks `region`, so `region=eu` fails.
    expect(ids(functions.not)).toEqual(['n1', 'n3']);
    expect(functions.dlq.received).toHaveLength(0);
    const stats = broker.stats();
    expect(stats.received).toBe(events.length);
    expect(stats.unrouted).toBe(7);
    expect(stats.triggers.exact).toMatchObject({ matched: 1, delivered: 1, retried: 0, deadLettered: 0, failed: 0 });
  });

  it('delivers in binary mode with Prefer: reply, keeps data bytes exact, and does not leak knativebrokerttl', async () => {
    const seen: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
    const raw = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    running.push({ close: () => new Promise<void>((resolve) => raw.close(() => resolve())) });
    const dlq = await startFunction('dlq');
    running.push(dlq);
    const manifests = parseManifests([brokerDoc, trigger('raw', 'raw', [{ exact: { type: 't.raw' } }])]);
    const broker = await startBroker({
      manifests,
      services: { raw: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, dlq: dlq.url },
      logger: silentLogger,
    });
    running.push({ close: () => broker.stop() });
    const body = Buffer.from('{"offset":18446744073709551615}');
    const structured = JSON.stringify({
      specversion: '1.0',
      id: 'r1',
      source: '/test',
      type: 't.raw',
      knativebrokerttl: 7,
    });
    const response = await fetch(broker.url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: structured.replace('}', `,"datacontenttype":"application/json","data":${body}}`),
    });
    expect(response.status).toBe(202);
    await broker.drain();
    expect(seen).toHaveLength(1);
    expect(seen[0].headers).toMatchObject({
      prefer: 'reply',
      'ce-specversion': '1.0',
      'ce-id': 'r1',
      'ce-type': 't.raw',
      'content-type': 'application/json',
    });
    expect(seen[0].headers['ce-knativebrokerttl']).toBeUndefined();
    expect(seen[0].body.toString()).toBe(body.toString());
  });

  it('refuses bad input with a clear 4xx and routes nothing', async () => {
    const { broker, functions } = await setup(parseManifests([brokerDoc, trigger('a', 'a', [])]), {
      a: () => undefined,
    });
    const notAnEvent = await fetch(broker.url, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(notAnEvent.status).toBe(400);
    expect(await notAnEvent.text()).toMatch(/not a CloudEvent/);
    const badAck = await fetch(broker.url, {
      method: 'POST',
      headers: { 'floe-ack': 'sometime', 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't' },
    });
    expect(badAck.status).toBe(400);
    expect((await fetch(`${broker.url}/elsewhere/default/x`, { method: 'POST' })).status).toBe(404);
    await broker.drain();
    expect(functions.a.received).toHaveLength(0);
    expect(broker.stats().invalid).toBe(1);
  });

  it('refuses manifests it cannot honour at start', async () => {
    const missing = parseManifests([brokerDoc, trigger('a', 'absent', [])]);
    await expect(
      startBroker({ manifests: missing, services: { dlq: 'http://127.0.0.1:1' }, logger: silentLogger }),
    ).rejects.toThrow(BrokerConfigError);
    const cesql = parseManifests([brokerDoc, trigger('a', 'a', [{ cesql: "type = 'x'" }])]);
    await expect(
      startBroker({
        manifests: cesql,
        services: { a: 'http://127.0.0.1:1', dlq: 'http://127.0.0.1:1' },
        logger: silentLogger,
      }),
    ).rejects.toThrow(/CESQL/);
  });
});

describe('delivery failures', () => {
  const manifests = () => parseManifests([brokerDoc, trigger('flaky', 'flaky', [{ exact: { type: 't.flaky' } }])]);

  it('retries retryable answers with backoff and succeeds without dead-lettering', async () => {
    const { broker, functions } = await setup(manifests(), { flaky: failing(503, 2) });
    await send(broker, event({ id: 'f1', type: 't.flaky' }));
    await broker.drain();
    expect(functions.flaky.received).toHaveLength(3);
    expect(functions.dlq.received).toHaveLength(0);
    expect(broker.stats().triggers.flaky).toMatchObject({ delivered: 1, retried: 2, deadLettered: 0 });
  });

  it('dead-letters after the retries with knativeerrordest, knativeerrorcode and knativeerrordata', async () => {
    const { broker, functions } = await setup(manifests(), { flaky: failing(503) });
    await send(broker, event({ id: 'f2', type: 't.flaky', data: { n: 1 } }));
    await broker.drain();
    expect(functions.flaky.received).toHaveLength(3);
    expect(functions.dlq.received).toHaveLength(1);
    const dead = functions.dlq.received[0];
    expect(dead.attributes).toMatchObject({
      id: 'f2',
      type: 't.flaky',
      knativeerrordest: functions.flaky.url,
      knativeerrorcode: '503',
    });
    expect(Buffer.from(dead.attributes.knativeerrordata, 'base64').toString()).toContain(
      'failure 3 of the test function',
    );
    expect(Buffer.from(dead.data).toString()).toBe('{"n":1}');
    expect(broker.stats().triggers.flaky).toMatchObject({ delivered: 0, retried: 2, deadLettered: 1, failed: 0 });
  });

  it('does not retry a 422: straight to the dead-letter sink', async () => {
    const { broker, functions } = await setup(manifests(), { flaky: failing(422) });
    await send(broker, event({ id: 'f3', type: 't.flaky' }));
    await broker.drain();
    expect(functions.flaky.received).toHaveLength(1);
    expect(functions.dlq.received.map((e) => e.attributes.knativeerrorcode)).toEqual(['422']);
    expect(broker.stats().triggers.flaky.retried).toBe(0);
  });

  it('retries a subscriber that is not listening, then dead-letters with code 500 and the dispatch error', async () => {
    const gone = await startFunction('gone');
    await gone.close();
    const dlq = await startFunction('dlq');
    running.push(dlq);
    const broker = await startBroker({
      manifests: manifests(),
      services: { flaky: gone.url, dlq: dlq.url },
      logger: silentLogger,
    });
    running.push({ close: () => broker.stop() });
    await send(broker, event({ id: 'f4', type: 't.flaky' }));
    await broker.drain();
    expect(dlq.received).toHaveLength(1);
    expect(dlq.received[0].attributes.knativeerrorcode).toBe('500');
    expect(Buffer.from(dlq.received[0].attributes.knativeerrordata, 'base64').toString()).toMatch(
      /^dispatch error: .*ECONNREFUSED/,
    );
    expect(broker.stats().triggers.flaky.retried).toBe(2);
  });

  it('treats a 2xx body that is not a CloudEvent as a failed delivery', async () => {
    const raw = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"plain":"object"}'),
    );
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    running.push({ close: () => new Promise<void>((resolve) => raw.close(() => resolve())) });
    const dlq = await startFunction('dlq');
    running.push(dlq);
    const broker = await startBroker({
      manifests: manifests(),
      services: { flaky: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, dlq: dlq.url },
      logger: silentLogger,
    });
    running.push({ close: () => broker.stop() });
    await send(broker, event({ id: 'f5', type: 't.flaky' }));
    await broker.drain();
    expect(dlq.received.map((e) => e.attributes.knativeerrorcode)).toEqual(['200']);
    expect(Buffer.from(dlq.received[0].attributes.knativeerrordata, 'base64').toString()).toBe('{"plain":"object"}');
  });
});

describe('replies', () => {
  it('routes a reply event into the broker again', async () => {
    const manifests = parseManifests([
      brokerDoc,
      trigger('first', 'first', [{ exact: { type: 't.start' } }]),
      trigger('second', 'second', [{ exact: { type: 't.next' } }]),
    ]);
    const { broker, functions } = await setup(manifests, { first: replyWith('t.next'), second: () => undefined });
    await send(broker, event({ id: 'r1', type: 't.start', extensions: { partitionkey: 'car-1' } }));
    await broker.drain();
    expect(functions.second.received).toHaveLength(1);
    expect(functions.second.received[0].attributes).toMatchObject({ type: 't.next', partitionkey: 'car-1' });
    expect(broker.stats().replies).toBe(1);
  });

  it('stops a reply that matches its own Trigger after knativebrokerttl hops', async () => {
    const manifests = parseManifests([brokerDoc, trigger('loop', 'loop', [{ exact: { type: 't.loop' } }])]);
    const { broker, functions } = await setup(manifests, { loop: replyWith('t.loop') }, { ttl: 5 });
    await send(broker, event({ id: 'l1', type: 't.loop' }));
    await broker.drain();
    expect(functions.loop.received).toHaveLength(5);
    expect(broker.stats()).toMatchObject({ replies: 4, ttlExpired: 1 });
    expect(functions.loop.received.every((e) => e.attributes.knativebrokerttl === undefined)).toBe(true);
  });
});

describe('acknowledgement, backpressure and ordering', () => {
  it('with floe-ack: delivered answers 102 at once and 202 only when the event and its replies are delivered', async () => {
    const hold = gate();
    const manifests = parseManifests([
      brokerDoc,
      trigger('tagger', 'tagger', [{ exact: { type: 't.record' } }]),
      trigger('writer', 'writer', [{ exact: { type: 't.tagged' } }]),
    ]);
    const { broker, functions } = await setup(manifests, { tagger: replyWith('t.tagged'), writer: hold.handler });
    let accepted = false;
    let answered = false;
    const response = postEvent(broker.url, event({ id: 'd1', type: 't.record' }), {
      headers: { 'floe-ack': 'delivered' },
      onAccepted: () => (accepted = true),
    }).finally(() => (answered = true));
    await waitFor(() => functions.writer.received.length === 1, 'the reply to reach the writer');
    expect(accepted).toBe(true);
    expect(answered).toBe(false);
    // The same event again while in flight (a sender's retry) joins the first instead of being delivered twice.
    const retry = postEvent(broker.url, event({ id: 'd1', type: 't.record' }), {
      headers: { 'floe-ack': 'delivered' },
    });
    await waitFor(() => broker.stats().duplicates === 1, 'the second POST to join the first');
    hold.open();
    const [first, second] = await Promise.all([response, retry]);
    expect(first.status).toBe(202);
    expect(JSON.parse(Buffer.from(first.body).toString())).toEqual({
      delivered: 2,
      deadLettered: 0,
      failed: 0,
      aborted: false,
    });
    expect(second.status).toBe(202);
    expect(functions.tagger.received).toHaveLength(1);
    expect(broker.stats()).toMatchObject({ received: 1, duplicates: 1 });
  });

  it('answers 502 to floe-ack: delivered when a delivery was neither delivered nor dead-lettered', async () => {
    const noDlq = { delivery: FAST };
    const manifests = parseManifests([{ ...brokerDoc, spec: { delivery: FAST } }, trigger('bad', 'bad', [], noDlq)]);
    const { broker } = await setup(manifests, { bad: failing(400) });
    const answer = await send(broker, event({ id: 'x1', type: 't.any' }), 'delivered');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ failed: 1 });
    expect(broker.stats().triggers.bad.failed).toBe(1);
  });

  it('answers 503 when full, and accepts again once drained', async () => {
    const hold = gate();
    const { broker, functions } = await setup(
      parseManifests([brokerDoc, trigger('slow', 'slow', [])]),
      { slow: hold.handler },
      { maxInFlight: 2 },
    );
    expect((await send(broker, event({ id: 'b1', type: 't' }))).status).toBe(202);
    expect((await send(broker, event({ id: 'b2', type: 't' }))).status).toBe(202);
    const refused = await send(broker, event({ id: 'b3', type: 't' }));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    await waitFor(() => functions.slow.received.length === 2, 'both accepted events to be in delivery');
    let drained = false;
    const draining = broker.drain().then(() => (drained = true));
    expect(drained).toBe(false);
    hold.open();
    await draining;
    expect(broker.stats()).toMatchObject({ received: 2, rejected: 1, inFlight: 0 });
    expect((await send(broker, event({ id: 'b3', type: 't' }))).status).toBe(202);
    await broker.drain();
    expect(ids(functions.slow)).toEqual(['b1', 'b2', 'b3']);
  });

  it('delivers concurrently, but one at a time per partitionkey on an ordered Trigger', async () => {
    const releases: (() => void)[] = [];
    const held: Handler = () => new Promise<void>((resolve) => releases.push(resolve));
    const manifests = parseManifests([
      brokerDoc,
      trigger('ordered', 'ordered', [], { annotations: { 'kafka.eventing.knative.dev/delivery.order': 'ordered' } }),
      trigger('unordered', 'unordered', [], {
        annotations: { 'kafka.eventing.knative.dev/delivery.order': 'unordered' },
      }),
    ]);
    const { broker, functions } = await setup(manifests, { ordered: held, unordered: held });
    const keyed = (id: string, key: string) => event({ id, type: 't', extensions: { partitionkey: key } });
    for (const e of [keyed('k1a', 'k1'), keyed('k1b', 'k1'), keyed('k2a', 'k2')]) await send(broker, e);
    await waitFor(
      () => functions.unordered.received.length === 3 && functions.ordered.received.length === 2,
      'the first deliveries',
    );
    expect(ids(functions.ordered)).toEqual(['k1a', 'k2a']);
    expect(broker.stats().triggers.ordered).toMatchObject({ active: 2, queued: 1 });
    for (const release of releases.splice(0)) release();
    await waitFor(() => functions.ordered.received.length === 3, 'the second delivery of k1');
    expect(functions.ordered.received[2].attributes.id).toBe('k1b');
    for (const release of releases.splice(0)) release();
    await broker.drain();
  });

  it('aborts what is in flight on stop: a sender waiting for delivery gets 503', async () => {
    const hold = gate();
    const { broker, functions } = await setup(parseManifests([brokerDoc, trigger('slow', 'slow', [])]), {
      slow: hold.handler,
    });
    const waiting = send(broker, event({ id: 's1', type: 't' }), 'delivered');
    await waitFor(() => functions.slow.received.length === 1, 'the delivery to start');
    await broker.stop();
    expect((await waiting).status).toBe(503);
    hold.open();
  });
});

describe('the repository manifests', () => {
  it('route what the tagger emits through writer, auditor and publisher, Kafka records nowhere, and pings to their jobs', async () => {
    const manifests = await loadManifests();
    let brokerUrl = '';
    const chain: Record<string, Handler> = {
      // The tagger is the KafkaSources' sink (not a Trigger's subscriber) and posts its records to K_SINK.
      tagger: (event) =>
        createEmitter(`${brokerUrl}/?floe-ack=delivered`)(
          createEvent({
            type: 'dev.floe.record.tagged',
            source: '/tagger',
            extensions: { partitionkey: event.attributes.partitionkey },
          }),
        ),
      // The writer answers 2xx after its commit and emits batch.written on its own to K_SINK (the broker ingress).
      writer: () =>
        createEmitter(brokerUrl)(
          createEvent({ type: 'dev.floe.batch.written', source: '/writer', extensions: { nessiebranch: 'wap-1' } }),
        ),
      auditor: replyWith('dev.floe.batch.audited'),
      publisher: replyWith('dev.floe.batch.published'),
    };
    const functions: Record<string, TestFunction> = {};
    for (const service of manifests.services) {
      functions[service.name] = await startFunction(service.name, chain[service.name]);
      running.push(functions[service.name]);
    }
    const live = await startBroker({
      manifests,
      services: Object.fromEntries(Object.entries(functions).map(([n, f]) => [n, f.url])),
      logger: silentLogger,
    });
    running.push({ close: () => live.stop() });
    brokerUrl = live.url;

    // as the KafkaSource of the topic sends it: with its ceOverrides extension floekafkatopic
    const record = (topic: string, offset: number) =>
      createEvent({
        id: `partition:0/offset:${offset}`,
        type: 'dev.knative.kafka.event',
        source: `/apis/v1/namespaces/floe/kafkasources/${topic}#${topic}`,
        subject: `partition:0#${offset}`,
        extensions: {
          key: 'car-1',
          partitionkey: 'car-1',
          knativekafkapartition: 0,
          knativekafkaoffset: offset,
          floekafkatopic: topic,
        },
      });
    expect((await postEvent(functions.tagger.url, record('parking-entry', 1))).status).toBe(204);
    // A KafkaSource event that reached the Broker anyway would go nowhere: no Trigger takes Kafka records.
    await send(live, record('parking-entry', 2));
    await live.drain();
    await waitFor(() => functions.publisher.received.length === 1, 'the batch to reach the publisher');
    await live.drain();
    expect(functions.tagger.received.map((e) => e.attributes.id)).toEqual(['partition:0/offset:1']);
    expect(functions.writer.received.map((e) => e.attributes.type)).toEqual(['dev.floe.record.tagged']);
    expect(functions.auditor.received.map((e) => e.attributes.type)).toEqual(['dev.floe.batch.written']);
    expect(functions.publisher.received.map((e) => e.attributes.type)).toEqual(['dev.floe.batch.audited']);
    expect(functions.deadletter.received).toHaveLength(0);

    const ping = (job: string) =>
      createEvent({
        type: 'dev.knative.sources.ping',
        source: '/apis/v1/namespaces/floe/pingsources/x',
        extensions: { floejob: job },
      });
    for (const job of ['compact', 'expire', 'orphans', 'redrive', 'tags'])
      expect((await send(live, ping(job), 'delivered')).status).toBe(202);
    expect(functions.compactor.received.map((e) => e.attributes.floejob)).toEqual(['compact', 'expire']);
    expect(functions.janitor.received.map((e) => e.attributes.floejob).sort()).toEqual(['orphans', 'redrive', 'tags']);
    const stats = live.stats();
    expect(stats.unrouted).toBe(2); // the Kafka record posted to the Broker and the terminal batch.published
    expect(Object.values(stats.triggers).reduce((n, t) => n + t.deadLettered + t.failed, 0)).toBe(0);
  });
});

describe('over a Kafka topic', () => {
  let kafka: TestBroker;
  let client: TestBroker['kafka'];
  let namespaces = 0;
  beforeAll(async () => {
    kafka = await startTestBroker();
    client = kafka.kafka;
  });
  afterAll(() => kafka?.cleanup());

  /** A namespace per test: its own Broker topic and Trigger groups on the shared Kafka. */
  const fresh = () => ({ brokers: [kafka.broker.brokers], namespace: `test${++namespaces}` });

  async function topicEnds(namespace: string): Promise<number[]> {
    const admin = client.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(brokerTopicName(namespace, 'default'));
      return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
    } finally {
      await admin.disconnect();
    }
  }

  /** The dispatcher's committed offsets (one consumer group for all Triggers of the Broker). */
  async function committed(namespace: string): Promise<number[]> {
    const admin = client.admin();
    await admin.connect();
    try {
      const topic = brokerTopicName(namespace, 'default');
      const [offsets] = await admin.fetchOffsets({ groupId: `${topic}-dispatcher`, topics: [topic] });
      return offsets.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
    } finally {
      await admin.disconnect();
    }
  }

  it('answers 202 once the event is in its topic, before any delivery; the reply goes through the topic too', async () => {
    const hold = gate();
    const manifests = parseManifests([
      brokerDoc,
      trigger('tagger', 'tagger', [{ exact: { type: 't.record' } }]),
      trigger('writer', 'writer', [{ exact: { type: 't.tagged' } }]),
    ]);
    const kafkaOptions = fresh();
    const { broker, functions } = await setup(
      manifests,
      { tagger: replyWith('t.tagged'), writer: hold.handler },
      { kafka: kafkaOptions },
    );
    // Even a sender asking for the delivered acknowledgement gets it once the event is durable.
    const answer = await send(
      broker,
      event({ id: 'k1', type: 't.record', extensions: { partitionkey: 'car-1' } }),
      'delivered',
    );
    expect(answer.status).toBe(202);
    await waitFor(() => functions.writer.received.length === 1, 'the reply to reach the writer');
    expect(await topicEnds(kafkaOptions.namespace)).toEqual([2]);
    // The writer holds its delivery: its group has not committed it, and the Broker counts it as pending.
    expect(broker.stats().inFlight).toBe(1);
    expect(functions.writer.received[0].attributes).toMatchObject({
      type: 't.tagged',
      partitionkey: 'car-1',
      knativekafkapartition: '0',
      knativekafkaoffset: '1',
    });
    expect(functions.tagger.received[0].attributes).toMatchObject({ knativekafkaoffset: '0' });
    expect(functions.tagger.received[0].attributes.knativebrokerttl).toBeUndefined();
    hold.open();
    await broker.drain();
    expect(broker.stats()).toMatchObject({ received: 1, replies: 1, inFlight: 0 });
    await waitFor(async () => (await committed(kafkaOptions.namespace))[0] === 2, 'both records committed');
  });

  it('delivers what it acknowledged after a restart, when the first Broker stopped before the delivery completed', async () => {
    const manifests = parseManifests([brokerDoc, trigger('slow', 'slow', [])]);
    const kafkaOptions = fresh();
    const hold = gate();
    const first = await setup(manifests, { slow: hold.handler }, { kafka: kafkaOptions });
    expect((await send(first.broker, event({ id: 'r1', type: 't' }))).status).toBe(202);
    await waitFor(() => first.functions.slow.received.length === 1, 'the first delivery to start');
    await first.broker.stop();
    hold.open();
    const again = await setup(manifests, { slow: () => undefined }, { kafka: kafkaOptions });
    await waitFor(() => again.functions.slow.received.length === 1, 'the restarted Broker to deliver the event');
    await again.broker.drain();
    expect(again.functions.slow.received[0].attributes).toMatchObject({ id: 'r1', knativekafkaoffset: '0' });
    await waitFor(async () => (await committed(kafkaOptions.namespace))[0] === 1, 'the record committed');
    // A new event gets the next position: the topic, not the Broker process, hands them out.
    await send(again.broker, event({ id: 'r2', type: 't' }));
    await again.broker.drain();
    expect(again.functions.slow.received.map((e) => e.attributes.knativekafkaoffset)).toEqual(['0', '1']);
  });

  it('delivers one record at a time per partition on an ordered Trigger, many at once on an unordered one', async () => {
    const releases: (() => void)[] = [];
    const held: Handler = () => new Promise<void>((resolve) => releases.push(resolve));
    const manifests = parseManifests([
      brokerDoc,
      trigger('ordered', 'ordered', [], { annotations: { 'kafka.eventing.knative.dev/delivery.order': 'ordered' } }),
      trigger('unordered', 'unordered', [], {
        annotations: { 'kafka.eventing.knative.dev/delivery.order': 'unordered' },
      }),
    ]);
    const { broker, functions } = await setup(manifests, { ordered: held, unordered: held }, { kafka: fresh() });
    for (const id of ['o1', 'o2', 'o3']) expect((await send(broker, event({ id, type: 't' }))).status).toBe(202);
    await waitFor(
      () => functions.unordered.received.length === 3 && functions.ordered.received.length === 1,
      'the first deliveries',
    );
    for (let next = 2; next <= 3; next++) {
      expect(functions.ordered.received).toHaveLength(next - 1);
      for (const release of releases.splice(0)) release();
      await waitFor(() => functions.ordered.received.length === next, `delivery ${next} of the ordered Trigger`);
    }
    expect(functions.ordered.received.map((e) => e.attributes.id)).toEqual(['o1', 'o2', 'o3']);
    for (const release of releases.splice(0)) release();
    await broker.drain();
    expect(broker.stats().inFlight).toBe(0);
  });

  it('dead-letters a refused event and commits it; a reply loop still ends after knativebrokerttl hops', async () => {
    const manifests = parseManifests([
      brokerDoc,
      trigger('bad', 'bad', [{ exact: { type: 't.bad' } }]),
      trigger('loop', 'loop', [{ exact: { type: 't.loop' } }]),
    ]);
    const kafkaOptions = fresh();
    const { broker, functions } = await setup(
      manifests,
      { bad: failing(422), loop: replyWith('t.loop') },
      { ttl: 4, kafka: kafkaOptions },
    );
    await send(broker, event({ id: 'x1', type: 't.bad' }));
    await send(broker, event({ id: 'l1', type: 't.loop' }));
    await waitFor(() => functions.loop.received.length === 4 && functions.dlq.received.length === 1, 'both to end');
    await broker.drain();
    expect(functions.dlq.received[0].attributes).toMatchObject({ id: 'x1', knativeerrorcode: '422' });
    expect(broker.stats()).toMatchObject({ replies: 3, ttlExpired: 1, inFlight: 0 });
    expect(broker.stats().triggers.bad.deadLettered).toBe(1);
    expect(await topicEnds(kafkaOptions.namespace)).toEqual([5]);
  });

  it('splits a burst into produce requests a Kafka with the default 1 MiB max.message.bytes takes', async () => {
    const small = await startTestBroker({ maxMessageBytes: 1024 * 1024 });
    running.push({ close: () => small.cleanup() });
    const log = await startKafkaLog({
      brokers: [small.broker.brokers],
      namespace: 'small',
      broker: 'default',
      partitions: 1,
      routes: [],
      dispatcher: createDispatcher([], createBrokerTopic(1), silentLogger),
      logger: silentLogger,
    });
    running.push({ close: () => log.stop() });
    // Six events of 200 kB appended at once, before the first produce: 1.2 MB in one request would be refused.
    const data = 'x'.repeat(200_000);
    await Promise.all(Array.from({ length: 6 }, (_, i) => log.append(event({ id: `big${i}`, type: 't', data }), 5)));
    const admin = small.kafka.admin();
    await admin.connect();
    const [offsets] = await admin.fetchTopicOffsets(log.topic);
    await admin.disconnect();
    expect(offsets.high).toBe('6');
  });
});
