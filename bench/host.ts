/**
 * The function host (issue 4): floe's own host (`shared/runtime/function-host.ts`) against faas-js-runtime 3.0.2 (the Knative
 * Functions Node runtime; 4.x needs Node 22) and a bare node:http server, all serving an empty CloudEvents handler —
 * requests/s with 64 keep-alive requests in flight for 5 s each, in one run, plus each one's start-up time in a fresh
 * process (start → first 200 on its readiness endpoint).
 *
 *   npm run bench -- host
 */
import { spawn } from 'node:child_process';
import faasRuntime from 'faas-js-runtime';
import { startHost } from '../shared/runtime/function-host.ts';
import { freePort } from '../local/stack/processes.ts';
import { cloudEventRequestRate, silentLogger, startBareCloudEventServer } from './_measure.ts';
import { benchArgs } from './_args.ts';

benchArgs(
  `Usage: npm run bench -- host

floe's function host against faas-js-runtime and a bare node:http server, all serving an empty CloudEvents handler:
requests/s with 64 keep-alive requests in flight, and each one's start-up time.

Options:
  -h, --help  this text`,
  {},
);

/** Start-up of a host in a fresh Node process, median of 5. */
async function startup(script: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script.replace('PORT', String(port))],
      { stdio: 'ignore' },
    );
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

const bare = await startBareCloudEventServer();
const bareRate = await cloudEventRequestRate(bare.url, 5000);
bare.close();

const ours = await startHost({
  fn: { name: 'bench', handle: async () => undefined },
  logger: silentLogger,
  port: 0,
  host: '127.0.0.1',
});
const oursRate = await cloudEventRequestRate(`${ours.url}/`, 5000);
await ours.close();

const faasPort = await freePort();
const faas = await faasRuntime.start(async () => undefined, { port: faasPort, logLevel: 'silent' } as never);
const faasRate = await cloudEventRequestRate(`http://127.0.0.1:${faasPort}/`, 5000);
faas.close();

const root = process.cwd();
const oursStart = await startup(
  `import { startHost } from '${root}/shared/runtime/function-host.ts'; import { createLogger } from '${root}/shared/runtime/logger.ts'; await startHost({ fn: { name: 'b', handle: async () => undefined }, logger: createLogger({ level: 'silent', format: 'json' }), port: PORT, host: '127.0.0.1' });`,
);
const faasStart = await startup(
  `import faas from 'faas-js-runtime'; await faas.start(async () => undefined, { port: PORT, logLevel: 'silent' });`,
);

console.log('\nEmpty CloudEvents handler, 64 keep-alive requests in flight, 5 s each, one process\n');
console.log('| server | requests/s | start-up (tsx, median of 5) |');
console.log('|---|---|---|');
console.log(`| bare node:http + CloudEvent parsing | ${Math.round(bareRate).toLocaleString('en-US')} | – |`);
console.log(
  `| floe host (health, metrics, logs, limits) | ${Math.round(oursRate).toLocaleString('en-US')} | ${oursStart.toFixed(0)} ms |`,
);
console.log(
  `| faas-js-runtime 3.0.2 (fastify 4 + cloudevents 8) | ${Math.round(faasRate).toLocaleString('en-US')} | ${faasStart.toFixed(0)} ms |`,
);
console.log(
  `\nfloe host / faas-js-runtime = ${(oursRate / faasRate).toFixed(2)}×; floe host / bare = ${(oursRate / bareRate).toFixed(2)}`,
);
