/**
 * kafkajs against the embedded broker: produce → consume through a consumer group with keys, headers, every
 * compression, several partitions, all three acks settings and the idempotent producer; admin calls; offsets by
 * timestamp.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.ts';
import { CompressionTypes, Partitioners, startTestBroker, type TestBroker } from './helpers/broker.ts';

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker({ defaultPartitions: 2 });
});

afterAll(async () => {
  await t?.cleanup();
});

interface Seen {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

async function consumeAll(groupId: string, topic: string, count: number): Promise<Seen[]> {
  const consumer = t.kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  const seen: Seen[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
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
  await waitFor(() => seen.length >= count, `${count} records on ${topic}`);
  await consumer.disconnect();
  return seen;
}

describe('kafkajs producer → consumer group', () => {
  it('round-trips keys, headers and values with every compression over several partitions (idempotent, acks=-1)', async () => {
    const topic = 'round-trip';
    const admin = t.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] });
    await admin.disconnect();
    const producer = t.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const sent: { key: string; value: string; compression: string; partition?: number }[] = [];
    const compressions = {
      none: CompressionTypes.None,
      gzip: CompressionTypes.GZIP,
      snappy: CompressionTypes.Snappy,
      lz4: CompressionTypes.LZ4,
      zstd: CompressionTypes.ZSTD,
    };
    for (const [name, compression] of Object.entries(compressions)) {
      const messages = Array.from({ length: 40 }, (_, i) => ({
        key: `key-${i % 10}`,
        value: `${name}-${i}-${'x'.repeat(i * 7)}`,
        headers: { 'content-type': 'text/plain', codec: name },
      }));
      const results = await producer.send({ topic, compression, acks: -1, messages });
      expect(results.every((r) => r.errorCode === 0)).toBe(true);
      sent.push(...messages.map((m) => ({ key: m.key, value: m.value, compression: name })));
    }
    await producer.disconnect();

    const seen = await consumeAll('round-trip-group', topic, sent.length);
    expect(seen).toHaveLength(sent.length);
    expect(seen.map((s) => `${s.key}/${s.value}`).sort()).toEqual(sent.map((s) => `${s.key}/${s.value}`).sort());
    for (const s of seen) expect(s.headers).toEqual({ 'content-type': 'text/plain', codec: s.value!.split('-')[0] });
    // One key always lands in one partition, and every partition got some records.
    const partitionOfKey = new Map<string, number>();
    for (const s of seen) {
      expect(partitionOfKey.get(s.key!) ?? s.partition).toBe(s.partition);
      partitionOfKey.set(s.key!, s.partition);
    }
    expect(new Set(seen.map((s) => s.partition)).size).toBeGreaterThan(1);
    // Offsets per partition are 0..n-1, in order.
    for (let p = 0; p < 4; p++) {
      const offsets = seen.filter((s) => s.partition === p).map((s) => Number(s.offset));
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }
  });

  it('acks=1 and acks=0 produces arrive; auto-created topics get the default partition count', async () => {
    const topic = 'acks-auto-created';
    const producer = t.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    await producer.connect();
    await producer.send({ topic, acks: 1, messages: [{ key: 'a', value: 'one' }] });
    await producer.send({ topic, acks: 0, messages: [{ key: 'b', value: 'zero' }] });
    await producer.send({ topic, acks: 1, messages: [{ key: null, value: null }] });
    await producer.disconnect();
    const admin = t.kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0].partitions).toHaveLength(2);
    await waitFor(
      async () => (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0) === 3,
      'three records',
    );
    await admin.disconnect();
    const seen = await consumeAll('acks-group', topic, 3);
    expect(seen.map((s) => s.value).sort()).toEqual([null, 'one', 'zero'].sort());
  });

  it('commits offsets per group: a second run of the group resumes after what it committed', async () => {
    const topic = 'resume';
    const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({ key: String(i), value: `first-${i}` })),
    });
    expect((await consumeAll('resume-group', topic, 10)).length).toBe(10);
    await producer.send({
      topic,
      messages: Array.from({ length: 5 }, (_, i) => ({ key: String(i), value: `second-${i}` })),
    });
    await producer.disconnect();
    const second = await consumeAll('resume-group', topic, 5);
    expect(second.map((s) => s.value).sort()).toEqual(Array.from({ length: 5 }, (_, i) => `second-${i}`).sort());
    const admin = t.kafka.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: 'resume-group', topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    expect(committed[0].partitions.map((p) => [p.partition, p.offset]).sort()).toEqual(
      ends.map((p) => [p.partition, p.high]).sort(),
    );
    const groups = await admin.listGroups();
    expect(groups.groups.map((g) => g.groupId)).toContain('resume-group');
    const described = await admin.describeGroups(['resume-group']);
    expect(described.groups[0]).toMatchObject({ groupId: 'resume-group', state: 'Empty', protocolType: 'consumer' });
    await admin.disconnect();
  });

  it('admin: create, list, delete topics; offsets by timestamp; errors for bad requests', async () => {
    const admin = t.kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic: 'admin-a', numPartitions: 3 }] })).toBe(true);
    expect(await admin.createTopics({ topics: [{ topic: 'admin-a', numPartitions: 3 }] })).toBe(false);
    const refused = await admin
      .createTopics({ topics: [{ topic: 'admin-b', numPartitions: 1, replicationFactor: 3 }] })
      .catch((err: { errors?: { type: string }[] }) => err);
    expect((refused as { errors?: { type: string }[] }).errors?.map((e) => e.type)).toEqual([
      'INVALID_REPLICATION_FACTOR',
    ]);
    expect(await admin.listTopics()).toContain('admin-a');

    const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const base = Date.now() - 10_000;
    await producer.send({
      topic: 'admin-a',
      messages: Array.from({ length: 30 }, (_, i) => ({
        partition: 0,
        value: `v${i}`,
        timestamp: String(base + i * 100),
      })),
    });
    await producer.disconnect();
    const at = await admin.fetchTopicOffsetsByTimestamp('admin-a', base + 1050);
    expect(at.find((p) => p.partition === 0)?.offset).toBe('11');
    const early = await admin.fetchTopicOffsetsByTimestamp('admin-a', base - 1000);
    expect(early.find((p) => p.partition === 0)?.offset).toBe('0');
    const offsets = await admin.fetchTopicOffsets('admin-a');
    expect(offsets.find((p) => p.partition === 0)).toMatchObject({ low: '0', high: '30' });

    await admin.deleteTopics({ topics: ['admin-a'] });
    expect(await admin.listTopics()).not.toContain('admin-a');
    await admin.disconnect();
  });
});
