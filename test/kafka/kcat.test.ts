/**
 * kcat (librdkafka 2.x) against the embedded broker: metadata, producing with every compression and idempotence,
 * consuming, consumer groups, and interop with kafkajs in both directions. Needs kcat, which .ci/run installs with
 * apt: without it the suite skips, saying so, and fails in CI.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeIfAvailable } from '../helpers/requires.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { CompressionTypes, Partitioners, startTestBroker, type TestBroker } from './helpers/broker.ts';

const run = promisify(execFile);
const haveKcat = spawnSync('kcat', ['-V']).status === 0;

let t: TestBroker;

async function kcat(args: string[], input?: string): Promise<string> {
  const child = run('kcat', ['-b', t.broker.brokers, ...args], { timeout: 20_000 });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  return (await child).stdout;
}

describeIfAvailable(haveKcat ? undefined : 'kcat is not installed (apt-get install kcat)')('kcat (librdkafka)', () => {
  beforeAll(async () => {
    t = await startTestBroker();
    await t.broker.createTopic('kcat', 3);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('lists metadata', async () => {
    const out = await kcat(['-L']);
    expect(out).toContain(`broker 1 at ${t.broker.brokers}`);
    expect(out).toMatch(/topic "kcat" with 3 partitions/);
  });

  it('produces with every compression (idempotent) and consumes it back with keys and headers', async () => {
    for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
      const lines = Array.from({ length: 20 }, (_, i) => `k${i}:${codec}-value-${i}`).join('\n');
      await kcat(
        ['-P', '-t', 'kcat', '-K:', '-z', codec, '-H', 'content-type=text/plain', '-X', 'enable.idempotence=true'],
        `${lines}\n`,
      );
    }
    const out = await kcat(['-C', '-t', 'kcat', '-e', '-q', '-f', '%p|%o|%k|%s|%h\\n']);
    const rows = out
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((r) => r[3])).size).toBe(100);
    for (const [, , key, value, headers] of rows) {
      expect(value.endsWith(`-value-${key.slice(1)}`)).toBe(true);
      expect(headers).toBe('content-type=text/plain');
    }
    // librdkafka's partitioner keeps a key on one partition.
    const partitionsByKey = new Map<string, Set<string>>();
    for (const [p, , key] of rows) partitionsByKey.set(key, (partitionsByKey.get(key) ?? new Set()).add(p));
    expect([...partitionsByKey.values()].every((s) => s.size === 1)).toBe(true);
  });

  it('consumes as a group, commits, and resumes from the committed offsets', async () => {
    await kcat(['-P', '-t', 'kcat-group', '-K:', '-p', '0'], 'a:1\nb:2\nc:3\n');
    const first = await kcat([
      '-G',
      'kcat-group-1',
      '-q',
      '-e',
      '-f',
      '%s\\n',
      '-X',
      'auto.offset.reset=earliest',
      'kcat-group',
    ]);
    expect(first.trim().split('\n')).toEqual(['1', '2', '3']);
    await kcat(['-P', '-t', 'kcat-group', '-K:', '-p', '0'], 'd:4\n');
    const second = await kcat([
      '-G',
      'kcat-group-1',
      '-q',
      '-e',
      '-f',
      '%s\\n',
      '-X',
      'auto.offset.reset=earliest',
      'kcat-group',
    ]);
    expect(second.trim().split('\n')).toEqual(['4']);
    const admin = t.kafka.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: 'kcat-group-1', topics: ['kcat-group'] });
    expect(committed[0].partitions).toEqual([expect.objectContaining({ partition: 0, offset: '4' })]);
    await admin.disconnect();
  });

  it('reads what kafkajs produced with snappy, lz4 and zstd (our codecs) and kafkajs reads what kcat produced', async () => {
    const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (const compression of [CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD]) {
      await producer.send({
        topic: 'interop',
        compression,
        messages: Array.from({ length: 5 }, (_, i) => ({
          key: `c${compression}`,
          value: `kafkajs-${compression}-${i}-${'y'.repeat(500)}`,
          headers: { 'content-type': 'application/json' },
        })),
      });
    }
    await producer.disconnect();
    const out = await kcat(['-C', '-t', 'interop', '-e', '-q', '-f', '%k %s %h\\n']);
    const rows = out.trim().split('\n');
    expect(rows).toHaveLength(15);
    expect(rows.every((r) => /^c[234] kafkajs-[234]-\d-y{500} content-type=application\/json$/.test(r))).toBe(true);

    // The other way round: the 100 records kcat produced above, in all five compressions.
    const consumer = t.kafka.consumer({ groupId: 'kafkajs-reads-kcat', maxWaitTimeInMs: 200 });
    const values: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'kcat', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(String(message.value)) });
    await waitFor(() => values.length >= 100, 'kafkajs to read the kcat records');
    await consumer.disconnect();
    for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd'])
      expect(values.filter((v) => v.startsWith(`${codec}-value-`))).toHaveLength(20);
  });
});
