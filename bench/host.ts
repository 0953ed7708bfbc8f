/**
 * The function host (issue 4): floe's own host (`shared/runtime/host.ts`) against faas-js-runtime 3.0.2 (the Knative
 * Functions Node runtime; 4.x needs Node 22) and a bare node:http server, all serving an empty CloudEvents handler —
 * requests/s with 64 keep-alive requests in flight for 5 s each, in one run, plus each one's start-up time in a fresh
 * process (start → first 200 on its readiness endpoint).
 *
 *   npm run bench -- host
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import faasRuntime from 'faas-js-runtime';
import { fromHttp } from '../shared/events/cloudevent.ts';
import { startHost } from '../shared/runtime/host.ts';
import { createLogger } from '../shared/runtime/log.ts';
import { freePort } from '../local/stack/processes.ts';

const silent = createLogger({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const body = Buffer.from(JSON.stringify({ event_id: 'e', timestamp: '2026-11-22T10:00:00.000Z', car_id: 'B-1', slot: 'A-001', latitude: 52.5205, longitude: 13.405 }));
const headers = {
  'ce-specversion': '1.0', 'ce-id': 'partition:0/offset:1', 'ce-type': 'dev.knative.kafka.event',
  'ce-source': '/apis/v1/namespaces/floe/kafkasources/parking-entry#parking-entry', 'content-type': 'application/json',
  'content-length': String(body.length),
};

async function rate(url: string, ms = 5000): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let done = 0;
  let failed = 0;
  const deadline = performance.now() + ms;
  const worker = () => new Promise<void>((resolve) => {
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
  await Promise.all(Array.from({ length: 64 }, worker));
  agent.destroy();
  if (failed) throw new Error(`${failed} requests failed against ${url}`);
  return done / ((performance.now() - started) / 1000);
}

/** Start-up of a host in a fresh Node process, median of 5. */
async function startup(script: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script.replace('PORT', String(port))], { stdio: 'ignore' });
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health/readiness`)).ok) break;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    times.push(performance.now() - started);
    child.kill('SIGKILL');
  }
  return times.sort((a, b) => a - b)[2];
}

// bare node:http + CloudEvent parsing (no host at all)
const bare = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    fromHttp(req.headers, Buffer.concat(chunks));
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
const bareRate = await rate(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/`);
bare.close();

const ours = await startHost({ fn: { name: 'bench', handle: async () => undefined }, logger: silent, port: 0, host: '127.0.0.1' });
const oursRate = await rate(`${ours.url}/`);
await ours.close();

const faasPort = await freePort();
const faas = await faasRuntime.start(async () => undefined, { port: faasPort, logLevel: 'silent' } as never);
const faasRate = await rate(`http://127.0.0.1:${faasPort}/`);
faas.close();

const root = process.cwd();
const oursStart = await startup(`import { startHost } from '${root}/shared/runtime/host.ts'; import { createLogger } from '${root}/shared/runtime/log.ts'; await startHost({ fn: { name: 'b', handle: async () => undefined }, logger: createLogger({ level: 'silent', format: 'json' }), port: PORT, host: '127.0.0.1' });`);
const faasStart = await startup(`import faas from 'faas-js-runtime'; await faas.start(async () => undefined, { port: PORT, logLevel: 'silent' });`);

console.log('\nEmpty CloudEvents handler, 64 keep-alive requests in flight, 5 s each, one process\n');
console.log('| server | requests/s | start-up (tsx, median of 5) |');
console.log('|---|---|---|');
console.log(`| bare node:http + CloudEvent parsing | ${Math.round(bareRate).toLocaleString('en-US')} | – |`);
console.log(`| floe host (health, metrics, logs, limits) | ${Math.round(oursRate).toLocaleString('en-US')} | ${oursStart.toFixed(0)} ms |`);
console.log(`| faas-js-runtime 3.0.2 (fastify 4 + cloudevents 8) | ${Math.round(faasRate).toLocaleString('en-US')} | ${faasStart.toFixed(0)} ms |`);
console.log(`\nfloe host / faas-js-runtime = ${(oursRate / faasRate).toFixed(2)}×; floe host / bare = ${(oursRate / bareRate).toFixed(2)}`);
