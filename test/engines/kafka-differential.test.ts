/**
 * Differential tests of the embedded Kafka broker (local/kafka) against Apache Kafka: each scenario sends the same
 * requests through kafkajs (and kcat, when installed) to both and compares what comes back, after normalising what
 * legitimately differs (cluster and member ids, hosts and ports, broker-assigned timestamps, throttle times). The real
 * broker is KAFKA_BROKERS, which the global setup of `npm run test:engines` starts. Differences that are deliberate are
 * listed in DIVERGENCES and asserted as such, so that a change on either side shows up.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeIfAvailable } from '../helpers/requires.ts';
import { waitFor } from '../helpers/wait-for.ts';
import {
  CompressionTypes,
  Kafka,
  logLevel,
  Partitioners,
  startTestBroker,
  type TestBroker,
} from '../kafka/helpers/broker.ts';
import { engineEnv } from './env.ts';

const run = promisify(execFile);
const haveKcat = spawnSync('kcat', ['-V']).status === 0;
const realBrokers = engineEnv().KAFKA_BROKERS;
const runId = randomUUID().slice(0, 8);

type Client = InstanceType<typeof Kafka>;
interface Target {
  name: 'embedded' | 'apache';
  brokers: string;
  kafka: Client;
}

/**
 * Where the stand-in deliberately answers differently, and why. Each entry is asserted in its scenario.
 */
const DIVERGENCES = {
  // The embedded broker does not serve DescribeConfigs (API key 32): floe never reads broker or topic configs, and
  // topics keep their configs as created. kafkajs reports the missing API.
  describeConfigs: {
    embedded: { name: 'KafkaJSServerDoesNotSupportApiKey' },
    apache: {
      'cleanup.policy': { value: 'delete', isDefault: true, readOnly: false },
      'retention.ms': { value: '3600000', isDefault: false, readOnly: false },
      'max.message.bytes': { value: '1048588', isDefault: true, readOnly: false },
    },
  },
};

let embedded: TestBroker;
let targets: Target[] = [];

const topicName = (name: string) => `diff-${name}-${runId}`;
const client = (brokers: string) =>
  new Kafka({
    clientId: 'floe-diff',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
  });

/** Runs `scenario` against both brokers, one after the other, and returns both results with the run id normalised. */
async function both<T>(scenario: (t: Target) => Promise<T>): Promise<{ embedded: T; apache: T }> {
  const results: Partial<Record<Target['name'], T>> = {};
  for (const target of targets) results[target.name] = normalise(await scenario(target));
  return results as { embedded: T; apache: T };
}

function normalise<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? null).replaceAll(runId, '<run>')) as T;
}

