/**
 * Embedded Kafka broker throughput with kafkajs on loopback: produce and consume MB/s and records/s with 1 KB
 * records, acks=-1 and acks=1 (and acks=-1 under fsync=always), plus the broker's peak RSS. The broker runs as
 * `floe kafka` in its own process, so its CPU and memory are its own.
 *
 *   npm run bench -- kafka                      (KAFKA_BENCH_RECORDS=200000 for a longer run)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { peakRssMb } from './_measure.ts';
import { benchArgs } from './_args.ts';

benchArgs(
  `Usage: npm run bench -- kafka

The embedded Kafka broker with kafkajs on loopback: produce and consume MB/s and records/s with 1 KB records,
acks=-1 and acks=1, and the broker's peak RSS. Environment: KAFKA_BENCH_RECORDS.

Options:
  -h, --help  this text`,
  {},
);

const RECORDS = Number(process.env.KAFKA_BENCH_RECORDS ?? 100_000);
const RECORD_BYTES = 1024;
const PER_SEND = 500;
const IN_FLIGHT = 4;
const PARTITIONS = 4;
const FLOE = fileURLToPath(new URL('../cli/floe.js', import.meta.url));

async function startBroker(dataDir: string, fsync: string): Promise<{ child: ChildProcess; brokers: string }> {
  const child = spawn(
    process.execPath,
    [FLOE, 'kafka', '--port', '0', '--data', dataDir, '--partitions', String(PARTITIONS), '--fsync', fsync],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FLOE_LOG_LEVEL: 'warn' },
    },
  );
  const brokers = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`floe kafka exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /listening on (\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
  });
  return { child, brokers };
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function produce(kafka: InstanceType<typeof kafkajs.Kafka>, topic: string, acks: number): Promise<number> {
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const value = Buffer.alloc(RECORD_BYTES - 16, 'x');
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < RECORDS) {
      const from = next;
      next += PER_SEND;
      const messages = Array.from({ length: Math.min(PER_SEND, RECORDS - from) }, (_, i) => ({
        key: `key-${(from + i) % 1000}`.padEnd(16),
        value,
      }));
      await producer.send({ topic, acks, messages });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return seconds;
}

async function consume(kafka: InstanceType<typeof kafkajs.Kafka>, topic: string): Promise<number> {
  const consumer = kafka.consumer({
    groupId: `bench-${topic}`,
    maxBytes: 16 * 1024 * 1024,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let count = 0;
  let started = 0;
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        started ||= performance.now();
        count += batch.messages.length;
        if (count >= RECORDS) resolve();
      },
    });
  });
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  return seconds;
}

const rows: string[] = [];
for (const { acks, fsync } of [
  { acks: -1, fsync: 'interval' },
  { acks: 1, fsync: 'interval' },
  { acks: -1, fsync: 'always' },
]) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-kafka-bench-'));
  const { child, brokers } = await startBroker(dataDir, fsync);
  try {
    const kafka = new kafkajs.Kafka({ clientId: 'bench', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
    const topic = `bench-acks${acks}`;
    const cpu0 = cpuSeconds(child.pid!);
    const produced = await produce(kafka, topic, acks);
    const cpu1 = cpuSeconds(child.pid!);
    const consumed = await consume(kafka, topic);
    const cpu2 = cpuSeconds(child.pid!);
    const busy = (cpu: number, seconds: number) => `${Math.round((100 * cpu) / seconds)}%`;
    const mb = (RECORDS * RECORD_BYTES) / 1e6;
    rows.push(
      `| ${acks} | ${fsync} | ${(mb / produced).toFixed(1)} | ${Math.round(RECORDS / produced).toLocaleString('en')} | ${(mb / consumed).toFixed(1)} | ${Math.round(RECORDS / consumed).toLocaleString('en')} | ${busy(cpu1 - cpu0, produced)} / ${busy(cpu2 - cpu1, consumed)} | ${peakRssMb(child.pid)?.toFixed(0) ?? '?'} |`,
    );
  } finally {
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(
  `\nEmbedded Kafka broker, kafkajs on loopback: ${RECORDS.toLocaleString('en')} records of ${RECORD_BYTES} B, ${PARTITIONS} partitions, ${IN_FLIGHT}×${PER_SEND}-record sends in flight\n`,
);
console.log(
  '| acks | fsync | produce MB/s | produce records/s | consume MB/s | consume records/s | broker CPU produce / consume | broker peak RSS MB |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
