/**
 * A sink that answers `102 Processing` before its final answer (the local Broker asked for `floe-ack=delivered`): the
 * emitter reports it and stops timing the attempt, and the host tells its own caller the same — so a KafkaSource
 * stand-in waiting on the tagger learns that the record was handed over, and gets its final answer only after the sink's.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postEvent } from '../../local/delivery/http.ts';
import { createEvent } from '../../shared/events/cloudevent.ts';
import { createEmitter } from '../../shared/runtime/event-emitter.ts';
import { startHost, type FloeFunction } from '../../shared/runtime/function-host.ts';
import { createFunctionMetrics } from '../../shared/runtime/prometheus.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { waitFor } from '../helpers/wait-for.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup.length = 0;
});

/** A sink that answers 102 at once and its final status only when released. */
async function slowSink(final: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeProcessing();
      void released.then(() => res.writeHead(final).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        release();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/?floe-ack=delivered`,
    release,
    received: () => received,
  };
}

describe('a sink that takes an event over before it answers', () => {
  it('the emitter reports the 102 and waits past its timeout for the final answer', async () => {
    const sink = await slowSink(202);
    let accepted = false;
    let done = false;
    const emitted = createEmitter(sink.url, { timeoutMs: 100 })(createEvent({ type: 't.x', source: '/t' }), {
      onAccepted: () => (accepted = true),
    }).then(() => (done = true));
    await waitFor(() => accepted, 'the 102');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    sink.release();
    await emitted;
    expect(sink.received()).toBe(1);
  });

  it('the host relays the 102 to its caller and answers once the sink answered', async () => {
    const sink = await slowSink(202);
    const fn: FloeFunction = {
      name: 'relay',
      handle: (context) => context.emit(createEvent({ type: 't.out', source: '/t' })),
    };
    const host = await startHost({
      fn,
      logger: silentLogger,
      port: 0,
      host: '127.0.0.1',
      sink: sink.url,
      metrics: createFunctionMetrics('relay', { defaultMetrics: false }),
    });
    cleanup.push(() => host.close());
    let accepted = false;
    let answered = false;
    const response = postEvent(host.url, createEvent({ type: 't.in', source: '/t' }), {
      onAccepted: () => (accepted = true),
    }).finally(() => (answered = true));
    await waitFor(() => accepted, 'the relayed 102');
    expect(answered).toBe(false);
    sink.release();
    expect((await response).status).toBe(204);
  });

  it('a sink that fails after its 102 fails the emit, after the retries', async () => {
    const sink = await slowSink(503);
    sink.release();
    const emit = createEmitter(sink.url, { retries: 1, backoffMs: 1 })(createEvent({ type: 't.x', source: '/t' }));
    await expect(emit).rejects.toThrow(/after 2 attempts: sink .* answered 503/);
    expect(sink.received()).toBe(2);
  });
});
