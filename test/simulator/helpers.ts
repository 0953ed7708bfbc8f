/** Reads back what the simulator produced: every record of some topics, through a kafkajs consumer group. */
import type { Kafka } from 'kafkajs';
import { waitFor } from '../helpers/wait-for.ts';

export interface Consumed {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** Consumes `topics` from the beginning until `count` records arrived, then checks for a moment that no more come. */
export async function consumeAll(kafka: Kafka, topics: string[], count: number): Promise<Consumed[]> {
  const consumer = kafka.consumer({ groupId: `check-${topics.join('-')}`, maxWaitTimeInMs: 100 });
  const seen: Consumed[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        seen.push({
          topic,
          partition,
          offset: BigInt(message.offset),
          key: message.key?.toString('utf8') ?? null,
          value: message.value ?? Buffer.alloc(0),
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      },
    });
    await waitFor(() => seen.length >= count, `${count} records on ${topics.join(', ')}`);
    // The log end offsets say whether anything beyond `count` exists, without waiting on a timer.
    const admin = kafka.admin();
    await admin.connect();
    const ends = await Promise.all(
      topics.map(async (topic) =>
        (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, high: BigInt(p.high) })),
      ),
    );
    await admin.disconnect();
    for (const { topic, partition, high } of ends.flat()) {
      await waitFor(
        () => seen.filter((s) => s.topic === topic && s.partition === partition).length >= Number(high),
        `all of ${topic}/${partition}`,
      );
    }
  } finally {
    await consumer.disconnect();
  }
  return seen;
}
