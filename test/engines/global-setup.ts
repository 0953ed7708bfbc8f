/**
 * globalSetup of `npm run test:engines`: starts real Apache Kafka and the S3 server (moto) with `startEngines` (fetched
 * into the engines cache on first use; a warm start takes seconds) and hands their environment to the test files with
 * `provide` (read back with `engineEnv()` from ./env.ts). An engine whose variables are already set is not started: with
 * `KAFKA_BROKERS` set the suites use that broker, with `S3_ENDPOINT` set (and `S3_TEST_BUCKET`) that server. Nessie is
 * never started here: its runner jar cannot be fetched everywhere (see nessie-client.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEngines, type EngineName } from '../../engines/index.ts';
import { BUCKET } from '../../engines/engine.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    engineEnv: Record<string, string>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wanted: EngineName[] = [];
  if (!process.env.KAFKA_BROKERS) wanted.push('kafka');
  if (!process.env.S3_ENDPOINT) wanted.push('s3');
  if (!wanted.length) {
    project.provide('engineEnv', {});
    return async () => {};
  }
  // A home of its own, so that engines started by hand (`npm run engines -- start`, in .floe/engines) are not in the way.
  const home = mkdtempSync(path.join(tmpdir(), 'floe-test-engines-'));
  const engines = await startEngines({
    engines: wanted,
    home,
    progress: (line) => process.stderr.write(`[engines] ${line}\n`),
  });
  const env: Record<string, string> = { ...engines.env };
  // moto starts with one bucket, which the S3 suites work in under fresh key prefixes.
  if (wanted.includes('s3')) env.S3_TEST_BUCKET = BUCKET;
  project.provide('engineEnv', env);
  return async () => {
    await engines.stop();
    rmSync(home, { recursive: true, force: true });
  };
}