async function withAdmin<T>(t: Target, fn: (admin: ReturnType<Client['admin']>) => Promise<T>): Promise<T> {
  const admin = t.kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

async function errorOf(
  promise: Promise<unknown>,
): Promise<{ name: string; type?: string; errors?: string[] } | 'no error'> {
  try {
    await promise;
    return 'no error';
  } catch (err) {
    const e = err as Error & { type?: string; errors?: { type?: string }[]; originalError?: { type?: string } };
    return {
      name: e.name,
      type: e.type ?? e.originalError?.type,
      ...(e.errors ? { errors: e.errors.map((x) => x.type ?? '?') } : {}),
    };
  }
}

interface Seen {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** Consumes with a fresh group until `count` records arrived; `seek` is applied right after the consumer started. */
async function consume(
  t: Target,
  topic: string,
  count: number,
  options: { fromBeginning?: boolean; seek?: { partition: number; offset: string } } = {},
): Promise<Seen[]> {
  const consumer = t.kafka.consumer({ groupId: `diff-read-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const seen: Seen[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      },
    });
    if (options.seek) consumer.seek({ topic, ...options.seek });
    await waitFor(() => seen.length >= count, `${count} records from ${topic} on ${t.name}`, 30_000);
  } finally {
    await consumer.disconnect();
  }
  return seen.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
}

async function kcat(t: Target, args: string[], input?: string): Promise<string> {
  const child = run('kcat', ['-b', t.brokers, ...args], { timeout: 30_000 });
  if (input !== undefined) child.child.stdin!.end(input);
  return (await child).stdout;
}

describeIfAvailable(
  realBrokers
    ? undefined
    : 'KAFKA_BROKERS is not set: run under `npm run test:engines` (which starts Apache Kafka) or point it at a broker',
)('embedded Kafka broker vs Apache Kafka', () => {
  beforeAll(async () => {
    embedded = await startTestBroker({ defaultPartitions: 1 });
    targets = [
      { name: 'embedded', brokers: embedded.broker.brokers, kafka: embedded.kafka },
      { name: 'apache', brokers: realBrokers!, kafka: client(realBrokers!) },
    ];
  });
  afterAll(async () => {
    await embedded?.cleanup();
  });

  it('creates topics with partitions; a duplicate create and invalid partition counts are refused alike', async () => {
    const r = await both((t) =>
      withAdmin(t, async (admin) => {
        const topic = topicName('create');
        const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
        // kafkajs answers false for TOPIC_ALREADY_EXISTS; the raw error shows through validateOnly.
        const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
        const duplicate = await errorOf(
          admin.createTopics({ topics: [{ topic, numPartitions: 3 }], validateOnly: true }),
        );
        const zero = await errorOf(admin.createTopics({ topics: [{ topic: topicName('zero'), numPartitions: 0 }] }));
        const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
        const partitions = metadata.topics[0].partitions.map((p) => ({
          partition: p.partitionId,
          error: p.partitionErrorCode,
          replicas: p.replicas.length,
          isr: p.isr.length,
        }));
        const listed = (await admin.listTopics()).includes(topic);
        return { created, again, duplicate, zero, partitions, listed };
      }),
    );
    expect(r.embedded).toEqual(r.apache);
    expect(r.apache.created).toBe(true);
    expect(r.apache.partitions).toHaveLength(3);
  });

  it('produces with every compression (keys, headers) and reads back the same records at the same offsets', async () => {
    const codecs = [
      CompressionTypes.None,
      CompressionTypes.GZIP,
      CompressionTypes.Snappy,
      CompressionTypes.LZ4,
      CompressionTypes.ZSTD,
    ];
    const r = await both(async (t) => {
      const topic = topicName('codecs');
      await withAdmin(t, (admin) =>
        admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }),
      );
      const producer = t.kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      const acks = [];
      for (const compression of codecs) {
        const messages = Array.from({ length: 10 }, (_, i) => ({
          key: `k${i}`,
          value: `${compression}-v${i}`,
          headers: { codec: String(compression) },
        }));
        acks.push(
          ...(await producer.send({ topic, compression, acks: -1, messages })).map((a) => ({
            ...a,
            timestamp: undefined,
          })),
        );
      }
      await producer.disconnect();
      return { acks, records: await consume(t, topic, 50) };
    });
    expect(r.embedded).toEqual(r.apache);
    expect(r.apache.records).toHaveLength(50);
  });

  it('an idempotent producer gets contiguous offsets, and records arrive once', async () => {
    const r = await both(async (t) => {
      const topic = topicName('idempotent');
      await withAdmin(t, (admin) =>
        admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }),
      );
      const producer = t.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      const acks = [];
      for (let batch = 0; batch < 4; batch++) {
        const sent = await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: 5 }, (_, i) => ({ key: `key-${i}`, value: `b${batch}-${i}` })),
        });
        acks.push(...sent.map((a) => ({ partition: a.partition, errorCode: a.errorCode, baseOffset: a.baseOffset })));
      }
      await producer.disconnect();
      return {
        acks: acks.sort((a, b) => a.partition - b.partition || Number(a.baseOffset) - Number(b.baseOffset)),
        records: await consume(t, topic, 20),
      };
    });
    expect(r.embedded).toEqual(r.apache);
    expect(new Set(r.apache.records.map((x) => x.value)).size).toBe(20);
  });

  it('lists offsets (earliest, latest, by timestamp) and fetches from an offset and from out of range', async () => {
    const r = await both(async (t) => {
      const topic = topicName('offsets');
      await withAdmin(t, (admin) =>
        admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }),
      );
      const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 10 }, (_, i) => ({
          value: `m${i}`,
          timestamp: String(1_700_000_000_000 + i * 1000),
        })),
      });
      await producer.disconnect();
      const offsets = await withAdmin(t, async (admin) => ({
        latest: await admin.fetchTopicOffsets(topic),
        atStart: await admin.fetchTopicOffsetsByTimestamp(topic, 1_600_000_000_000),
        at3: await admin.fetchTopicOffsetsByTimestamp(topic, 1_700_000_003_000),
        between: await admin.fetchTopicOffsetsByTimestamp(topic, 1_700_000_003_500),
        afterAll: await admin.fetchTopicOffsetsByTimestamp(topic, 1_800_000_000_000),
      }));
      const fromFive = await consume(t, topic, 5, { fromBeginning: false, seek: { partition: 0, offset: '5' } });
      // Out of range: the consumer resets as auto.offset.reset (fromBeginning: earliest) says.
      const outOfRange = await consume(t, topic, 10, { fromBeginning: true, seek: { partition: 0, offset: '1000' } });
      return { offsets, fromFive: fromFive.map((x) => x.offset), outOfRange: outOfRange.map((x) => x.offset) };
    });
    expect(r.embedded).toEqual(r.apache);
    expect(r.apache.fromFive).toEqual(['5', '6', '7', '8', '9']);
  });

  it('a group of two members: rebalance covers every partition once, commits, and describes alike', async () => {
    const r = await both(async (t) => {
      const topic = topicName('group');
      const groupId = `diff-group-${runId}`;
      await withAdmin(t, (admin) =>
        admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true }),
      );
      const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      });
      const members = [0, 1].map(() =>
        t.kafka.consumer({ groupId, maxWaitTimeInMs: 100, heartbeatInterval: 500, sessionTimeout: 10_000 }),
      );
      const assignments = new Map<number, number[]>();
      const seen = new Set<string>();
      const start = async (i: number) => {
        const m = members[i];
        m.on(m.events.GROUP_JOIN, (e) =>
          assignments.set(i, ((e.payload.memberAssignment as Record<string, number[]>)[topic] ?? []).slice().sort()),
        );
        await m.connect();
        await m.subscribe({ topic, fromBeginning: true });
        await m.run({ eachMessage: async ({ partition, message }) => void seen.add(`${partition}:${message.offset}`) });
      };
      try {
        await start(0);
        await waitFor(() => seen.size === 40, `the first member to read all 40 on ${t.name}`, 30_000);
        const alone = assignments.get(0);
        await start(1);
        await waitFor(
          () => assignments.has(1) && (assignments.get(0)?.length ?? 0) + assignments.get(1)!.length === 4,
          `the rebalance on ${t.name}`,
          30_000,
        );
        await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: 8 }, (_, i) => ({ key: `k${i}`, value: `w${i}` })),
        });
        await waitFor(() => seen.size === 48, `48 records on ${t.name}`, 30_000);
        const [a, b] = [assignments.get(0)!, assignments.get(1)!];
        const described = await withAdmin(t, async (admin) => {
          const { groups } = await admin.describeGroups([groupId]);
          return groups.map((g) => ({
            state: g.state,
            protocol: g.protocol,
            protocolType: g.protocolType,
            members: g.members.length,
          }));
        });
        for (const m of members) await m.disconnect();
        const committed = await withAdmin(t, async (admin) => {
          const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
          const { groups } = await admin.describeGroups([groupId]);
          return {
            offsets: partitions
              .map((p) => ({ partition: p.partition, offset: p.offset }))
              .sort((x, y) => x.partition - y.partition),
            stateAfterLeave: groups[0].state,
          };
        });
        return { alone, covered: [...a, ...b].sort(), split: [a.length, b.length].sort(), described, committed };
      } finally {
        for (const m of members) await m.disconnect().catch(() => undefined);
        await producer.disconnect();
      }
    });
    expect(r.embedded).toEqual(r.apache);
    expect(r.apache.covered).toEqual([0, 1, 2, 3]);
  });

  it('admin: topic configs, delete topics, metadata of a missing topic', async () => {
    const r = await both((t) =>
      withAdmin(t, async (admin) => {
        const topic = topicName('admin');
        await admin.createTopics({
          topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
          waitForLeaders: true,
        });
        const describe = () =>
          admin.describeConfigs({
            includeSynonyms: false,
            resources: [
              {
                type: 2 /* TOPIC */,
                name: topic,
                configNames: ['cleanup.policy', 'retention.ms', 'max.message.bytes'],
              },
            ],
          });
        let configs: unknown;
        try {
          const { resources } = await describe();
          configs = Object.fromEntries(
            resources[0].configEntries.map((c) => [
              c.configName,
              { value: c.configValue, isDefault: c.isDefault, readOnly: c.readOnly },
            ]),
          );
        } catch {
          configs = await errorOf(describe());
        }
        await admin.deleteTopics({ topics: [topic] });
        await waitFor(async () => !(await admin.listTopics()).includes(topic), `${topic} deleted on ${t.name}`);
        const missing = await errorOf(admin.fetchTopicMetadata({ topics: [topicName('missing')] }));
        return { configs, missing };
      }),
    );
    expect(r.embedded.configs).toEqual(DIVERGENCES.describeConfigs.embedded);
    expect(r.apache.configs).toEqual(DIVERGENCES.describeConfigs.apache);
    expect({ ...r.embedded, configs: undefined }).toEqual({ ...r.apache, configs: undefined });
  });

  it('producing to a missing topic without auto-creation fails alike', async () => {
    const r = await both(async (t) => {
      const producer = t.kafka.producer({
        allowAutoTopicCreation: false,
        retry: { retries: 1, initialRetryTime: 50 },
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      try {
        return await errorOf(producer.send({ topic: topicName('nowhere'), messages: [{ value: 'x' }] }));
      } finally {
        await producer.disconnect();
      }
    });
    expect(r.embedded).toEqual(r.apache);
    expect(r.apache).not.toBe('no error');
  });

  describeIfAvailable(haveKcat ? undefined : 'kcat is not installed (apt-get install kcat)')('kcat', () => {
    it('produces (gzip, idempotent) and consumes the same lines from both', async () => {
      const r = await both(async (t) => {
        const topic = topicName('kcat');
        await withAdmin(t, (admin) =>
          admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }),
        );
        const lines = Array.from({ length: 20 }, (_, i) => `k${i}:value-${i}`).join('\n');
        await kcat(t, ['-P', '-t', topic, '-K:', '-z', 'gzip', '-X', 'enable.idempotence=true'], `${lines}\n`);
        const out = await kcat(t, ['-C', '-t', topic, '-e', '-q', '-f', '%p|%o|%k|%s\\n']);
        return out.trim().split('\n').sort();
      });
      expect(r.embedded).toEqual(r.apache);
      expect(r.apache).toHaveLength(20);
    });
  });
});
