/**
 * `floe inspect` and `floe scan` on a table stored in S3 (a real S3 server, s3rver), through the S3 implementation:
 * the Spark fixture table is uploaded under another bucket and read with its recorded `s3a://` locations mapped there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { s3Store } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runFloe } from '../helpers/cli.ts';
import { ICEBERG_FIXTURES } from '../helpers/fixtures.ts';
import { startS3rver, type RunningS3 } from '../helpers/s3rver.ts';

let s3: RunningS3;
let env: Record<string, string>;

async function upload(
  dir: string,
  prefix: string,
  put: (key: string, body: Uint8Array) => Promise<void>,
): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await upload(full, `${prefix}${entry.name}/`, put);
    else await put(`${prefix}${entry.name}`, await readFile(full));
  }
}

beforeAll(async () => {
  s3 = await startS3rver(['lake']);
  const store = s3Store({
    bucket: 'lake',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  await upload(
    path.join(ICEBERG_FIXTURES, 'icebird/hyperparam-iceberg/spark/rename_column'),
    'tables/rename_column/',
    (key, body) => store.put(key, body),
  );
  env = {
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_REGION: 'us-east-1',
  };
});
afterAll(() => s3?.stop());

describe('floe on S3', () => {
  const metadata = 's3://lake/tables/rename_column/metadata/v3.metadata.json';
  const map = ['--map', 's3a://hyperparam-iceberg/spark/rename_column/=s3://lake/tables/rename_column/'];

  it('inspects and scans a table in S3', async () => {
    const inspect = await runFloe(['inspect', metadata, ...map, '--json'], { env });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(parseJson<{ files: unknown[] }>(inspect.stdout).files).toHaveLength(3);
    const scan = await runFloe(['scan', '--metadata', metadata, ...map, '--json', '--where', 'id >= 3'], { env });
    expect(scan.code, scan.stderr).toBe(0);
    expect(
      scan.stdout
        .trim()
        .split('\n')
        .map((l) => parseJson<{ name: string }>(l).name)
        .sort(),
    ).toEqual(['Cottontail', 'Thumper']);
  });

  it('names the object when it is missing', async () => {
    const missing = await runFloe(['inspect', 's3://lake/tables/none/v1.metadata.json'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('tables/none/v1.metadata.json');
  });
});
