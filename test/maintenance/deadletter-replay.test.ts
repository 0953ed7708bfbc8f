/**
 * Dead letters come back on their own: the real deadletter function stores undeliverable events, and the janitor's
 * `redrive` tick replays those whose destination answers ready again to its sink (a real HTTP server standing in for
 * the Broker). A replay the sink accepts removes the stored file; one it refuses, or whose destination is still down,
 * stays stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvent, fromHttp, toHttpBinary, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { EventType } from '../../shared/events/contract.ts';
import { deadletterFunction } from '../../functions/deadletter/index.ts';
import { janitorFunction } from '../../functions/janitor/index.ts';
import { listDeadLetters } from '../../shared/maintenance/deadletter-replay.ts';
import { loadEnv } from '../../shared/runtime/env.ts';
import { startHost, type RunningHost } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/runtime/logger.ts';
import { startEnv, type TestEnv } from './helpers.ts';

const silent = createLogger({
  format: 'json',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

function ping(job: string): CloudEventMessage {
  return createEvent({
    type: EventType.ping,
    source: `/apis/v1/namespaces/floe/pingsources/${job}`,
    extensions: { floejob: job },
    data: { job },
  });
}

async function post(url: string, event: CloudEventMessage): Promise<number> {
  const { headers, body } = toHttpBinary(event);
  const response = await fetch(url, { method: 'POST', headers, body });
  await response.arrayBuffer();
  return response.status;
}

async function listen(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return server;
}

const urlOf = (server: http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

describe('janitor: dead-letter replay on the redrive tick', () => {
  let env: TestEnv;
  let runtime: Runtime;
  const servers: http.Server[] = [];
  const hosts: RunningHost[] = [];
  const received: CloudEventMessage[] = [];
  let sinkStatus = 202;
  let destinationReady = false;
  let sink: http.Server;
  let destination: http.Server;
  let downDestination: string;

  beforeAll(async () => {
    env = await startEnv('floe-deadletter-replay');
    const floeEnv = loadEnv({
      FLOE_WAREHOUSE: env.catalog.warehouse,
      NESSIE_URI: env.catalog.client.uri,
      FLOE_CONFIG: 'knative/config/pipeline.yaml',
    });
    runtime = { env: floeEnv, log: silent, io: env.catalog.io, catalog: env.catalog };
    sink = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (sinkStatus < 300) received.push(fromHttp(req.headers, Buffer.concat(chunks)));
        res.writeHead(sinkStatus).end();
      });
    });
    // The function that failed: its readiness probe is what the janitor asks before replaying to it.
    destination = await listen((req, res) =>
      res.writeHead(req.url === '/health/readiness' && destinationReady ? 200 : 503).end(),
    );
    // A destination that is gone altogether: a port nothing listens on any more.
    const gone = await listen((_req, res) => res.end());
    downDestination = urlOf(gone);
    await new Promise((resolve) => gone.close(resolve));
    servers.push(sink, destination);
  });
  afterAll(async () => {
    for (const host of hosts) await host.close();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await env?.stop();
  });

  it('replays what the sink accepts once the destination is ready, and keeps the rest', async () => {
    const deadletter = await startHost({ fn: deadletterFunction(runtime), logger: silent, port: 0, host: '127.0.0.1' });
    hosts.push(deadletter);
    const payload = { batchId: 'b-1', note: 'x'.repeat(10), big: 9007199254740993n };
    const original = createEvent({
      type: EventType.batchWritten,
      source: '/floe/writer',
      extensions: { nessiebranch: 'wap/production.t/b-1', floetopic: 'parking-entry' },
      data: payload,
    });
    const failedAttributes = {
      knativeerrordest: `${urlOf(destination)}/`,
      knativeerrorcode: '503',
      knativeerrordata: Buffer.from('unavailable').toString('base64'),
    };
    expect(
      await post(deadletter.url, { attributes: { ...original.attributes, ...failedAttributes }, data: original.data }),
    ).toBeLessThan(300);
    const stuck = createEvent({ type: EventType.batchWritten, source: '/floe/writer', data: { batchId: 'b-2' } });
    expect(
      await post(deadletter.url, {
        attributes: { ...stuck.attributes, knativeerrordest: downDestination, knativeerrorcode: '500' },
        data: stuck.data,
      }),
    ).toBeLessThan(300);
    const stored = async () =>
      (await listDeadLetters(env.catalog.io, env.catalog.warehouse)).letters.map((l) => l.id).sort();
    expect(await stored()).toEqual([original.attributes.id, stuck.attributes.id].sort());

    const janitor = await startHost({
      fn: janitorFunction(runtime, {
        orphanGraceMs: 3 * 86_400_000,
        rejectedRetentionMs: 7 * 86_400_000,
        stallAfterMs: 60_000,
        snapshotMaxAgeMs: 3_600_000,
      }),
      logger: silent,
      port: 0,
      host: '127.0.0.1',
      sink: `${urlOf(sink)}/`,
    });
    hosts.push(janitor);

    // The destination is still down: nothing is replayed.
    expect(await post(janitor.url, ping('redrive'))).toBe(204);
    expect(received).toHaveLength(0);
    expect(await stored()).toHaveLength(2);

    // Up again, but the sink refuses the replay: the letter stays stored.
    destinationReady = true;
    sinkStatus = 400;
    expect(await post(janitor.url, ping('redrive'))).toBe(204);
    expect(await stored()).toHaveLength(2);

    // The sink accepts: the event goes out as it was before delivery failed, and its file is removed.
    sinkStatus = 202;
    expect(await post(janitor.url, ping('redrive'))).toBe(204);
    expect(received).toHaveLength(1);
    const [replayed] = received;
    expect(Object.keys(replayed.attributes).filter((name) => name.startsWith('knativeerror'))).toEqual([]);
    for (const name of ['id', 'source', 'type', 'nessiebranch', 'floetopic'])
      expect(replayed.attributes[name], name).toBe(original.attributes[name]);
    expect(Buffer.from(replayed.data).toString()).toBe(Buffer.from(original.data).toString());
    expect(Buffer.from(replayed.data).toString()).toContain('9007199254740993');
    expect(await stored()).toEqual([stuck.attributes.id]);

    const metrics = await (await fetch(`${janitor.url}/metrics`)).text();
    expect(metrics).toMatch(/floe_deadletters_replayed_total\{outcome="replayed",function="janitor"\} 1/);
    expect(metrics).toMatch(/floe_deadletters_replayed_total\{outcome="failed",function="janitor"\} 1/);
  });
});
