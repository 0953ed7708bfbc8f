/**
 * The S3 server: moto (`moto[server]` from PyPI) in its own virtualenv in the cache. It keeps objects in memory and
 * honours conditional writes (`If-None-Match: *` on PUT answers 412 when the key exists), which floe's commit path
 * relies on. The bucket is created at start.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { cached, fetchLog } from './cache.ts';
import {
  ACCESS_KEY_ID,
  BUCKET,
  REGION,
  SECRET_ACCESS_KEY,
  untilReady,
  WAREHOUSE,
  type RunningEngine,
  type StartContext,
} from './engine.ts';
import { freePort, HOST } from './ports.ts';
import { run, spawnDetached, stopGroup, type Progress } from './proc.ts';

export const MOTO_VERSION = '5.2.5';

export async function fetchMoto(
  version: string,
  options: { env?: NodeJS.ProcessEnv; progress: Progress; quietWhenCached?: boolean },
): Promise<string> {
  const python = options.env?.FLOE_PYTHON || 'python3';
  return cached(
    'moto',
    version,
    async (dir) => {
      const log = fetchLog('moto', version, options.env);
      const venv = path.join(dir, 'venv');
      options.progress(`moto ${version}: creating a virtualenv with ${python}`);
      await run(python, ['-m', 'venv', venv], { log });
      options.progress(`moto ${version}: pip install moto[server]==${version}`);
      await run(
        path.join(venv, 'bin', 'pip'),
        ['install', '--disable-pip-version-check', '--no-input', `moto[server]==${version}`],
        {
          log,
          progress: options.progress,
          label: `moto ${version}: pip`,
          counting: /^\s*(Downloading|Using cached) /,
        },
      );
    },
    options,
  );
}

export function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  });
}

export async function startS3(ctx: StartContext, version = MOTO_VERSION): Promise<RunningEngine> {
  const dir = await fetchMoto(version, { env: ctx.env, progress: ctx.progress, quietWhenCached: true });
  const port = await freePort();
  const log = path.join(ctx.home, 'logs', 's3.log');
  mkdirSync(path.dirname(log), { recursive: true });
  const endpoint = `http://${HOST}:${port}`;
  ctx.progress(`moto ${version}: starting on ${endpoint}`);
  // `python -m` rather than the `moto_server` script: the venv was built under a temporary name and renamed, and
  // scripts keep the old interpreter path in their shebang while `bin/python` finds its venv from where it is.
  const spawned = spawnDetached(
    path.join(dir, 'venv', 'bin', 'python'),
    ['-m', 'moto.server', '-H', HOST, '-p', String(port)],
    {
      cwd: ctx.home,
      env: { ...ctx.env, PYTHONUNBUFFERED: '1' },
      log,
    },
  );
  const engine: RunningEngine = {
    name: 's3',
    version: `moto ${version}`,
    pid: spawned.pid,
    ports: { http: port },
    log,
    env: {
      FLOE_WAREHOUSE: WAREHOUSE,
      S3_ENDPOINT: endpoint,
      S3_REGION: REGION,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
      AWS_REGION: REGION,
    },
    async stop() {
      await stopGroup(spawned.pid);
    },
  };
  return untilReady(
    ctx,
    engine,
    spawned,
    () => answers(endpoint),
    async () => {
      const client = s3Client(endpoint);
      try {
        await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      } finally {
        client.destroy();
      }
    },
  );
}

async function answers(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.status < 500;
}
