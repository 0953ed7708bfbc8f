/**
 * One POST of the local eventing plane (local/delivery/http.ts) against a bare node:http server: the headers that
 * reach the receiver, and the reuse of keep-alive connections after more requests at once than Node's default of 256
 * idle sockets per host (the writer holds up to 1,000 until its batch commits).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEvent } from '../../shared/events/cloudevent.ts';
import { postEvent } from '../../local/delivery/http.ts';

interface Receiver {
  url: string;
  port: number;
  /** Raw header lines of every request, in arrival order. */
  requests: string[][];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Answers every request held so far (the server holds requests while `hold` is set). */
  release(): void;
  hold: boolean;
  close(): Promise<void>;
}

const open: Receiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function receiver(): Promise<Receiver> {
  const requests: string[][] = [];
  const held: http.ServerResponse[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    requests.push(req.rawHeaders);
    req.resume();
    req.on('end', () => {
      if (r.hold) held.push(res);
      else res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const r: Receiver = {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    connections: () => connections,
    hold: false,
    release() {
      for (const res of held.splice(0)) res.writeHead(204).end();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.push(r);
  return r;
}

function headerMap(raw: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    map.set(name, [...(map.get(name) ?? []), raw[i + 1]]);
  }
  return map;
}

describe('postEvent', () => {
  it('sends the binary-mode headers once each, with Host and Content-Length; options.headers win over the event', async () => {
    const r = await receiver();
    const event = createEvent({
      type: 'dev.floe.test',
      source: '/test',
      id: 'e-1',
      data: { a: 1 },
      extensions: { partitionkey: 'k 1%' },
    });
    const response = await postEvent(r.url, event, {
      headers: { Prefer: 'reply', 'Content-Type': 'application/cloudevents-test' },
    });
    expect(response.status).toBe(204);
    const headers = headerMap(r.requests[0]);
    for (const [name, values] of headers) expect(values, name).toHaveLength(1);
    expect(headers.get('host')).toEqual([`127.0.0.1:${r.port}`]);
    expect(headers.get('content-length')).toEqual([String(event.data.byteLength)]);
    expect(headers.get('ce-id')).toEqual(['e-1']);
    expect(headers.get('ce-type')).toEqual(['dev.floe.test']);
    // Percent-encoded as the binding asks.
    expect(headers.get('ce-partitionkey')).toEqual(['k 1%25']);
    expect(headers.get('prefer')).toEqual(['reply']);
    expect(headers.get('content-type')).toEqual(['application/cloudevents-test']);
    expect(headers.get('connection')).toEqual(['keep-alive']);
  });

  it('keeps more than 256 idle connections: a second burst as large as the first opens none', async () => {
    const r = await receiver();
    const burst = 400;
    const event = createEvent({ type: 'dev.floe.test', source: '/test', id: 'b', data: { a: 1 } });
    for (let round = 0; round < 2; round++) {
      r.hold = true;
      const posts = Array.from({ length: burst }, () => postEvent(r.url, event));
      // All requests are at the server at once, so every one of them has a connection of its own.
      while (r.requests.length < (round + 1) * burst) await new Promise((resolve) => setImmediate(resolve));
      r.hold = false;
      r.release();
      expect((await Promise.all(posts)).every((res) => res.status === 204)).toBe(true);
      expect(r.connections()).toBe(burst);
      // The agent takes a socket back on the tick after its response ended.
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
});
