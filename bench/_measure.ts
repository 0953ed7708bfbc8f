/**
 * What several benchmarks measure the same way: percentiles, a process's peak RSS, and the raw HTTP CloudEvent hop —
 * a bare node:http server that only parses CloudEvents, loaded with keep-alive requests in flight — which is the limit
 * every floe function host is compared against.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fromHttp } from '../shared/events/cloudevent.ts';
import { createLogger } from '../shared/runtime/logger.ts';

export const silentLogger = createLogger({
  level: 'silent',
  format: 'json',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

/** Nearest-rank percentile of ascending `sorted`; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

/** The middle value (the upper one of an even count), as `percentile(sorted, 50)` of the values sorted. */
export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Peak resident set (VmHWM) of a live process in MB, from /proc; undefined when it cannot be read. */
export function peakRssMb(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : undefined;
}

const body = Buffer.from(
  JSON.stringify({
    event_id: 'e',
    timestamp: '2026-11-22T10:00:00.000Z',
    car_id: 'B-1',
    slot: 'A-001',
    latitude: 52.5205,
    longitude: 13.405,
  }),
);
const headers = {
  'ce-specversion': '1.0',
  'ce-id': 'partition:0/offset:1',
  'ce-type': 'dev.knative.kafka.event',
  'ce-source': '/apis/v1/namespaces/floe/kafkasources/parking-entry#parking-entry',
  'content-type': 'application/json',
  'content-length': String(body.length),
};

/** A bare node:http server that parses each CloudEvent and answers 204: no host at all. */
export async function startBareCloudEventServer(): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      fromHttp(req.headers, Buffer.concat(chunks));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

/** Requests/s of binary-mode parking CloudEvents POSTed to `url` with `inFlight` keep-alive requests for `ms`; any non-2xx fails the run. */
export async function cloudEventRequestRate(url: string, ms: number, inFlight = 64): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
  let done = 0;
  let failed = 0;
  const deadline = performance.now() + ms;
  const worker = () =>
    new Promise<void>((resolve) => {
      const next = () => {
        if (performance.now() > deadline) return resolve();
        const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
          if (res.statusCode! >= 300) failed++;
          res.resume();
          res.on('end', () => {
            done++;
            next();
          });
        });
        req.end(body);
      };
      next();
    });
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const rate = done / ((performance.now() - started) / 1000);
  agent.destroy();
  if (failed) throw new Error(`${failed} requests failed against ${url}`);
  return rate;
}
