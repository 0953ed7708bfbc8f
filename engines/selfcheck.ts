/**
 * `npm run engines -- check`: exercises the running engines the way floe uses them, each check independent, and
 * prints one line per check and a closing count.
 * - S3: a conditional create (`If-None-Match: *`) succeeds once and answers 412 the second time; `If-Match` with a
 *   stale ETag answers 412; the object reads back.
 * - Kafka: kafkajs creates a topic, produces, and a consumer group reads the records back.
 * - Nessie: REST v2 config answers with the default branch; the Iceberg REST config answers for the warehouse.
 */
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import kafkajs from 'kafkajs';
import { BUCKET } from './engine.ts';
import type { EnginesState } from './index.ts';
import { s3Client } from './s3.ts';

type Check = { name: string; run: () => Promise<string> };

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

function s3Checks(endpoint: string): Check[] {
  const key = `engines-check/${randomBytes(6).toString('hex')}`;
  return [
    {
      name: 's3: If-None-Match: * creates once, then 412',
      async run() {
        const client = s3Client(endpoint);
        try {
          const first = await client.send(
            new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'first', IfNoneMatch: '*' }),
          );
          let second: number | undefined;
          try {
            await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'second', IfNoneMatch: '*' }));
          } catch (err) {
            second = statusOf(err);
          }
          if (second !== 412)
            throw new Error(`second conditional create answered ${second ?? '200 (overwrote)'}, not 412`);
          const read = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
          const body = await read.Body!.transformToString();
          if (body !== 'first') throw new Error(`object reads back ${JSON.stringify(body)}, not "first"`);
          return `first ETag ${first.ETag}, second 412, content kept`;
        } finally {
          client.destroy();
        }
      },
    },
    {
      name: 's3: If-Match with a stale ETag answers 412',
      async run() {
        const client = s3Client(endpoint);
        try {
          const k = `${key}-match`;
          const v1 = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: 'v1' }));
          await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: 'v2', IfMatch: v1.ETag }));
          let stale: number | undefined;
          try {
            await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: 'v3', IfMatch: v1.ETag }));
          } catch (err) {
            stale = statusOf(err);
          }
          if (stale !== 412) throw new Error(`PUT with stale If-Match answered ${stale ?? '200 (overwrote)'}, not 412`);
          return 'matching ETag accepted, stale ETag 412';
        } finally {
          client.destroy();
        }
      },
    },
  ];
}

function kafkaChecks(brokers: string): Check[] {
  return [
    {
      name: 'kafka: create topic, produce, consume (kafkajs)',
      async run() {
        const kafka = new kafkajs.Kafka({
          clientId: 'floe-engines-check',
          brokers: [brokers],
          logLevel: kafkajs.logLevel.NOTHING,
        });
        const topic = `engines-check-${randomBytes(4).toString('hex')}`;
        const admin = kafka.admin();
        const producer = kafka.producer({ idempotent: true });
        const consumer = kafka.consumer({ groupId: `${topic}-group` });
        try {
          await admin.connect();
          const created = await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
          if (!created) throw new Error(`topic ${topic} was not created`);
          await producer.connect();
          const values = ['a', 'b', 'c', 'd'];
          await producer.send({ topic, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
          const seen: string[] = [];
          await consumer.connect();
          await consumer.subscribe({ topics: [topic], fromBeginning: true });
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`consumed ${seen.length} of ${values.length} records within 30s`)),
              30_000,
            );
            consumer
              .run({
                eachMessage: async ({ message }) => {
                  seen.push(message.value!.toString());
                  if (seen.length === values.length) {
                    clearTimeout(timer);
                    resolve();
                  }
                },
              })
              .catch(reject);
          });
          if ([...seen].sort().join() !== values.join())
            throw new Error(`consumed ${seen.join()} instead of ${values.join()}`);
          const offsets = await admin.fetchTopicOffsets(topic);
          await admin.deleteTopics({ topics: [topic] });
          return `topic ${topic}: ${values.length} records produced and consumed; high watermarks ${offsets.map((o) => o.high).join('/')}`;
        } finally {
          await consumer.disconnect().catch(() => undefined);
          await producer.disconnect().catch(() => undefined);
          await admin.disconnect().catch(() => undefined);
        }
      },
    },
  ];
}

function nessieChecks(apiUri: string, icebergUri: string | undefined): Check[] {
  return [
    {
      name: 'nessie: GET /api/v2/config',
      async run() {
        const response = await fetch(`${apiUri}/v2/config`);
        const text = await response.text();
        if (response.status !== 200) throw new Error(`answered ${response.status}: ${text.slice(0, 300)}`);
        const config = JSON.parse(text) as {
          defaultBranch?: string;
          maxSupportedApiVersion?: number;
          actualApiVersion?: number;
        };
        return `default branch ${config.defaultBranch}, API v${config.actualApiVersion ?? config.maxSupportedApiVersion}`;
      },
    },
    ...(icebergUri
      ? [
          {
            name: 'nessie: Iceberg REST GET /iceberg/v1/config',
            async run() {
              const response = await fetch(`${icebergUri}/v1/config?warehouse=warehouse`);
              const text = await response.text();
              if (response.status !== 200) throw new Error(`answered ${response.status}: ${text.slice(0, 300)}`);
              return text.length > 200 ? `${text.slice(0, 200)}…` : text;
            },
          },
        ]
      : []),
  ];
}

/** Runs the checks for the engines in `state`; true when all pass. */
export async function selfcheck(state: EnginesState, print: (line: string) => void): Promise<boolean> {
  const env = state.env;
  const checks: Check[] = [
    ...(env.S3_ENDPOINT ? s3Checks(env.S3_ENDPOINT) : []),
    ...(env.KAFKA_BROKERS ? kafkaChecks(env.KAFKA_BROKERS) : []),
    ...(env.NESSIE_URI ? nessieChecks(env.NESSIE_URI, env.NESSIE_ICEBERG_URI) : []),
  ];
  let passed = 0;
  let failed = 0;
  for (const check of checks) {
    const started = Date.now();
    try {
      const detail = await check.run();
      passed++;
      print(`ok    ${check.name} (${Date.now() - started} ms): ${detail}`);
    } catch (err) {
      failed++;
      print(`FAIL  ${check.name} (${Date.now() - started} ms): ${(err as Error).message}`);
    }
  }
  print(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0;
}
