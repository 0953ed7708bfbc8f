/**
 * What survives a restart: records, committed offsets and group membership after a clean stop (in-process), and
 * every acknowledged (acks=-1) record and committed offset after kill -9 of a broker running as `floe kafka`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { waitFor } from '../helpers/wait-for.ts';
import { Partitioners, startTestBroker, type TestBroker } from './helpers/broker.ts';
import { tempDir } from '../helpers/tmp.ts';

const FLOE = fileURLToPath(new URL('../../cli/floe.js', import.meta.url));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('restart on the same data directory', () => {
  it('keeps records, committed offsets and the group (members, generation, assignments)', async () => {
    let t: TestBroker = await startTestBroker();
    cleanups.push(() => t.cleanup());
    await t.broker.createTopic('kept', 3);
    const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: 'kept',
      acks: -1,
      messages: Array.from({ length: 30 }, (_, i) => ({
        key: `k${i}`,
        value: `v${i}`,
        headers: { 'content-type': 'text/plain' },
      })),
    });
    await producer.disconnect();

    // Its own client without retries, so that it gives up quickly once the broker is gone.
    const memberClient = new kafkajs.Kafka({
      brokers: [t.broker.brokers],
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 0 },
    });
    const consumer = memberClient.consumer({
      groupId: 'kept-group',
      maxWaitTimeInMs: 200,
      sessionTimeout: 30_000,
      retry: { retries: 0, restartOnFailure: async () => false },
    });
    let consumed = 0;
    await consumer.connect();
    await consumer.subscribe({ topic: 'kept', fromBeginning: true });
    await consumer.run({ autoCommitThreshold: 1, eachMessage: async () => void consumed++ });
    await waitFor(() => consumed === 30, 'the group to consume everything');
    const admin = t.kafka.admin();
    await admin.connect();
    await waitFor(
      async () =>
        (await admin.fetchOffsets({ groupId: 'kept-group', topics: ['kept'] }))[0].partitions.reduce(
          (n, p) => n + Number(p.offset),
          0,
        ) === 30,
      'commits',
    );
    const before = (await admin.describeGroups(['kept-group'])).groups[0];
    const ends = await admin.fetchTopicOffsets('kept');
    await admin.disconnect();

    // The broker goes away under a live group member and comes back elsewhere, where that member cannot rejoin
    // before we look: what the group looks like now is what was on disk.
    t = await t.restart();
    const admin2 = t.kafka.admin();
    await admin2.connect();
    expect(await admin2.fetchTopicOffsets('kept')).toEqual(ends);
    const committed = await admin2.fetchOffsets({ groupId: 'kept-group', topics: ['kept'] });
    expect(committed[0].partitions.map((p) => [p.partition, p.offset]).sort()).toEqual(
      ends.map((p) => [p.partition, p.high]).sort(),
    );
    const after = (await admin2.describeGroups(['kept-group'])).groups[0];
    expect(after).toMatchObject({ state: 'Stable', protocol: before.protocol });
    expect(after.members.map((m) => [m.memberId, m.memberAssignment.toString('hex')])).toEqual(
      before.members.map((m) => [m.memberId, m.memberAssignment.toString('hex')]),
    );
    await admin2.disconnect();
    await consumer.disconnect().catch(() => {});

    const reader = t.kafka.consumer({ groupId: 'fresh-reader', maxWaitTimeInMs: 200 });
    const values: string[] = [];
    await reader.connect();
    await reader.subscribe({ topic: 'kept', fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => void values.push(`${message.value}|${message.headers?.['content-type']}`),
    });
    await waitFor(() => values.length === 30, 'every record after the restart');
    await reader.disconnect();
    expect(values.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}|text/plain`).sort());
  });
});

/** `floe kafka` as a child process; resolves with its address once it prints where it listens. */
async function startChildBroker(dataDir: string): Promise<{ child: ChildProcess; brokers: string }> {
  const child = spawn(process.execPath, [FLOE, 'kafka', '--port', '0', '--data', dataDir, '--partitions', '2'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FLOE_LOG_LEVEL: 'warn' },
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`floe kafka exited early with ${code}`))),
  );
  const listening = new Promise<string>((resolve) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /listening on (\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
  });
  const brokers = await Promise.race([listening, exited]);
  exited.catch(() => {});
  return { child, brokers };
}

function killed(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

describe('kill -9', () => {
  it('loses no acknowledged record and no committed offset', async () => {
    const { dir, cleanup } = await tempDir('floe-kafka-kill');
    cleanups.push(cleanup);
    let { child, brokers } = await startChildBroker(dir);
    cleanups.push(() => killed(child, 'SIGKILL'));
    const client = (b: string) =>
      new kafkajs.Kafka({
        brokers: [b],
        logLevel: kafkajs.logLevel.NOTHING,
        retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 200 },
      });

    const admin = client(brokers).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'durable', numPartitions: 2 }] });
    await admin.setOffsets({
      groupId: 'durable-group',
      topic: 'durable',
      partitions: [
        { partition: 0, offset: '7' },
        { partition: 1, offset: '11' },
      ],
    });
    await admin.disconnect();

    const producer = client(brokers).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const acked: string[] = [];
    // Keep producing; SIGKILL lands in the middle of the stream.
    const stream = (async () => {
      for (let b = 0; b < 1000; b++) {
        const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `b${b}-r${i}` }));
        try {
          await producer.send({ topic: 'durable', acks: -1, messages });
        } catch {
          return;
        }
        acked.push(...messages.map((m) => m.value));
      }
    })();
    await waitFor(() => acked.length >= 2000, 'acknowledged records');
    await killed(child, 'SIGKILL');
    await stream;
    await producer.disconnect().catch(() => {});

    ({ child, brokers } = await startChildBroker(dir));
    const kafka = client(brokers);
    const admin2 = kafka.admin();
    await admin2.connect();
    const committed = await admin2.fetchOffsets({ groupId: 'durable-group', topics: ['durable'] });
    expect(committed[0].partitions.map((p) => [p.partition, p.offset]).sort()).toEqual([
      [0, '7'],
      [1, '11'],
    ]);
    const ends = await admin2.fetchTopicOffsets('durable');
    await admin2.disconnect();
    const total = ends.reduce((n, p) => n + Number(p.high), 0);
    expect(total).toBeGreaterThanOrEqual(acked.length);

    const consumer = kafka.consumer({ groupId: 'after-kill', maxWaitTimeInMs: 200 });
    const seen = new Map<number, string[]>();
    await consumer.connect();
    await consumer.subscribe({ topic: 'durable', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) =>
        void seen.set(partition, [...(seen.get(partition) ?? []), `${message.offset}:${message.value}`]),
    });
    await waitFor(() => [...seen.values()].reduce((n, v) => n + v.length, 0) >= total, 'reading the whole log back');
    await consumer.disconnect();
    const values = new Set([...seen.values()].flat().map((v) => v.split(':')[1]));
    expect(acked.filter((v) => !values.has(v))).toEqual([]);
    // Offsets are dense: nothing half-written in between.
    for (const list of seen.values()) expect(list.map((v) => Number(v.split(':')[0]))).toEqual(list.map((_, i) => i));
    await killed(child, 'SIGTERM');
    expect(child.exitCode).toBe(0);
  });
});
