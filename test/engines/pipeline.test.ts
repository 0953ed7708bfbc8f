/**
 * The README's accounting run against real services: `floe start` with KAFKA_BROKERS = Apache Kafka and
 * FLOE_WAREHOUSE = s3://… on the S3 server the global setup started (the catalog stays the embedded Nessie: a real
 * Nessie cannot be fetched here, see README "Running against real services"). Every record must land on main exactly
 * once, and the Parquet files must really be in the bucket.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runFloe } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { engineEnv } from './env.ts';

const tmp = await tempDir('floe-engines-pipeline');
afterAll(() => tmp.cleanup());

interface Account {
  topic: string;
  sent: number;
  sentBad: number;
  trusted: number;
  untrusted: number;
  duplicates: number;
  missing: number;
}

describe('floe start on Apache Kafka and an S3 server', () => {
  it('accounts for every record: 0 missing, 0 duplicates, bad records untrusted', async () => {
    const env = engineEnv();
    const prefix = `pipeline-${process.pid}-${Date.now()}/`;
    const bucket = env.S3_TEST_BUCKET ?? 'floe';
    const result = await runFloe(
      [
        'start',
        '--home',
        tmp.dir,
        '--duration',
        '30s',
        '--rate',
        '50',
        '--bad-fraction',
        '0.1',
        '--seed',
        '5',
        '--json',
        '--kafka-port',
        '0',
        '--nessie-port',
        '0',
        '--broker-port',
        '0',
        '--dashboard-port',
        '0',
      ],
      { timeoutMs: 300_000, env: { ...env, FLOE_WAREHOUSE: `s3://${bucket}/${prefix}`, FLOE_LOG_LEVEL: 'warn' } },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const summary = parseJson<{ ok: boolean; topics: Account[] }>(result.stdout);
    expect(summary.ok).toBe(true);
    expect(summary.topics.map((t) => t.topic).sort()).toEqual(['parking-entry', 'parking-exit', 'parking-sensors']);
    for (const topic of summary.topics) {
      expect(topic.sent).toBeGreaterThan(0);
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
      expect(topic.duplicates).toBe(0);
      expect(topic.missing).toBe(0);
      expect(topic.untrusted).toBeGreaterThan(0);
    }

    const s3 = new S3Client({
      endpoint: env.S3_ENDPOINT,
      region: env.S3_REGION ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}production/` }));
    expect((listed.Contents ?? []).some((o) => o.Key!.endsWith('.parquet'))).toBe(true);
    s3.destroy();
  }, 360_000);
});
