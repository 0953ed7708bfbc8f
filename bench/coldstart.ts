/**
 * Image benchmark (issue 5): builds the per-function bundles (`npm run build`), reports their sizes, and measures the
 * cold start of each — process start to 200 on `/health/readiness` — as a container would run it (`node
 * dist/functions/<name>.mjs`), median of 5 starts.
 *
 *   npm run bench -- coldstart
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildFunctions } from '../functions/build.ts';
import { freePort } from '../local/stack/processes.ts';
import { benchArgs } from './_args.ts';

benchArgs(
  `Usage: npm run bench -- coldstart

Builds the per-function bundles (npm run build), reports their sizes and the cold start of each (process start
to 200 on /health/readiness, median of 5).

Options:
  -h, --help  this text`,
  {},
);

const STARTS = 5;

async function coldStart(bundle: string, env: NodeJS.ProcessEnv): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [bundle], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${bundle} exited with ${child.exitCode}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/health/readiness`);
        if (response.ok) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGKILL');
  }
}

const sizes = await buildFunctions();
const warehouse = await mkdtemp(path.join(tmpdir(), 'floe-bench-coldstart-'));
try {
  const env = {
    FLOE_WAREHOUSE: warehouse,
    NESSIE_URI: 'http://127.0.0.1:19120/api',
    FLOE_CONFIG: path.resolve('knative/config/pipeline.yaml'),
    FLOE_LOG_LEVEL: 'warn',
    FLOE_LOG_FORMAT: 'json',
  };
  console.log('\n| bundle | size | cold start (median of 5) | min | max |');
  console.log('|---|---|---|---|---|');
  for (const { name, bytes } of sizes) {
    const times: number[] = [];
    for (let i = 0; i < STARTS; i++) times.push(await coldStart(path.resolve('dist/functions', `${name}.mjs`), env));
    times.sort((a, b) => a - b);
    console.log(
      `| ${name} | ${(bytes / 1024).toFixed(0)} KiB | ${times[2].toFixed(0)} ms | ${times[0].toFixed(0)} ms | ${times[4].toFixed(0)} ms |`,
    );
  }
} finally {
  await rm(warehouse, { recursive: true, force: true });
}
