import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvent, eventJson, fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { HandlerError, startHost, type FloeFunction, type RunningHost } from '../../shared/runtime/function-host.ts';
import { silentLogger } from '../helpers/silent-logger.ts';

/** KafkaSource's binary-mode request for a record without a content-type header (NOTES §1.2). */
function kafkaSourceHeaders(): Record<string, string> {
  return {
    'ce-specversion': '1.0',
    'ce-id': 'partition:3/offset:9007199254740993',
    'ce-source': '/apis/v1/namespaces/pipeline/kafkasources/parking#parking-entry',
    'ce-type': 'dev.knative.kafka.event',
    'ce-subject': 'partition:3#9007199254740993',
    'ce-time': '2026-07-31T10:11:12.345Z',
    'ce-key': 'car-17',
    'ce-partitionkey': 'car-17',
    'ce-knativekafkapartition': '3',
    'ce-knativekafkaoffset': '9007199254740993',
    prefer: 'reply',
  };
}

let host: RunningHost | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

async function post(url: string, headers: Record<string, string>, body: string | Uint8Array) {
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) };
}

describe('CloudEvent HTTP codec', () => {
  it('reads a KafkaSource binary event without content-type, keeping 64-bit numbers exact', () => {
    const event = fromHttp(kafkaSourceHeaders(), Buffer.from('{"car":"A-1","big":12345678901234567891}'));
    expect(event.attributes.knativekafkaoffset).toBe('9007199254740993');
    expect(event.attributes.datacontenttype).toBeUndefined();
    expect(eventJson<{ big: bigint }>(event)?.big).toBe(12345678901234567891n);
  });

  it('reads structured mode, including data_base64', () => {
    const structured = fromHttp(
      { 'content-type': 'application/cloudevents+json' },
      Buffer.from(
        JSON.stringify({
          specversion: '1.0',
          id: 'x1',
          source: '/s',
          type: 't',
          data_base64: Buffer.from([1, 2, 3]).toString('base64'),
        }),
      ),
    );
    expect(Array.from(structured.data)).toEqual([1, 2, 3]);
    const withJson = fromHttp(
      { 'content-type': 'application/cloudevents+json' },
      Buffer.from('{"specversion":"1.0","id":"x2","source":"/s","type":"t","data":{"n":18446744073709551615}}'),
    );
    expect(eventJson<{ n: bigint }>(withJson)?.n).toBe(18446744073709551615n);
  });

  it('rejects what is not a valid CloudEvent, with the reason', () => {
    expect(() => fromHttp({}, Buffer.from('{}'))).toThrow(/not a CloudEvent/);
    expect(() => fromHttp({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-type': 't' }, new Uint8Array())).toThrow(
      /invalid CloudEvent/,
    );
    expect(() => fromHttp({ 'content-type': 'application/cloudevents+json' }, Buffer.from('{oops'))).toThrow(
      /not valid JSON/,
    );
    expect(() => createEvent({ type: 't', source: '/s', extensions: { 'Bad-Name': 'x' } })).toThrow(/attribute name/);
  });

  it('validates created events as fully once their source was checked', () => {
    expect(() => createEvent({ type: 't', source: 'not a uri reference' })).toThrow(/invalid CloudEvent/);
    expect(() => createEvent({ type: 't', source: 'not a uri reference' })).toThrow(/invalid CloudEvent/);
    // '/checked' passes the SDK's validation once; later events from it take the short checks
    expect(createEvent({ type: 't', source: '/checked', id: 'a' }).attributes.id).toBe('a');
    expect(() => createEvent({ type: '', source: '/checked' })).toThrow(/type must not be empty/);
    expect(() => createEvent({ type: 't', source: '/checked', id: '' })).toThrow(/id must not be empty/);
    expect(() => createEvent({ type: 't', source: '/checked', subject: '' })).toThrow(/subject must not be empty/);
    expect(() => createEvent({ type: 't', source: '/checked', extensions: { 'Bad-Name': 'x' } })).toThrow(
      /attribute name/,
    );
  });

  it('decodes percent-encoded binary-mode headers and leaves plain ones as they are', () => {
    const event = fromHttp(
      { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't', 'ce-source': '/s', 'ce-note': 'caf%C3%A9 100%' },
      new Uint8Array(),
    );
    expect(event.attributes.note).toBe('caf%C3%A9 100%');
    expect(
      fromHttp(
        { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't', 'ce-source': '/s', 'ce-note': 'caf%C3%A9' },
        new Uint8Array(),
      ).attributes.note,
    ).toBe('café');
  });
});

describe('function host', () => {
  const echo: FloeFunction = {
    name: 'echo',
    async handle(context, event) {
      const data = eventJson<Record<string, unknown>>(event);
      if (data && 'reject' in data) throw new HandlerError(422, 'rejected on purpose');
      if (data && 'crash' in data) throw new Error('boom');
      if (data && 'none' in data) return;
      context.log.info('echoing');
      return createEvent({
        type: 'dev.floe.test.echoed',
        source: '/functions/echo',
        data,
        extensions: { partitionkey: event.attributes.partitionkey },
      });
    },
  };

  it('replies in binary mode copying partitionkey, answers 204 with no reply, 4xx/5xx on errors', async () => {
    host = await startHost({ fn: echo, logger: silentLogger, port: 0, host: '127.0.0.1' });
    const ok = await post(host.url, kafkaSourceHeaders(), '{"offset":9007199254740993}');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('ce-type')).toBe('dev.floe.test.echoed');
    expect(ok.headers.get('ce-partitionkey')).toBe('car-17');
    expect(Buffer.from(ok.body).toString()).toBe('{"offset":9007199254740993}');

    expect((await post(host.url, kafkaSourceHeaders(), '{"none":1}')).status).toBe(204);
    const rejected = await post(host.url, kafkaSourceHeaders(), '{"reject":1}');
    expect(rejected.status).toBe(422);
    expect(Buffer.from(rejected.body).toString()).toContain('rejected on purpose');
    expect((await post(host.url, kafkaSourceHeaders(), '{"crash":1}')).status).toBe(500);
    expect((await post(host.url, { 'content-type': 'application/json' }, '{}')).status).toBe(400);
  });

  it('serves health and Prometheus metrics that count what happened', async () => {
    host = await startHost({ fn: echo, logger: silentLogger, port: 0, host: '127.0.0.1' });
    await post(host.url, kafkaSourceHeaders(), '{"a":1}');
    await post(host.url, kafkaSourceHeaders(), '{"reject":1}');
    expect((await fetch(`${host.url}/health/liveness`)).status).toBe(200);
    expect((await fetch(`${host.url}/health/readiness`)).status).toBe(200);
    const metrics = await (await fetch(`${host.url}/metrics`)).text();
    expect(metrics).toMatch(/floe_events_received_total\{type="dev.knative.kafka.event",function="echo"\} 2/);
    expect(metrics).toMatch(/floe_events_emitted_total\{type="dev.floe.test.echoed",function="echo"\} 1/);
    expect(metrics).toMatch(/floe_event_errors_total\{status="422",function="echo"\} 1/);
  });

  it('refuses bodies over the limit with 413', async () => {
    host = await startHost({ fn: echo, logger: silentLogger, port: 0, host: '127.0.0.1', bodyLimitBytes: 1024 });
    const response = await post(host.url, kafkaSourceHeaders(), JSON.stringify({ blob: 'x'.repeat(5000) }));
    expect(response.status).toBe(413);
  });

  it('on close, finishes in-flight requests before running shutdown', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: FloeFunction = {
      name: 'slow',
      async handle() {
        order.push('handling');
        await gate;
        order.push('handled');
      },
      async shutdown() {
        order.push('shutdown');
      },
    };
    host = await startHost({ fn: slow, logger: silentLogger, port: 0, host: '127.0.0.1' });
    const pending = post(host.url, kafkaSourceHeaders(), '{}');
    while (!order.includes('handling')) await new Promise((r) => setImmediate(r));
    const closing = host.close();
    release();
    expect((await pending).status).toBe(204);
    await closing;
    host = undefined;
    expect(order).toEqual(['handling', 'handled', 'shutdown']);
  });

  it('emits to the sink with retries on 503', async () => {
    const received: CloudEventMessage[] = [];
    let failures = 1;
    const sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (failures-- > 0) {
          res.writeHead(503).end();
          return;
        }
        received.push(fromHttp(req.headers, Buffer.concat(chunks)));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    const emitter: FloeFunction = {
      name: 'emitter',
      async handle(context) {
        await context.emit(createEvent({ type: 'dev.floe.test.emitted', source: '/x', data: { n: 1n << 62n } }));
      },
    };
    try {
      host = await startHost({ fn: emitter, logger: silentLogger, port: 0, host: '127.0.0.1', sink: sinkUrl });
      expect((await post(host.url, kafkaSourceHeaders(), '{}')).status).toBe(204);
      expect(received).toHaveLength(1);
      expect(eventJson<{ n: bigint }>(received[0])?.n).toBe(1n << 62n);
    } finally {
      sink.close();
    }
  });
});
